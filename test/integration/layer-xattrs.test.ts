// What a container leaves in a layer beyond bytes, modes and owners, through `docker commit` and `docker build` with
// the real docker CLI and the real guest: a file's security.capability (set with a small static program: busybox has
// no setfattr, the image no setcap), its value bytes over 0x7f included; a device node made with mknod (a real one,
// 1:3, not taken for a whiteout); and a directory removed and made again, which overlayfs marks opaque, so the image's
// old files under it stay hidden in the new image. A new container from the image sees all three.
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEBIAN_DOCKER, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { CHANGES, compileXattrProgram, expectChangesSeen, LOOK } from "../fixtures/layer-changes.ts";
import { NodeDaemon } from "../fixtures/node-daemon.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let daemon: NodeDaemon;
let program: string;

const docker = (args: string[]): Promise<Outcome> => daemon.docker(args);

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  dir = await mkdtemp(join(tmpdir(), "drydock-layer-xattrs-"));
  program = join(dir, "xattr");
  await writeFile(program, await compileXattrProgram(dir), { mode: 0o755 });
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  daemon = new NodeDaemon(dir);
  await daemon.start();
  expect((await docker(["pull", busybox.reference])).code).toBe(0);
});

afterAll(async () => {
  await daemon?.stop();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("xattrs, devices and opaque directories in the layers a container leaves", () => {
  it("docker commit keeps them, and a container of the new image sees them", async () => {
    // Before: the image's doc directory has its copyright file.
    const before = await docker(["run", "--rm", busybox.reference, "ls", "/usr/share/doc/busybox-static"]);
    expect(before.stdout).toBe("copyright\n");
    expect((await docker(["create", "--name", "changer", busybox.reference, "sh", "-c", CHANGES])).code).toBe(0);
    expect((await docker(["cp", program, "changer:/xattr"])).code).toBe(0);
    const ran = await docker(["start", "-a", "changer"]);
    expect(ran).toMatchObject({ code: 0, stderr: "" });
    const diff = await docker(["diff", "changer"]);
    expect(diff.stdout).toContain("A /null2\n");
    expect(diff.stdout).toContain("A /capfile\n");

    expect((await docker(["commit", "changer", "changed:1"])).code).toBe(0);
    const seen = await docker(["run", "--rm", "changed:1", "sh", "-c", LOOK]);
    expect(seen.stderr).toBe("");
    expectChangesSeen(seen.stdout);
    // user.* cannot be set in a container (EOPNOTSUPP, in musl's words): its upper dir is on the guest's tmpfs, which
    // takes them from Linux 6.6 on.
    const user = await docker(["run", "--rm", "changed:1", "sh", "-c", "echo > /f; /xattr set /f user.note 41"]);
    expect(user).toMatchObject({ code: 1, stderr: "xattr: set user.note on /f: Not supported\n" });
    expect((await docker(["rm", "changer"])).code).toBe(0);
  });

  it("docker build keeps them from a RUN step", async () => {
    const context = join(dir, "context");
    await mkdir(context, { recursive: true });
    await copyFile(program, join(context, "xattr"));
    await writeFile(
      join(context, "Dockerfile"),
      `FROM ${busybox.reference}\nCOPY xattr /xattr\nRUN ${CHANGES.replaceAll("\n", " && ").replace("set -e && ", "")}\n`,
    );
    const built = await runDocker(
      { host: `unix://${join(dir, "docker.sock")}`, home: dir, env: { DOCKER_BUILDKIT: "0" } },
      ["build", "-t", "built:1", context],
    );
    expect(built.code, built.stderr).toBe(0);
    const seen = await docker(["run", "--rm", "built:1", "sh", "-c", LOOK]);
    expect(seen.stderr).toBe("");
    expectChangesSeen(seen.stdout);
  });
});
