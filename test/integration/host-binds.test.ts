// Host directories bound into containers through the real docker CLI, as `drydock daemon --allow-bind DIR` offers
// them: a file written in the container is on the host, one written (or changed) on the host is read in the next
// container, `:ro` is enforced, a path of the host outside DIR is refused naming --allow-bind, and so is one that
// leads out of DIR by a symbolic link or `..`; a link inside DIR is resolved by the guest, never followed on the host;
// a path that exists only in the guest still binds the guest's. The daemon restarted keeps the container's bind.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEBIAN_DOCKER, type Outcome } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { NodeDaemon } from "../fixtures/node-daemon.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let allowed: string;
let outside: string;
let daemon: NodeDaemon;

const docker = (args: string[]): Promise<Outcome> => daemon.docker(args);
const run = (args: string[]) => docker(["run", "--rm", ...args]);

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-host-binds-"));
  allowed = join(dir, "allowed");
  outside = join(dir, "outside");
  await mkdir(allowed);
  await mkdir(outside);
  await writeFile(join(outside, "secret.txt"), "not for containers\n");
  await symlink(outside, join(allowed, "escape"));
  daemon = new NodeDaemon(dir, { allowBind: [allowed] });
  await daemon.start();
  expect((await docker(["pull", busybox.reference])).code).toBe(0);
});

afterAll(async () => {
  await daemon?.stop();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("binds of host directories under --allow-bind, through the real docker CLI", () => {
  it("a file written in the container is on the host, with the daemon's user as its owner", async () => {
    const script =
      "mkdir -p /data/notes && echo written in a container > /data/notes/w.txt && ln -s w.txt /data/notes/link && mv /data/notes/w.txt /data/notes/kept.txt";
    expect(await run(["-v", `${allowed}/work:/data`, busybox.reference, "sh", "-c", script])).toMatchObject({
      code: 0,
      stderr: "",
    });
    // -v made the missing source directory on the host, as dockerd does.
    expect(await readFile(join(allowed, "work", "notes", "kept.txt"), "utf8")).toBe("written in a container\n");
    expect(existsSync(join(allowed, "work", "notes", "w.txt"))).toBe(false);
    expect((await stat(join(allowed, "work", "notes", "kept.txt"))).uid).toBe(process.getuid?.());
    // The container saw its own files as root's (the daemon's user is root in the guest, as with rootless Docker).
    const owner = await run([
      "-v",
      `${allowed}/work:/data`,
      busybox.reference,
      "stat",
      "-c",
      "%u %a",
      "/data/notes/kept.txt",
    ]);
    expect(owner).toMatchObject({ code: 0, stdout: "0 644\n" });
  });

  it("a file written or changed on the host is what the next container reads", async () => {
    await writeFile(join(allowed, "from-host.txt"), "first\n");
    expect(await run(["-v", `${allowed}:/data`, busybox.reference, "cat", "/data/from-host.txt"])).toMatchObject({
      code: 0,
      stdout: "first\n",
    });
    await writeFile(join(allowed, "from-host.txt"), "second, and longer\n");
    expect(await run(["-v", `${allowed}:/data`, busybox.reference, "cat", "/data/from-host.txt"])).toMatchObject({
      code: 0,
      stdout: "second, and longer\n",
    });
    const listed = await run(["-v", `${allowed}:/data`, busybox.reference, "ls", "/data"]);
    expect(listed.stdout.split("\n")).toEqual(expect.arrayContaining(["escape", "from-host.txt", "work"]));
  });

  it("honours :ro and --mount readonly", async () => {
    const ro = await run(["-v", `${allowed}:/data:ro`, busybox.reference, "touch", "/data/ro.txt"]);
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    const mounted = await run([
      "--mount",
      `type=bind,src=${allowed},dst=/data,readonly`,
      busybox.reference,
      "rm",
      "/data/from-host.txt",
    ]);
    expect(mounted.stderr).toMatch(/Read-only file system/);
    expect(existsSync(join(allowed, "ro.txt"))).toBe(false);
    expect(existsSync(join(allowed, "from-host.txt"))).toBe(true);
    // --mount does not make a missing source (dockerd's words, with the host path).
    const missing = await run(["--mount", `type=bind,src=${allowed}/nope,dst=/x`, busybox.reference, "true"]);
    expect(missing.stderr).toMatch(new RegExp(`bind source path does not exist: ${allowed}/nope`));
  });

  it("refuses a host path outside the allowed directory, and escapes out of it by a link or ..", async () => {
    const refused = await run(["-v", `${outside}:/data`, busybox.reference, "cat", "/data/secret.txt"]);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toMatch(new RegExp(`bind source path ${outside} is a path of this machine.*--allow-bind`));
    expect(refused.stdout).not.toMatch(/not for containers/);
    const linked = await run(["-v", `${allowed}/escape:/data`, busybox.reference, "cat", "/data/secret.txt"]);
    expect(linked.code).toBe(125);
    expect(linked.stderr).toMatch(/leads out of .*--allow-bind/);
    const dotdot = await run(["-v", `${allowed}/../outside:/data`, busybox.reference, "cat", "/data/secret.txt"]);
    expect(dotdot.code).not.toBe(0);
    expect(dotdot.stderr).toMatch(/'\.\.' is not allowed/);
    expect(`${linked.stdout}${dotdot.stdout}`).not.toMatch(/not for containers/);
    // A link inside the bind is the guest's to resolve, in the container: it never reaches the host's outside.
    const through = await run(["-v", `${allowed}:/data`, busybox.reference, "cat", "/data/escape/secret.txt"]);
    expect(through.code).not.toBe(0);
    expect(through.stdout).not.toMatch(/not for containers/);
  });

  it("still binds a path that exists only in the guest", async () => {
    const wrote = await run(["-v", "/tmp/guest-only:/out", busybox.reference, "sh", "-c", "echo guest > /out/f"]);
    expect(wrote).toMatchObject({ code: 0, stderr: "" });
    expect(existsSync("/tmp/guest-only")).toBe(false);
    const read = await run(["-v", "/tmp/guest-only:/in", busybox.reference, "cat", "/in/f"]);
    expect(read).toMatchObject({ code: 0, stdout: "guest\n" });
  });

  it("inspect shows the host path; the container keeps its bind across a daemon restart", async () => {
    const created = await docker([
      "create",
      "--name",
      "keeper",
      "-v",
      `${allowed}/work:/data`,
      busybox.reference,
      "sh",
      "-c",
      "date >> /data/runs; cat /data/notes/kept.txt",
    ]);
    expect(created.code).toBe(0);
    const inspected = await docker([
      "inspect",
      "-f",
      "{{range .Mounts}}{{.Type}} {{.Source}} {{.RW}}{{end}}",
      "keeper",
    ]);
    expect(inspected.stdout.trim()).toBe(`bind ${allowed}/work true`);
    await daemon.restart();
    const started = await docker(["start", "-a", "keeper"]);
    expect(started).toMatchObject({ code: 0, stdout: "written in a container\n" });
    expect((await readFile(join(allowed, "work", "runs"), "utf8")).split("\n").filter(Boolean)).toHaveLength(1);
    expect((await docker(["rm", "keeper"])).code).toBe(0);
  });
});
