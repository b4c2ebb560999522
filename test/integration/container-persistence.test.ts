// Containers outlive the daemon: their records are kept in the data root's metadata store (containers.json), read
// back when the daemon starts again on the same data root. A container that ran is then exited (its task died with
// the guest), `docker start` runs it again from its image with the files of its writable layer (saved beside the
// records when its task ended, or when the daemon stopped), and `docker rm` removes it.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEBIAN_DOCKER, type Outcome } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { CHANGES, compileXattrProgram, expectChangesSeen, LOOK } from "../fixtures/layer-changes.ts";
import { NodeDaemon } from "../fixtures/node-daemon.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let daemon: NodeDaemon;

/** Stops the daemon as at SIGTERM and starts it again on the same data root. */
const restartDaemon = () => daemon.restart();
const docker = (args: string[]): Promise<Outcome> => daemon.docker(args);

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-container-persist-"));
  daemon = new NodeDaemon(dir);
  await daemon.start();
  expect((await docker(["pull", busybox.reference])).code).toBe(0);
});

afterAll(async () => {
  await daemon?.stop();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("containers across a daemon restart", () => {
  it("lists them again with their config; a running one is exited, and docker start runs it again", async () => {
    const server = await docker([
      "run",
      "-d",
      "--name",
      "server",
      "--label",
      "lesson=12",
      "-e",
      "GREETING=hello",
      "-v",
      "kept:/kept",
      busybox.reference,
      "sh",
      "-c",
      'echo "$GREETING from $(hostname)" >> /kept/log; sleep 600',
    ]);
    expect(server).toMatchObject({ code: 0, stderr: "" });
    const done = await docker(["run", "--name", "done", busybox.reference, "sh", "-c", "exit 3"]);
    expect(done.code).toBe(3);
    expect((await docker(["create", "--name", "fresh", busybox.reference, "echo", "made"])).code).toBe(0);
    const hostname = (await docker(["inspect", "-f", "{{.Config.Hostname}}", "server"])).stdout;
    const configFormat =
      "{{.Config.Hostname}} {{.Config.Env}} {{.Config.Cmd}} {{.Config.Labels}} {{.Created}} {{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}";
    const before = await docker(["inspect", "-f", configFormat, "server"]);
    expect(before.stdout).toContain("GREETING=hello");
    // Written while it runs: saved when the daemon stops (its processes frozen meanwhile).
    expect((await docker(["exec", "server", "sh", "-c", "echo while running > /live.txt"])).code).toBe(0);

    await restartDaemon();

    const listed = await docker(["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Labels}}"]);
    expect(listed.stdout.trim().split("\n").sort()).toEqual([
      "done exited ",
      "fresh created ",
      "server exited lesson=12",
    ]);
    const codes = await docker(["inspect", "-f", "{{.State.ExitCode}}", "done", "server"]);
    // Its task died with the guest: Docker's code for a task lost with its host.
    expect(codes.stdout).toBe("3\n255\n");
    expect((await docker(["ps", "-q"])).stdout).toBe("");
    // The same config as before the restart: env, command, labels, creation time, volume.
    expect((await docker(["inspect", "-f", configFormat, "server"])).stdout).toBe(before.stdout);
    expect((await docker(["inspect", "-f", "{{.State.Status}}", "server"])).stdout).toBe("exited\n");

    // Started again from its image: the same command, the same volume, the same hostname.
    expect((await docker(["start", "server"])).code).toBe(0);
    expect((await docker(["ps", "--format", "{{.Names}}"])).stdout).toBe("server\n");
    // `docker start` returns once the process runs; its echo may come a moment later.
    let log = await docker(["exec", "server", "cat", "/kept/log"]);
    for (let i = 0; i < 50 && log.stdout.split("\n").length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      log = await docker(["exec", "server", "cat", "/kept/log"]);
    }
    expect(log.stdout).toBe(`hello from ${hostname.trim()}\nhello from ${hostname.trim()}\n`);
    expect((await docker(["exec", "server", "cat", "/live.txt"])).stdout).toBe("while running\n");
    const fresh = await docker(["start", "-a", "fresh"]);
    expect(fresh).toMatchObject({ code: 0, stdout: "made\n" });
    // In use by a container kept from before: the volume cannot go.
    const busy = await docker(["volume", "rm", "kept"]);
    expect(busy.stderr).toMatch(/volume is in use/);
  });

  it("keeps what happened after the restart too, and docker rm removes them for good", async () => {
    expect((await docker(["stop", "-t", "1", "server"])).code).toBe(0);
    await restartDaemon();
    const state = await docker(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "server", "fresh"]);
    expect(state.stdout).toBe("exited 137\nexited 0\n");
    expect((await docker(["rm", "server", "done", "fresh"])).code).toBe(0);
    await restartDaemon();
    expect((await docker(["ps", "-aq"])).stdout).toBe("");
    expect((await docker(["volume", "rm", "kept"])).code).toBe(0);
  });

  it("keeps their logs: docker logs shows what they printed before, and a new run adds to it", async () => {
    const script = 'echo "out $(cat /proc/sys/kernel/random/uuid)"; echo "err $(cat /proc/sys/kernel/random/uuid)" >&2';
    expect((await docker(["run", "--name", "talker", busybox.reference, "sh", "-c", script])).code).toBe(0);
    const id = (await docker(["inspect", "-f", "{{.Id}}", "talker"])).stdout.trim();
    const before = await docker(["logs", "-t", "talker"]);
    const line = (stream: string) => new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${stream} [0-9a-f-]{36}\\n$`);
    expect(before.stdout).toMatch(line("out"));
    expect(before.stderr).toMatch(line("err"));

    await restartDaemon();

    // The same lines, times and streams as before the restart.
    expect(await docker(["logs", "-t", "talker"])).toEqual(before);
    const between = new Date().toISOString();
    const second = await docker(["start", "-a", "talker"]);
    expect(second.code).toBe(0);
    // Kept across `docker start` and another restart: both runs' lines, in order.
    await restartDaemon();
    const both = await docker(["logs", "-t", "talker"]);
    expect(both.stdout.startsWith(before.stdout)).toBe(true);
    expect(both.stderr.startsWith(before.stderr)).toBe(true);
    expect(both.stdout.slice(before.stdout.length)).toMatch(line("out"));
    expect(both.stderr.slice(before.stderr.length)).toMatch(line("err"));
    expect(both.stdout.slice(before.stdout.length)).toContain(second.stdout);
    const plain = await docker(["logs", "talker"]);
    expect(plain.stdout).toBe(both.stdout.replace(/^\S+ /gm, ""));
    // --tail and --since still pick lines of a restored container by their order and time (the tail counts both
    // streams' lines, as dockerd's does).
    const newest = await docker(["logs", "--tail", "2", "talker"]);
    expect(newest).toMatchObject({ stdout: second.stdout, stderr: second.stderr });
    const since = await docker(["logs", "--since", between, "talker"]);
    expect(since).toMatchObject({ stdout: second.stdout, stderr: second.stderr });

    const metadata = join(dir, "root", "metadata");
    expect((await readdir(metadata)).filter((name) => name.startsWith(`log-${id}.`))).not.toEqual([]);
    expect((await docker(["rm", "talker"])).code).toBe(0);
    await daemon.containers?.saved();
    // Its kept log went with it.
    expect((await readdir(metadata)).filter((name) => name.startsWith(`log-${id}.`))).toEqual([]);
  });

  it("keeps a container's own files: what it wrote, and a file of its image it deleted", async () => {
    // The first run (marked in a volume) writes and deletes, then waits to be stopped; a later run shows what it finds.
    const script = [
      "doc=/usr/share/doc/busybox-static/copyright",
      "if [ -e /state/ran ]; then cat /data.txt 2>&1; ls -ln /data.txt 2>&1; ls $doc 2>&1; exit 0; fi",
      "echo written before the restart > /data.txt; chown 1:2 /data.txt; chmod 640 /data.txt; rm $doc || exit 1",
      "touch /state/ran /ready; exec sleep 600",
    ].join("\n");
    const run = await docker(["run", "-d", "--name", "writer", "-v", "/state", busybox.reference, "sh", "-c", script]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    let ready = await docker(["exec", "writer", "test", "-e", "/ready"]);
    for (let i = 0; i < 100 && ready.code !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await docker(["exec", "writer", "test", "-e", "/ready"]);
    }
    expect(ready.code).toBe(0);
    const commands: string[] = [];
    const untrace = daemon.containers!.trace((event) => commands.push(event.command));
    expect((await docker(["stop", "-t", "1", "writer"])).code).toBe(0);
    untrace();
    const id = (await docker(["inspect", "-f", "{{.Id}}", "writer"])).stdout.trim();
    // The page's trace shows the layer leaving the guest for the engine's storage.
    expect(commands).toContainEqual(
      expect.stringMatching(/^exec tar -c -f - -C \/run\/drydock\/snapshots\/\d+\/fs \.$/),
    );
    expect(commands).toContainEqual(expect.stringMatching(new RegExp(`^store write upper-${id}\\.tar # \\d+ bytes`)));
    const saved = join(dir, "root", "metadata", `upper-${id}.tar`);
    expect(existsSync(saved)).toBe(true);

    await restartDaemon();

    const started = await docker(["start", "-a", "writer"]);
    expect(started.code).toBe(0);
    const [content, listing, deleted] = started.stdout.split("\n");
    expect(content).toBe("written before the restart");
    // Its owner and mode came back with it.
    expect(listing).toMatch(/^-rw-r-----\s+1 1\s+2\s+27 .* \/data\.txt$/);
    expect(deleted).toMatch(/\/usr\/share\/doc\/busybox-static\/copyright: No such file or directory/);
    const diff = await docker(["diff", "writer"]);
    expect(diff.stdout).toContain("A /data.txt\n");
    expect(diff.stdout).toContain("D /usr/share/doc/busybox-static/copyright\n");

    // Saved again when that run ended: still there after one more restart, and gone with the container.
    await restartDaemon();
    expect((await docker(["start", "-a", "writer"])).stdout).toMatch(/^written before the restart\n/);
    expect((await docker(["rm", "-v", "writer"])).code).toBe(0);
    expect(existsSync(saved)).toBe(false);
  });
  it("keeps a file's xattrs, a device node and a directory made again (opaque) in the saved writable layer", async () => {
    const program = join(dir, "xattr");
    await writeFile(program, await compileXattrProgram(dir), { mode: 0o755 });
    // The first run makes the changes and waits to be stopped; the run after the restart looks at them.
    const script = `if [ -e /state/ran ]; then ${LOOK}; exit 0; fi\n${CHANGES}\ntouch /state/ran /ready; exec sleep 600`;
    const made = await docker(["create", "--name", "marked", "-v", "/state", busybox.reference, "sh", "-c", script]);
    expect(made.code).toBe(0);
    expect((await docker(["cp", program, "marked:/xattr"])).code).toBe(0);
    expect((await docker(["start", "marked"])).code).toBe(0);
    let ready = await docker(["exec", "marked", "test", "-e", "/ready"]);
    for (let i = 0; i < 100 && ready.code !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await docker(["exec", "marked", "test", "-e", "/ready"]);
    }
    expect(ready.code).toBe(0);
    const commands: string[] = [];
    const untrace = daemon.containers!.trace((event) => commands.push(event.command));
    expect((await docker(["stop", "-t", "1", "marked"])).code).toBe(0);
    untrace();
    // drydockd read the xattrs of the whole upper dir in one request.
    expect(commands).toContainEqual(expect.stringMatching(/^getfattr -R -d -m - \/run\/drydock\/snapshots\/\d+\/fs$/));

    await restartDaemon();

    const restarted: string[] = [];
    const untraceStart = daemon.containers!.trace((event) => restarted.push(event.command));
    const started = await docker(["start", "-a", "marked"]);
    untraceStart();
    expect(started.stderr).toBe("");
    expectChangesSeen(started.stdout);
    // Set back after busybox tar unpacked the layer: the capability, and overlayfs's opaque mark.
    expect(restarted).toContainEqual(expect.stringMatching(/^setfattr -n security.capability \S+\/capfile$/));
    expect(restarted).toContainEqual(
      expect.stringMatching(/^setfattr -n trusted.overlay.opaque \S+\/usr\/share\/doc\/busybox-static$/),
    );
    expect((await docker(["rm", "-v", "marked"])).code).toBe(0);
  });

  it("before its first start after a restart, docker diff, cp, export and commit see its kept files", async () => {
    const made = await docker(["run", "--name", "kept-files", busybox.reference, "sh", "-c", "echo mine > /mine.txt"]);
    expect(made.code).toBe(0);
    await restartDaemon();
    expect((await docker(["diff", "kept-files"])).stdout).toContain("A /mine.txt\n");
    const copied = await docker(["cp", "kept-files:/mine.txt", join(dir, "mine.txt")]);
    expect(copied.code).toBe(0);
    expect(await readFile(join(dir, "mine.txt"), "utf8")).toBe("mine\n");
    const exported = await docker(["export", "-o", join(dir, "kept.tar"), "kept-files"]);
    expect(exported.code).toBe(0);
    const { stdout: members } = await promisify(execFile)("tar", ["-tf", join(dir, "kept.tar")]);
    expect(members.split("\n")).toContain("./mine.txt");
    expect((await docker(["commit", "kept-files", "kept-image:1"])).code).toBe(0);
    const fromCommit = await docker(["run", "--rm", "kept-image:1", "cat", "/mine.txt"]);
    expect(fromCommit).toMatchObject({ code: 0, stdout: "mine\n" });
    // And it still starts as before, from the root those made.
    expect((await docker(["start", "-a", "kept-files"])).code).toBe(0);
    expect((await docker(["rm", "kept-files"])).code).toBe(0);
    expect((await docker(["rmi", "kept-image:1"])).code).toBe(0);
  });

  it("gives a container its tmpfs and image volumes again after a restart, with their drivers and options", async () => {
    expect((await docker(["volume", "create", "--driver", "tmpfs", "--opt", "size=2m", "scratch"])).code).toBe(0);
    // An image of its own (no container uses it, one name), for the image driver to serve.
    expect((await docker(["run", "--name", "base", busybox.reference, "touch", "/served-mark"])).code).toBe(0);
    expect((await docker(["commit", "base", "served-image:1"])).code).toBe(0);
    expect((await docker(["rm", "base"])).code).toBe(0);
    expect(
      (await docker(["volume", "create", "--driver", "image", "--opt", "ref=served-image:1", "served"])).code,
    ).toBe(0);
    const script =
      "grep -q ' /scratch tmpfs ' /proc/mounts && echo scratch-tmpfs; [ -x /served/bin/busybox ] && [ -e /served/served-mark ] && echo served-image; ls /scratch";
    const first = await docker([
      "run",
      "--name",
      "drivers",
      "-v",
      "scratch:/scratch",
      "-v",
      "served:/served",
      busybox.reference,
      "sh",
      "-c",
      `${script}; touch /scratch/gone`,
    ]);
    expect(first).toMatchObject({ code: 0, stdout: "scratch-tmpfs\nserved-image\n" });
    // The image a volume serves is not removed from under it.
    const rmi = await docker(["rmi", "served-image:1"]);
    expect(rmi.code).not.toBe(0);
    expect(rmi.stderr).toMatch(
      /unable to remove repository reference "served-image:1" \(must remove the volume first: docker volume rm served\) - image is being served by volume served \(driver image\)/,
    );
    expect((await docker(["rmi", "-f", "served-image:1"])).stderr).toMatch(
      /\(cannot be forced\) - image is being served/,
    );

    await restartDaemon();
    const again = await docker(["start", "-a", "drivers"]);
    // A tmpfs volume is empty again (its files were in guest memory); the image volume serves the image again.
    expect(again).toMatchObject({ code: 0, stdout: "scratch-tmpfs\nserved-image\n" });
    const inspected = JSON.parse((await docker(["volume", "inspect", "scratch", "served"])).stdout) as {
      Driver: string;
      Options: Record<string, string>;
    }[];
    expect(inspected.map((v) => [v.Driver, v.Options])).toEqual([
      ["tmpfs", { size: "2m" }],
      ["image", { ref: "served-image:1" }],
    ]);
    expect((await docker(["rm", "drivers"])).code).toBe(0);
    expect((await docker(["volume", "rm", "scratch", "served"])).code).toBe(0);
    expect((await docker(["rmi", "served-image:1"])).code).toBe(0);
  });
});
