// Shipping with a real guest: push to the registry inside the engine (localhost:5000), remove, pull back and run,
// typed in the guest's shell; docker cp both ways (the real docker CLI on this machine, and the guest's docker
// command on the guest's files) keeping modes, owners and symlinks, from a running and from a stopped container;
// docker export.
import { execFile } from "node:child_process";
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { runDocker } from "../fixtures/docker-cli.ts";
import { type GuestDockerFixture, startGuestDocker } from "../fixtures/guest-docker.ts";

const run = promisify(execFile);

let guest: GuestDockerFixture;
let daemon: Daemon;
let dir: string;
let host: string;

beforeAll(async () => {
  guest = await startGuestDocker();
  dir = await mkdtemp(join(tmpdir(), "drydock-ship-"));
  host = `unix://${join(dir, "docker.sock")}`;
  daemon = await startDaemon({ host, images: guest.images, containers: guest.containers });
});

afterAll(async () => {
  await daemon?.close();
  await guest?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A shell command in the guest (outside containers), as typed in the page's terminal. */
function sh(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return guest.drydock.agent.run(["sh", "-c", script], { env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] });
}

const docker = (args: string[]) => runDocker({ host, home: dir }, args);
const isRoot = process.getuid?.() === 0;
/** Each cp test runs a dozen guest commands and tar helpers; on a loaded 2-core machine that takes minutes. */
const SLOW = { timeout: 300_000 };

describe("shipping in the guest", () => {
  it("docker push localhost:5000/…, rmi, pull back and run: the engine's own registry, offline", async () => {
    const tag = await sh(`docker tag ${guest.busybox} localhost:5000/tools:1`);
    expect(tag).toMatchObject({ code: 0, stderr: "" });
    const pushed = await sh("docker push localhost:5000/tools:1");
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toContain("The push refers to repository [localhost:5000/tools]");
    expect(pushed.stdout).toMatch(/^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)![1];

    const repositories = await guest.images.registry!.repositories();
    expect(repositories.map((repository) => repository.name)).toContain("tools");
    // The guest's shell asks the same registry over its socket, as a learner would with curl.
    const catalog = await sh("curl -s --unix-socket /run/drydock/registry.sock http://localhost:5000/v2/_catalog");
    expect(catalog.code).toBe(0);
    expect(JSON.parse(catalog.stdout).repositories).toContain("tools");
    const tags = await sh("curl -s --unix-socket /run/drydock/registry.sock http://localhost:5000/v2/tools/tags/list");
    expect(JSON.parse(tags.stdout)).toEqual({ name: "tools", tags: ["1"] });
    const manifest = await sh(
      "curl -s -I --unix-socket /run/drydock/registry.sock http://localhost:5000/v2/tools/manifests/1",
    );
    expect(manifest.stdout.toLowerCase()).toContain(`docker-content-digest: ${digest}`);

    expect((await sh(`docker rmi localhost:5000/tools:1 ${guest.busybox}`)).code).toBe(0);
    expect((await sh("docker images -q")).stdout).toBe("");
    const pulled = await sh("docker pull localhost:5000/tools:1");
    expect(pulled.stderr).toBe("");
    expect(pulled.stdout).toContain(`Digest: ${digest}`);
    const ran = await sh("docker run --rm localhost:5000/tools:1 echo shipped");
    expect(ran).toMatchObject({ code: 0, stdout: "shipped\n" });
    // The fixture's name back, for the tests after this one.
    expect((await sh(`docker tag localhost:5000/tools:1 ${guest.busybox}`)).code).toBe(0);
  });

  it(
    "docker cp out of and into a running container keeps modes, owners and symlinks (the real docker CLI)",
    SLOW,
    async () => {
      const started = await docker([
        "run",
        "-d",
        "--name",
        "files",
        guest.busybox,
        "sh",
        "-c",
        "mkdir -p /data/sub && echo hi > /data/a.txt && chmod 640 /data/a.txt && chown 1234:5678 /data/a.txt && ln -s a.txt /data/link && echo deep > /data/sub/b && touch /ready && sleep 600",
      ]);
      expect(started.code).toBe(0);
      for (let i = 0; i < 50 && (await docker(["exec", "files", "test", "-e", "/ready"])).code !== 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }

      const out = join(dir, "out");
      const copied = await docker(["cp", "files:/data", out]);
      expect(copied).toMatchObject({ code: 0, stderr: "" });
      expect(readFileSync(join(out, "a.txt"), "utf8")).toBe("hi\n");
      expect(statSync(join(out, "a.txt")).mode & 0o7777).toBe(0o640);
      // docker's client does not chown what it extracts here (as docker); the archive itself carries the owners.
      const { stdout: listing } = await run("sh", ["-c", `docker -H ${host} cp files:/data/a.txt - | tar -tvf -`], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "config") },
      });
      expect(listing).toMatch(/^-rw-r----- 1234\/5678\s+3 .* a\.txt$/m);
      expect(readlinkSync(join(out, "link"))).toBe("a.txt");
      expect(readFileSync(join(out, "sub/b"), "utf8")).toBe("deep\n");

      // A single file to a new name.
      expect((await docker(["cp", "files:/data/a.txt", join(dir, "renamed.txt")])).code).toBe(0);
      expect(readFileSync(join(dir, "renamed.txt"), "utf8")).toBe("hi\n");

      const missing = await docker(["cp", "files:/nope", join(dir, "x")]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/No such container:path: files:\/nope|Could not find the file \/nope/);

      const local = join(dir, "local");
      await mkdir(local);
      await writeFile(join(local, "run.sh"), "#!/bin/sh\necho ran\n");
      await chmod(join(local, "run.sh"), 0o750);
      if (isRoot) await chown(join(local, "run.sh"), 4321, 8765);
      await symlink("run.sh", join(local, "alias"));
      expect((await docker(["cp", "-a", local, "files:/copied"])).code).toBe(0);
      const inside = await docker([
        "exec",
        "files",
        "sh",
        "-c",
        "stat -c '%a %u:%g %N' /copied/run.sh /copied/alias; /copied/run.sh",
      ]);
      expect(inside.stdout).toContain(`750 ${isRoot ? "4321:8765" : `${process.getuid?.()}:${process.getgid?.()}`}`);
      expect(inside.stdout).toMatch(/'\/copied\/alias' -> 'run.sh'/);
      expect(inside.stdout).toContain("ran\n");
      // Without -a, what is copied belongs to the container's root.
      expect((await docker(["cp", join(local, "run.sh"), "files:/tmp/"])).code).toBe(0);
      expect((await docker(["exec", "files", "stat", "-c", "%a %u:%g", "/tmp/run.sh"])).stdout).toBe("750 0:0\n");
      // A symlink inside the container that points outside it stays inside it.
      expect((await docker(["exec", "files", "ln", "-s", "/", "/escape"])).code).toBe(0);
      expect((await docker(["cp", join(local, "run.sh"), "files:/escape/tmp/"])).code).toBe(0);
      expect((await docker(["exec", "files", "test", "-f", "/tmp/run.sh"])).code).toBe(0);
      expect((await sh("test -e /tmp/run.sh")).code).not.toBe(0);
    },
  );

  it(
    "the guest's docker cp copies between the guest's files and the container, both ways, and from a stopped one",
    SLOW,
    async () => {
      const out = await sh(
        "docker cp files:/data /tmp/fromguest && stat -c '%a %u:%g' /tmp/fromguest/a.txt && readlink /tmp/fromguest/link",
      );
      expect(out).toMatchObject({ code: 0, stdout: "640 1234:5678\na.txt\n" });
      const back = await sh("chmod 700 /tmp/fromguest/sub && docker cp -a /tmp/fromguest files:/back && echo ok");
      expect(back).toMatchObject({ code: 0, stdout: "ok\n" });
      const inside = await docker(["exec", "files", "stat", "-c", "%a %u:%g %n", "/back/sub", "/back/a.txt"]);
      expect(inside.stdout).toBe("700 0:0 /back/sub\n640 1234:5678 /back/a.txt\n");

      expect((await docker(["stop", "-t", "1", "files"])).code).toBe(0);
      const stopped = await sh("docker cp files:/back/a.txt - | tar -tvf -");
      expect(stopped.code).toBe(0);
      expect(stopped.stdout).toMatch(/-rw-r----- 1234\/5678\s+3 .* a\.txt/);
      const exported = await sh("docker export files | tar -tf - | grep -c -e '^./data/a.txt$' -e '^./back/sub/b$'");
      expect(exported.stdout).toBe("2\n");
      expect((await docker(["rm", "files"])).code).toBe(0);
    },
  );
});
