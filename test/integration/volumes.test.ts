// Volumes, binds and tmpfs in the real guest, driven through the real docker CLI, engine/cli and docker-py against
// the Node daemon: data written through one container is read back by another, a volume in use cannot be removed,
// `:ro` is enforced by the kernel, an empty volume is filled from the image, and a tree untarred into a volume
// checks out with `sha256sum -c`; a `--driver tmpfs` volume is a tmpfs in guest memory
// and a `--driver image` one serves an image's files read-only.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type CliIO, runCli } from "../../engine/cli/index.ts";
import { ContainerService, type Drydock, type TraceEvent } from "../../engine/index.ts";
import { unixConnector } from "../../engine/node/cli.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, dockerClientEnv, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let drydock: Drydock;
let daemon: Daemon;
let host: string;
const trace: TraceEvent[] = [];

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-volumes-"));
  const images = await openNodeImageService(join(dir, "root"));
  drydock = await bootDrydock();
  const containers = ContainerService.open(drydock, images);
  containers.trace((event) => trace.push(event));
  daemon = await startDaemon({ host: `unix://${join(dir, "docker.sock")}`, images, containers });
  host = `unix://${daemon.socketPath}`;
  expect((await docker(["pull", busybox.reference])).code).toBe(0);
});

afterAll(async () => {
  await daemon?.close();
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function docker(args: string[]): Promise<Outcome> {
  return runDocker({ host, home: dir }, args);
}

async function drydockCli(args: string[], stdin = ""): Promise<Outcome> {
  const parts = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  const sink = (into: Uint8Array[]) => new WritableStream<Uint8Array>({ write: (chunk) => void into.push(chunk) });
  const io: CliIO = {
    stdin: new ReadableStream({
      start: (controller) => {
        if (stdin) controller.enqueue(new TextEncoder().encode(stdin));
        controller.close();
      },
    }),
    stdout: sink(parts.stdout),
    stderr: sink(parts.stderr),
    isTTY: { stdin: false, stdout: false },
    env: { HOME: dir },
    cwd: dir,
    size: () => undefined,
    onResize: () => () => {},
    setRawMode: async () => {},
  };
  const code = await runCli(["-H", host, ...args], io, unixConnector("unix:///var/run/docker.sock"));
  const text = (chunks: Uint8Array[]) => Buffer.concat(chunks).toString("utf8");
  return { code, stdout: text(parts.stdout), stderr: text(parts.stderr) };
}

describe("docker volume and -v through the real docker CLI", () => {
  it("keeps a named volume's files from one container to the next, and lists and inspects it", async () => {
    expect(await docker(["volume", "create", "--label", "course=1", "notes"])).toMatchObject({
      code: 0,
      stdout: "notes\n",
    });
    const wrote = await docker([
      "run",
      "--rm",
      "-v",
      "notes:/notes",
      busybox.reference,
      "sh",
      "-c",
      "echo kept > /notes/a",
    ]);
    expect(wrote).toMatchObject({ code: 0 });
    const read = await docker(["run", "--rm", "-v", "notes:/data:ro", busybox.reference, "cat", "/data/a"]);
    expect(read).toMatchObject({ code: 0, stdout: "kept\n" });
    const ls = await docker(["volume", "ls"]);
    expect(ls.stdout).toMatch(/^DRIVER\s+VOLUME NAME\nlocal\s+notes\n/);
    expect((await drydockCli(["volume", "ls"])).stdout).toBe(ls.stdout);
    const inspect = JSON.parse((await docker(["volume", "inspect", "notes"])).stdout) as Record<string, unknown>[];
    expect(inspect[0]).toMatchObject({
      Name: "notes",
      Driver: "local",
      Labels: { course: "1" },
      Mountpoint: "/var/lib/drydock/volumes/notes/_data",
      Scope: "local",
    });
  });

  it("enforces :ro in the kernel and shows each mount in inspect and in the trace", async () => {
    const refused = await docker(["run", "--rm", "-v", "notes:/data:ro", busybox.reference, "touch", "/data/b"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Read-only file system/);
    trace.length = 0;
    const created = await docker([
      "create",
      "-v",
      "notes:/notes:ro",
      "--mount",
      "type=tmpfs,target=/scratch,tmpfs-size=1m",
      "--tmpfs",
      "/run:size=2m",
      "-v",
      "/cache",
      busybox.reference,
      "sh",
      "-c",
      "grep -E ' /(scratch|run|notes|cache) ' /proc/mounts",
    ]);
    const id = created.stdout.trim();
    const mounts = JSON.parse((await docker(["inspect", "--format", "{{json .Mounts}}", id])).stdout) as {
      Type: string;
      Name?: string;
      Destination: string;
      RW: boolean;
    }[];
    expect(mounts.map((m) => [m.Type, m.Destination, m.RW])).toEqual([
      ["volume", "/notes", false],
      ["tmpfs", "/scratch", true],
      ["tmpfs", "/run", true],
      ["volume", "/cache", true],
    ]);
    const anonymous = mounts.find((m) => m.Destination === "/cache")?.Name ?? "";
    expect(anonymous).toMatch(/^[0-9a-f]{64}$/);
    expect((await docker(["inspect", "--format", "{{json .HostConfig.Binds}}", id])).stdout.trim()).toBe(
      '["notes:/notes:ro"]',
    );
    expect((await docker(["start", "-a", id])).stdout).toMatch(
      /^\S+ \/notes \S+ ro,[^\n]*\ntmpfs \/scratch tmpfs rw,nosuid,nodev,noexec[^\n]*size=1024k[^\n]*\n/m,
    );
    const commands = trace.map((event) => event.command);
    expect(commands).toContain(
      `mount --bind -o ro /var/lib/drydock/volumes/notes/_data /run/drydock/containers/${id}/rootfs/notes`,
    );
    expect(commands).toContain(
      `mount -t tmpfs -o nosuid,nodev,noexec,size=1048576 tmpfs /run/drydock/containers/${id}/rootfs/scratch`,
    );
    // `ps --filter volume=` finds the containers holding a volume, by its name or by a mount's path inside them.
    for (const value of ["notes", "/scratch"]) {
      const held = await docker(["ps", "-a", "-q", "--no-trunc", "--filter", `volume=${value}`]);
      expect(held.stdout, value).toBe(`${id}\n`);
    }
    expect((await docker(["ps", "-a", "-q", "--filter", "volume=elsewhere"])).stdout).toBe("");
    // A volume in use cannot be removed, in dockerd's words; `rm -v` takes the anonymous volume along.
    const inUse = await docker(["volume", "rm", "notes"]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toBe(`Error response from daemon: remove notes: volume is in use - [${id}]\n`);
    expect((await docker(["rm", "-v", id])).code).toBe(0);
    expect((await docker(["volume", "ls", "-q"])).stdout).toBe("notes\n");
  });

  it("fills an empty volume from the image on first use, as Docker does", async () => {
    const run = await docker(["run", "--rm", "-v", "etcvol:/etc", busybox.reference, "true"]);
    expect(run.code).toBe(0);
    const listed = await docker(["run", "--rm", "-v", "etcvol:/v", busybox.reference, "ls", "/v"]);
    expect(listed.stdout).toMatch(/^passwd$/m);
    const nocopy = await docker([
      "run",
      "--rm",
      "--mount",
      "type=volume,src=empty1,dst=/etc,volume-nocopy",
      busybox.reference,
      "ls",
      "-A",
      "/etc",
    ]);
    // Only the files the runtime binds over /etc are made in it (as dockerd makes them), none of the image's.
    expect(nocopy).toMatchObject({ code: 0, stdout: "hostname\nhosts\nresolv.conf\n" });
  });

  it("binds a directory of the guest, read-only or not, and refuses a missing one with --mount", async () => {
    const wrote = await docker([
      "run",
      "--rm",
      "-v",
      "/tmp/drydock-bind:/out",
      busybox.reference,
      "sh",
      "-c",
      "echo hi > /out/f",
    ]);
    expect(wrote.code).toBe(0);
    const run = await drydock.agent.run(["/bin/busybox", "cat", "/tmp/drydock-bind/f"]);
    expect(run.stdout).toBe("hi\n");
    const missing = await docker(["run", "--rm", "--mount", "type=bind,src=/nope,dst=/x", busybox.reference, "true"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/bind source path does not exist: \/nope/);
    const ro = await docker([
      "run",
      "--rm",
      "--mount",
      "type=bind,src=/tmp/drydock-bind,dst=/in,readonly",
      busybox.reference,
      "rm",
      "/in/f",
    ]);
    expect(ro.stderr).toMatch(/Read-only file system/);
  });

  it("--volumes-from gives another container's volumes and binds at the same paths; :ro makes them read-only", async () => {
    const source = await docker([
      "create",
      "--name",
      "datastore",
      "-v",
      "shared:/shared",
      "-v",
      "/anon",
      "-v",
      "/tmp/drydock-from:/bound",
      busybox.reference,
      "true",
    ]);
    expect(source.code).toBe(0);
    const script =
      "echo one > /shared/a && echo two > /anon/b && echo three > /bound/c && cat /shared/a /anon/b /bound/c";
    const wrote = await docker(["run", "--rm", "--volumes-from", "datastore", busybox.reference, "sh", "-c", script]);
    expect(wrote).toMatchObject({ stderr: "", code: 0, stdout: "one\ntwo\nthree\n" });
    // The same volumes (datastore's anonymous one too, kept after the --rm container went) and the same directory.
    const reader = await docker([
      "run",
      "--name",
      "reader",
      "--volumes-from",
      "datastore:ro",
      busybox.reference,
      "sh",
      "-c",
      "cat /shared/a /anon/b /bound/c; touch /anon/x",
    ]);
    expect(reader.stdout).toBe("one\ntwo\nthree\n");
    expect(reader.stderr).toMatch(/Read-only file system/);
    expect(reader.code).not.toBe(0);
    expect((await docker(["inspect", "-f", "{{.HostConfig.VolumesFrom}}", "reader"])).stdout).toBe("[datastore:ro]\n");
    const names = (id: string) => docker(["inspect", "-f", "{{range .Mounts}}{{.Destination}}={{.RW}} {{end}}", id]);
    expect((await names("reader")).stdout.trim().split(" ").sort()).toEqual([
      "/anon=false",
      "/bound=false",
      "/shared=false",
    ]);
    const missing = await docker(["run", "--rm", "--volumes-from", "nobody", busybox.reference, "true"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nobody/);
    expect((await docker(["rm", "-v", "reader", "datastore"])).code).toBe(0);
    expect((await docker(["volume", "rm", "shared"])).code).toBe(0);
  });

  it("refuses a bad spec and a missing volume in dockerd's words", async () => {
    expect((await docker(["run", "--rm", "-v", "notes:rel", busybox.reference, "true"])).stderr).toMatch(
      /invalid volume specification: 'notes:rel'|invalid mount config for type "volume"/,
    );
    expect((await docker(["volume", "inspect", "nope"])).stderr).toMatch(/no such volume/i);
    expect((await drydockCli(["volume", "rm", "nope"])).stderr).toBe(
      "Error response from daemon: get nope: no such volume\n",
    );
  });

  it("places a mount behind the image's own symlinks inside the container, never outside it (runc's securejoin)", async () => {
    // An image whose links point out of its root: `escape` climbs above it, `data` is absolute. Docker follows them
    // inside the container's root; followed from the guest's root they would put the mount (and the directory made
    // for it) in the guest, and the container would not see its volume at all.
    const made = await docker([
      "run",
      "--name",
      "linker",
      busybox.reference,
      "sh",
      "-c",
      "ln -s ../../../../../../../../tmp/outside /escape && mkdir /real && ln -s /real /data",
    ]);
    expect(made.code).toBe(0);
    onTestFinished(async () => {
      await docker(["rm", "-f", "linker"]);
      await docker(["rmi", "links:1"]);
      await docker(["volume", "rm", "joined"]);
    });
    expect((await docker(["commit", "linker", "links:1"])).code).toBe(0);
    const run = await docker([
      "run",
      "--rm",
      "-v",
      "joined:/escape/pwned",
      "-v",
      "joined:/data/inner",
      "links:1",
      "sh",
      "-c",
      "echo kept > /escape/pwned/file && cat /data/inner/file && ls /tmp/outside/pwned/file /real/inner/file",
    ]);
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("kept\n/real/inner/file\n/tmp/outside/pwned/file\n");
    expect(run.code).toBe(0);
    // Nothing was made in the guest's own /tmp.
    expect((await drydock.agent.run(["sh", "-c", "ls -d /tmp/outside 2>&1; true"])).stdout).toMatch(/No such file/);
  });

  it("untars a tree into a volume and checks every file back with sha256sum -c", async () => {
    const script = [
      "set -e",
      "mkdir -p /src/a/b /src/c",
      "for i in 1 2 3 4 5 6 7 8; do dd if=/dev/urandom of=/src/a/f$i bs=1k count=$((i * 37)) 2>/dev/null; done",
      "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo small $i > /src/a/b/s$i; done",
      "dd if=/dev/urandom of=/src/c/big bs=1k count=2048 2>/dev/null",
      "ln -s ../a/f1 /src/c/link",
      "cd /src && find . -type f | sort | xargs sha256sum > /work/SUMS",
      "tar -cf /work/tree.tar -C /src .",
      "mkdir /work/out && tar -xf /work/tree.tar -C /work/out",
      "mv /work/out/a/f1 /work/out/a/f1.tmp && mv /work/out/a/f1.tmp /work/out/a/f1",
      "ln /work/out/a/f2 /work/hard && rm /work/hard",
      "chmod 600 /work/out/a/f3 && chown 1:1 /work/out/a/f3 && sync",
    ].join("\n");
    expect(await docker(["run", "--rm", "-v", "tree:/work", busybox.reference, "sh", "-c", script])).toMatchObject({
      code: 0,
    });
    const check = await docker([
      "run",
      "--rm",
      "-v",
      "tree:/work:ro",
      busybox.reference,
      "sh",
      "-c",
      "cd /work/out && sha256sum -c /work/SUMS && readlink c/link && stat -c '%a %u' a/f3",
    ]);
    expect(check.code).toBe(0);
    expect(check.stdout.match(/: OK$/gm)).toHaveLength(21);
    expect(check.stdout).toMatch(/\.\.\/a\/f1\n600 1\n$/);
  });

  it("prunes unused volumes (anonymous ones, or all with -a) through engine/cli and docker-py", async () => {
    const py = await promisify(execFile)(
      "python3",
      [
        "-c",
        [
          "import docker",
          `c = docker.DockerClient(base_url=${JSON.stringify(host)})`,
          "v = c.volumes.create(name='frompy', labels={'k': 'v'})",
          "print(v.attrs['Mountpoint'])",
          `print(c.containers.run(${JSON.stringify(busybox.reference)}, 'sh -c "echo py > /p/x; cat /p/x"', volumes={'frompy': {'bind': '/p', 'mode': 'rw'}}, remove=True).decode().strip())`,
          "print(sorted(x.name for x in c.volumes.list()))",
        ].join("\n"),
      ],
      { env: dockerClientEnv(dir) },
    );
    expect(py.stdout).toBe(
      "/var/lib/drydock/volumes/frompy/_data\npy\n['empty1', 'etcvol', 'frompy', 'notes', 'tree']\n",
    );
    const pruned = await drydockCli(["volume", "prune", "-a", "--filter", "label=k=v"], "y\n");
    expect(pruned.stdout).toMatch(/Deleted Volumes:\nfrompy\n\nTotal reclaimed space: \d/);
    // Debian's client (API 1.41) has no -a: the filter it sends is the same.
    const all = await docker(["volume", "prune", "-f", "--filter", "all=true"]);
    expect(all.stdout).toMatch(/Deleted Volumes:\n(\w+\n){4}\nTotal reclaimed space/);
    expect((await docker(["volume", "ls", "-q"])).stdout).toBe("");
  });
  it("makes a tmpfs volume in guest memory with --driver tmpfs, and lists the drivers in docker info", async () => {
    expect(await docker(["info", "--format", "{{.Plugins.Volume}}"])).toMatchObject({
      code: 0,
      stdout: "[local tmpfs image]\n",
    });
    const unknown = await docker(["volume", "create", "--driver", "nope", "lost"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/error looking up volume plugin nope: plugin "nope" not found/);
    const badOpt = await docker(["volume", "create", "--driver", "tmpfs", "--opt", "device=/dev/sda", "lost"]);
    expect(badOpt.code).not.toBe(0);
    expect(badOpt.stderr).toMatch(/the tmpfs volume driver does not take the option device \(it takes size, mode\)/);
    expect((await docker(["volume", "ls", "-q"])).stdout).toBe("");

    expect(await docker(["volume", "create", "--driver", "tmpfs", "--opt", "size=16m", "scratch"])).toMatchObject({
      code: 0,
      stdout: "scratch\n",
    });
    const wrote = await docker([
      "run",
      "--rm",
      "-v",
      "scratch:/s",
      busybox.reference,
      "sh",
      "-c",
      "echo in-memory > /s/note && grep ' /s ' /proc/mounts && df -k /s | tail -1",
    ]);
    expect(wrote.code).toBe(0);
    expect(wrote.stdout).toMatch(/^\S+ \/s tmpfs rw/);
    expect(wrote.stdout).toMatch(/\s16384\s/);
    const read = await docker(["run", "--rm", "-v", "scratch:/t:ro", busybox.reference, "cat", "/t/note"]);
    expect(read).toMatchObject({ code: 0, stdout: "in-memory\n" });
    expect((await docker(["volume", "ls"])).stdout).toMatch(/^DRIVER\s+VOLUME NAME\ntmpfs\s+scratch\n$/);
    const inspect = JSON.parse((await docker(["volume", "inspect", "scratch"])).stdout) as Record<string, unknown>[];
    expect(inspect[0]).toMatchObject({
      Name: "scratch",
      Driver: "tmpfs",
      Options: { size: "16m" },
      Status: { Backing: expect.stringMatching(/guest memory/) },
    });
    expect(await docker(["volume", "rm", "scratch"])).toMatchObject({ code: 0, stdout: "scratch\n" });
    expect((await docker(["volume", "ls", "-q"])).stdout).toBe("");
  });
  it("serves a pulled image's files read-only with --driver image", async () => {
    const noRef = await docker(["volume", "create", "--driver", "image", "bb"]);
    expect(noRef.code).not.toBe(0);
    expect(noRef.stderr).toMatch(/needs the image to serve: --opt ref=IMAGE/);
    const missing = await docker(["volume", "create", "--driver", "image", "--opt", "ref=nosuch:1", "bb"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/cannot serve nosuch:1: .*\(pull it first\)/);
    expect(
      await docker(["volume", "create", "--driver", "image", "--opt", `ref=${busybox.reference}`, "bb"]),
    ).toMatchObject({ code: 0, stdout: "bb\n" });
    const used = await docker([
      "run",
      "--rm",
      "-v",
      "bb:/img",
      busybox.reference,
      "sh",
      "-c",
      "/img/bin/busybox echo from-image; touch /img/x",
    ]);
    expect(used.stdout).toBe("from-image\n");
    expect(used.stderr).toMatch(/Read-only file system/);
    expect(used.code).toBe(1);
    const inspect = JSON.parse((await docker(["volume", "inspect", "bb"])).stdout) as Record<string, unknown>[];
    expect(inspect[0]).toMatchObject({
      Driver: "image",
      Options: { ref: busybox.reference },
      Status: { Image: busybox.reference, Access: "read-only" },
    });
    expect((await docker(["volume", "ls"])).stdout).toMatch(/^DRIVER\s+VOLUME NAME\nimage\s+bb\n$/);
    expect(await docker(["volume", "rm", "bb"])).toMatchObject({ code: 0, stdout: "bb\n" });
  });
});
