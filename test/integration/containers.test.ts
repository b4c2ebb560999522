// Containers in the real guest, from real images pulled from a real registry and served to the guest over 9P:
// isolation (pid, uts, net, mount namespaces), overlay copy-on-write, whiteouts, cgroup v2 limits, the lifecycle,
// cleanup after many runs, and each kind of bad input.
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContainerService,
  type Drydock,
  type ImageService,
  isEngineError,
  type TraceEvent,
} from "../../engine/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { containerDir, type RunOptions } from "../../engine/runtime/index.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let drydock: Drydock;
let images: ImageService;
let containers: ContainerService;
let registry: Registry;
let dir: string;
let busybox: string;
let layered: string;
const trace: TraceEvent[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  const seeded: Record<string, SeededImage> = await seedRegistry(registry, ["busybox", "layers"]);
  dir = await mkdtemp(join(tmpdir(), "drydock-containers-"));
  images = await openNodeImageService(dir);
  busybox = (await images.pull(seeded.busybox!.reference)).name;
  layered = (await images.pull(seeded.layers!.reference)).name;
  drydock = await bootDrydock();
  containers = ContainerService.open(drydock, images);
  containers.trace((event) => trace.push(event));
});

afterAll(async () => {
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function logsText(id: string): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for (const reader = containers.logs(id).getReader(); ; ) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += decoder.decode(value.data, { stream: true });
  }
}

/** `docker run` to completion: output (stdout and stderr, in order), exit, and the container removed. */
async function run(cmd: string[], options: RunOptions = {}, image = busybox) {
  const { id } = await containers.run(image, { cmd, ...options });
  const exit = await containers.wait(id);
  const output = await logsText(id);
  await containers.remove(id);
  return { output, ...exit };
}

async function host(script: string): Promise<string> {
  return (await drydock.agent.run(["sh", "-c", script])).stdout;
}

async function failure(promise: Promise<unknown> | (() => unknown)): Promise<{ kind: string; message: string }> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    if (isEngineError(error)) return { kind: error.kind, message: error.message };
    throw error;
  }
  throw new Error("expected a failure");
}

describe("run", () => {
  it("runs busybox echo hi", async () => {
    expect(await run(["echo", "hi"])).toMatchObject({ output: "hi\n", code: 0, oomKilled: false });
  });

  it("keeps the output of a service that keeps no records (the page's node2…): docker logs has it", async () => {
    // A second guest, its container service with records: false, as a node of the page has.
    const other = await bootDrydock();
    try {
      const unrecorded = ContainerService.open(other, images, { records: false });
      const { id } = await unrecorded.run(busybox, { cmd: ["echo", "kept without records"] });
      await unrecorded.wait(id);
      let text = "";
      for (const reader = unrecorded.logs(id).getReader(); ; ) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value.data);
      }
      expect(text).toBe("kept without records\n");
      await unrecorded.close();
    } finally {
      await other.dispose();
    }
  });

  it("isolates the process: pid 1, its hostname, only lo with --network none, only its own processes in /proc", async () => {
    const { output } = await run(
      ["sh", "-c", "echo pid=$$; hostname; ip -o link | cut -d: -f2; ls /proc | grep -c '^[0-9]'; cat /etc/hostname"],
      { hostname: "box1", networkMode: "none" },
    );
    const [pid, name, links, processes, etcHostname] = output
      .trim()
      .split("\n")
      .map((s) => s.trim());
    expect(pid).toBe("pid=1");
    expect(name).toBe("box1");
    expect(links).toBe("lo");
    // sh and the ls it forked (grep runs beside ls: 2 or 3)
    expect(Number(processes)).toBeLessThanOrEqual(3);
    expect(etcHostname).toBe("box1");
  });

  it("gives a minimal /dev, a read-only /sys and its own /proc", async () => {
    const { output, code } = await run([
      "sh",
      "-c",
      "ls /dev | tr '\\n' ' '; echo; echo x > /dev/null && head -c 4 /dev/zero | wc -c; touch /sys/x 2>&1 || echo sys-ro; grep -c . /etc/hosts",
    ]);
    expect(code).toBe(0);
    const [devices, zero, sys] = output.split("\n");
    expect(devices!.trim().split(" ").sort()).toEqual([
      "fd",
      "full",
      "null",
      "ptmx",
      "pts",
      "random",
      "shm",
      "stderr",
      "stdin",
      "stdout",
      "tty",
      "urandom",
      "zero",
    ]);
    expect(zero!.trim()).toBe("4");
    expect(sys).toMatch(/Read-only file system|sys-ro/);
  });

  it("traces each step as the command behind it", async () => {
    trace.length = 0;
    await run(["true"], { memory: "64m" });
    const commands = trace.map((event) => event.command);
    expect(commands).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^mkdir \/sys\/fs\/cgroup\/drydock\/[0-9a-f]{64}$/),
        expect.stringMatching(/^echo 67108864 > \/sys\/fs\/cgroup\/drydock\/[0-9a-f]{64}\/memory.max$/),
        expect.stringMatching(
          /^mount -t overlay -o lowerdir=\/run\/drydock\/snapshots\/\d+\/fs:\/run\/drydock\/layers\/[0-9a-f]{64},upperdir=/,
        ),
        // On the default bridge: a sandbox with eth0 on docker0, which the process joins instead of a new netns.
        expect.stringMatching(/^ip link add veth[0-9a-f]+ type veth peer name eth0 address 02:42:ac:11:/),
        expect.stringMatching(/^nsenter --net=\/run\/drydock\/netns\/[0-9a-f]{64}$/),
        "clone(CLONE_NEWPID|CLONE_NEWIPC|CLONE_NEWUTS|CLONE_NEWNS|CLONE_NEWCGROUP)",
        expect.stringMatching(/^pivot_root /),
        "exec true",
        expect.stringMatching(/^umount -l /),
      ]),
    );
  });
});

describe("the writable layer", () => {
  it("keeps a file written in one container out of the image and out of a second container", async () => {
    const first = await containers.run(busybox, { cmd: ["sh", "-c", "echo mine > /bin/written; cat /bin/written"] });
    await containers.wait(first.id);
    expect(await logsText(first.id)).toBe("mine\n");
    const upper = containers.inspect(first.id).snapshot.upperDir;
    expect(await host(`cat ${upper}/bin/written`)).toBe("mine\n");
    const second = await run(["sh", "-c", "cat /bin/written 2>&1; echo $?"]);
    expect(second.output).toMatch(/No such file[\s\S]*\n1\n$/);
    await containers.remove(first.id);
    expect(await host(`ls ${upper} 2>&1`)).toMatch(/No such file/);
  });

  it("shows the layers image as overlayfs stacks it: whiteout and opaque directory hide what is below", async () => {
    // The image has no shell, so its container's root is mounted from outside and read with the guest's own tools.
    const { id } = await containers.create(layered, { cmd: ["/data/run.sh"] });
    const [mount] = containers.snapshotter.mounts(id);
    const target = "/run/drydock/test-view";
    await drydock.agent.mkdir(target, { parents: true });
    await drydock.agent.mount(mount!.source, target, mount!.type, mount!.options.join(","));
    const listing = await host(`cd ${target} && cat etc/base.txt; ls etc data/dir | tr '\\n' ' '`);
    await drydock.agent.umount(target);
    await containers.remove(id);
    expect(listing).toContain("changed by the second layer");
    expect(listing).toContain("added.txt");
    expect(listing).not.toContain("gone.txt");
    expect(listing).toContain("new.txt");
    expect(listing).not.toMatch(/a\.txt|c\.txt|sub/);
  });
});

describe("sharing the image", () => {
  /** The overlay's lower dirs that are on the 9P layer share (not the container's own init layer). */
  const sharedLowers = (lowerdir: string) =>
    lowerdir.split(":").filter((path) => path.startsWith(`${containers.snapshotter.layersRoot}/`));

  /**
   * Every file under the image service's directory (the content store and its metadata): count and bytes. The
   * container records (containers.json, rewritten at every container event, through a temporary file) are not the
   * image's.
   */
  async function stored(): Promise<{ files: number; bytes: number }> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    let bytes = 0;
    const files = entries.filter((entry) => entry.isFile() && !entry.name.startsWith("containers.json"));
    for (const file of files) bytes += (await stat(join(file.parentPath, file.name))).size;
    return { files: files.length, bytes };
  }

  it("gives two containers of one image the same lower files on the one 9P share, stored once", async () => {
    const first = await containers.run(busybox, { cmd: ["sleep", "600"] });
    const storedBefore = await stored();
    const shareBefore = await host(`ls ${containers.snapshotter.layersRoot}`);
    const snapshotsBefore = new Set(containers.snapshotter.list().map((s) => s.name));
    const second = await containers.run(busybox, { cmd: ["sleep", "600"] });

    // The snapshotter stacks both on the same layer directories of the share…
    const lowerdirOf = (id: string) =>
      containers.snapshotter
        .mounts(id)[0]!
        .options.find((o) => o.startsWith("lowerdir="))!
        .slice(9);
    const lowers = sharedLowers(lowerdirOf(first.id));
    expect(lowers.length).toBeGreaterThan(0);
    expect(sharedLowers(lowerdirOf(second.id))).toEqual(lowers);
    // …and so does the guest's kernel: its mount table has both overlays over them, and one 9P share.
    const table = (await host("cat /proc/mounts")).split("\n").map((line) => line.split(" "));
    const overlayOf = (id: string) => table.find((fields) => fields[1] === `${containerDir(id)}/rootfs`);
    for (const id of [first.id, second.id]) {
      const lowerdir = /(?:^|,)lowerdir=([^,]+)/.exec(overlayOf(id)?.[3] ?? "")?.[1] ?? "";
      expect(sharedLowers(lowerdir)).toEqual(lowers);
    }
    expect(table.filter((fields) => fields[2] === "9p").map((fields) => fields[1])).toEqual([
      containers.snapshotter.layersRoot,
    ]);

    // A lower file seen from either container is the share's one file. Overlayfs reports the lower inode number (under
    // a device number of its own per mount), and the kernel maps the very file on the share, the same device and
    // inode, into both containers' `sleep` (busybox): one copy in the page cache.
    const [shareDevice, shareInode] = (await host(`stat -L -c '%d %i' ${lowers[0]}/bin/busybox`)).trim().split(" ");
    expect(Number(shareInode)).toBeGreaterThan(0);
    for (const id of [first.id, second.id]) {
      const proc = await containers.exec(id, ["stat", "-L", "-c", "%i", "/bin/busybox"]);
      const [inode, status] = await Promise.all([new Response(proc.stdout).text(), proc.exit]);
      expect(status.code).toBe(0);
      expect(inode.trim()).toBe(shareInode);
      // /proc/<pid>/maps: start-end perms offset major:minor inode path (device numbers in hex).
      const mapped = (await host(`cat /proc/${containers.inspect(id).pid}/maps`))
        .split("\n")
        .map((line) => line.trim().split(/\s+/))
        .find((fields) => fields[1]?.includes("x") && fields[5]?.endsWith("/bin/busybox"));
      const [major, minor] = (mapped?.[3] ?? "").split(":").map((hex) => Number.parseInt(hex, 16));
      expect([(major ?? 0) * 256 + (minor ?? 0), mapped?.[4]]).toEqual([Number(shareDevice), shareInode]);
    }

    // Stored once: the second container added no blob, no layer on the share; only its own writable layer.
    expect(await stored()).toEqual(storedBefore);
    expect(await host(`ls ${containers.snapshotter.layersRoot}`)).toBe(shareBefore);
    const added = containers.snapshotter.list().filter((s) => !snapshotsBefore.has(s.name));
    expect(added.map((s) => [s.name, s.kind])).toEqual([[second.id, "active"]]);
    expect(containers.snapshotter.upperDir(second.id).startsWith(`${containers.snapshotter.root}/`)).toBe(true);

    await Promise.all([first.id, second.id].map((id) => containers.remove(id, { force: true })));
  });
});

describe("cgroup limits", () => {
  it("OOM-kills a hog over a 32 MB memory limit: 137, OOMKilled", async () => {
    const result = await run(["sh", "-c", "x=a; while true; do x=$x$x; done"], { memory: "32m" });
    expect(result).toMatchObject({ code: 137, signal: 9, oomKilled: true });
  });

  it("makes fork fail at the pids limit", async () => {
    const { output } = await run(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; echo done"], {
      pidsLimit: 4,
    });
    expect(output).toMatch(/can't fork|Resource temporarily unavailable|Try again/);
  });

  it("throttles a loop at --cpus 0.2", async () => {
    const { id } = await containers.run(busybox, { cmd: ["sh", "-c", "while true; do :; done"], cpus: 0.2 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const stat = await host(`cat /sys/fs/cgroup/drydock/${id}/cpu.stat; cat /sys/fs/cgroup/drydock/${id}/cpu.max`);
    await containers.remove(id, { force: true });
    expect(stat).toContain("20000 100000");
    expect(Number(/nr_throttled (\d+)/.exec(stat)?.[1])).toBeGreaterThan(0);
  });
});

describe("lifecycle", () => {
  it("pauses (frozen), unpauses, execs in the container's namespaces, and stops with SIGKILL after the timeout", async () => {
    const { id } = await containers.run(busybox, { cmd: ["sleep", "600"], hostname: "sleeper" });
    await containers.pause(id);
    expect(containers.inspect(id).status).toBe("paused");
    expect(await host(`cat /sys/fs/cgroup/drydock/${id}/cgroup.events`)).toContain("frozen 1");
    expect((await failure(containers.exec(id, ["true"]))).message).toMatch(/it is paused/);
    await containers.unpause(id);

    const proc = await containers.exec(id, [
      "sh",
      "-c",
      "hostname; ps -o pid,args | grep -v ps; ip -o link | grep -c LOOPBACK,UP",
    ]);
    const [out, status] = await Promise.all([new Response(proc.stdout).text(), proc.exit]);
    expect(status.code).toBe(0);
    expect(out).toMatch(/^sleeper\n/);
    expect(out).toMatch(/\n\s*1 sleep 600\n/);
    expect(out.trim().endsWith("1")).toBe(true);

    const started = performance.now();
    const exit = await containers.stop(id, { timeoutSeconds: 1 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(exit).toMatchObject({ code: 137, signal: 9 });
    expect(containers.inspect(id).status).toBe("exited");
    expect((await failure(containers.start(id).then(() => containers.start(id)))).message).toMatch(/it is running/);
    await containers.remove(id, { force: true });
  });

  it("keeps timestamped logs and follows them", async () => {
    const { id } = await containers.run(busybox, { cmd: ["sh", "-c", "echo one; sleep 1; echo two >&2"] });
    const entries: { text: string; stream: string; time: number }[] = [];
    for (const reader = containers.logs(id, { follow: true }).getReader(); ; ) {
      const { value, done } = await reader.read();
      if (done) break;
      entries.push({ text: new TextDecoder().decode(value.data), stream: value.stream, time: value.time });
    }
    expect(entries.map((e) => [e.stream, e.text])).toEqual([
      ["stdout", "one\n"],
      ["stderr", "two\n"],
    ]);
    expect(entries[1]!.time - entries[0]!.time).toBeGreaterThan(500);
    await containers.remove(id);
  });
});

describe("what the Engine API builds on", () => {
  it("stdin: without openStdin a reader sees end-of-file at once; with it, written bytes arrive and closing ends it", async () => {
    expect(await run(["sh", "-c", "cat; echo done"])).toMatchObject({ output: "done\n", code: 0 });
    const { id } = await containers.run(busybox, { cmd: ["sh", "-c", "wc -c"], openStdin: true });
    await containers.writeStdin(id, new TextEncoder().encode("12345"));
    containers.closeStdin(id);
    expect((await containers.wait(id)).code).toBe(0);
    expect((await logsText(id)).trim()).toBe("5");
    await containers.remove(id);
  });

  it("waits for the next exit and for removal, attaches before start, and reports events in order", async () => {
    const seen: string[] = [];
    const off = images.events.on((event) => {
      if (event.type === "container")
        seen.push(event.action + (event.attributes.exitCode ? `=${event.attributes.exitCode}` : ""));
    });
    const { id } = await containers.create(busybox, { cmd: ["sh", "-c", "echo attached; exit 6"] });
    const nextExit = containers.waitFor(id, "next-exit");
    const removed = containers.waitFor(id, "removed");
    const output = containers.attachOutput(id);
    await containers.start(id);
    expect((await nextExit).code).toBe(6);
    let text = "";
    for await (const entry of output) text += new TextDecoder().decode(entry.data);
    expect(text).toBe("attached\n");
    await containers.restart(id);
    await containers.wait(id);
    await containers.remove(id);
    expect((await removed).code).toBe(6);
    off();
    expect(seen).toEqual(["create", "start", "die=6", "start", "restart", "die=6", "destroy"]);
  });

  it("top lists the cgroup's processes and stats reads its counters", async () => {
    const { id, pid } = await containers.run(busybox, {
      cmd: ["sh", "-c", "sleep 600 & exec sleep 601"],
      memory: "32m",
    });
    await expect
      .poll(async () => (await containers.top(id)).map((p) => p.command).sort())
      .toEqual(["sleep 600", "sleep 601"]);
    expect((await containers.top(id)).find((p) => p.command === "sleep 601")?.pid).toBe(pid);
    const sample = await containers.stats(id);
    expect(sample.memoryMax).toBe(32 * 1024 * 1024);
    expect(sample.memoryCurrent).toBeGreaterThan(0);
    expect(sample.pidsCurrent).toBe(2);
    expect(sample.cpuStat.usage_usec).toBeGreaterThan(0);
    await containers.remove(id, { force: true });
  });
});

describe("cleanup", () => {
  it("leaves no mount, cgroup, process or tmpfs usage behind after 50 run-and-remove cycles", async () => {
    await run(["true"]);
    const snapshot = async () => ({
      mounts: (await host("grep -c . /proc/mounts")).trim(),
      cgroups: (await host("ls /sys/fs/cgroup/drydock | grep -c '^[0-9a-f]\\{64\\}$'")).trim(),
      // User processes only: the kernel starts and retires worker threads (children of kthreadd, pid 2) on its own.
      // ps writes to a file before anything reads it, so the snapshot holds the measuring shell and ps alone, every
      // time, and no pipeline stage that may or may not have started yet.
      processes: (await host("ps -o ppid= -o pid= > /tmp/ps.txt; awk '$1 != 2 && $2 != 2' /tmp/ps.txt | wc -l")).trim(),
      run: (await host("df /run | tail -1 | awk '{print $3}'")).trim(),
      containers: containers.list({ all: true }).length,
      snapshots: containers.snapshotter.list().filter((s) => s.kind !== "committed" || !s.name.startsWith("sha256:"))
        .length,
    });
    const before = await snapshot();
    for (let i = 0; i < 50; i++) {
      const { exited } = await containers.run(busybox, { cmd: ["sh", "-c", "echo x > /tmp-file"], rm: true });
      expect((await exited).code).toBe(0);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await snapshot()).toEqual(before);
  });
});

describe("bad input", () => {
  it("a command that does not exist: notFound, exit 127, a clear message", async () => {
    const { id } = await containers.create(busybox, { cmd: ["no-such-command"] });
    const error = await failure(containers.start(id));
    expect(error.kind).toBe("notFound");
    expect(error.message).toMatch(/no-such-command.*No such file or directory.*127/);
    expect(containers.inspect(id).exit?.code).toBe(127);
    await containers.remove(id);
  });

  it("a missing image: notFound", async () => {
    expect((await failure(containers.run("nothing-here:latest", { cmd: ["true"] }))).kind).toBe("notFound");
  });

  it("a bad limit value: invalidArgument", async () => {
    expect(await failure(containers.run(busybox, { cmd: ["true"], memory: "lots" }))).toMatchObject({
      kind: "invalidArgument",
    });
    expect(await failure(containers.run(busybox, { cmd: ["true"], cpus: 8 }))).toMatchObject({
      kind: "invalidArgument",
    });
  });

  it("a removed container: notFound; an illegal transition: conflict naming the state", async () => {
    const { id } = await containers.run(busybox, { cmd: ["sleep", "600"] });
    expect(await failure(containers.start(id))).toEqual({
      kind: "conflict",
      message: `cannot start container ${id.slice(0, 12)}: it is running`,
    });
    expect((await failure(containers.remove(id))).message).toMatch(/cannot remove container .*: it is running/);
    await containers.remove(id, { force: true });
    expect((await failure(() => containers.inspect(id))).kind).toBe("notFound");
    expect((await failure(containers.start(id))).kind).toBe("notFound");
  });
});
