// docker login / push against Debian's docker-registry behind htpasswd basic auth, driven by the real docker CLI and
// by engine/cli through the Node daemon: an image pulled here is pushed under a new name, skopeo reads it back with
// the same digest, and umoci unpacks it to the tree the fixture promises (a whiteout and an opaque directory
// included). Also: a cross-repository mount, chunked uploads, and what a push without a login says.
import { execFile } from "node:child_process";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliIO, runCli } from "../../engine/cli/index.ts";
import type { ImageService } from "../../engine/index.ts";
import { unixConnector } from "../../engine/node/cli.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { LAYERS, type SeededImage, seedRegistry, umociUnpack } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

const run = promisify(execFile);

let source: Registry;
let target: Registry;
let seeded: { busybox: SeededImage; layers: SeededImage };
let dir: string;
let images: ImageService;
let daemon: Daemon;
let host: string;

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  [source, target] = await Promise.all([startRegistry(), startRegistry({ auth: "basic" })]);
  seeded = await seedRegistry(source, ["busybox", "layers"]);
  dir = await mkdtemp(join(tmpdir(), "drydock-push-"));
  images = await openNodeImageService(join(dir, "root"));
  host = `unix://${join(dir, "docker.sock")}`;
  daemon = await startDaemon({ host, images });
});

afterAll(async () => {
  await daemon?.close();
  await Promise.all([source?.stop(), target?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

function docker(args: string[], input?: string): Promise<Outcome> {
  if (input === undefined) return runDocker({ host, home: dir }, args);
  return new Promise((resolve) => {
    const child = execFile(
      DEBIAN_DOCKER,
      ["-H", host, ...args],
      { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: join(dir, "config") } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

async function drydockCli(args: string[], input = ""): Promise<Outcome> {
  const parts = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  const sink = (into: Uint8Array[]) => new WritableStream<Uint8Array>({ write: (chunk) => void into.push(chunk) });
  const io: CliIO = {
    stdin: new ReadableStream({
      start: (controller) => {
        if (input) controller.enqueue(new TextEncoder().encode(input));
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

const creds = () => `${target.credentials!.username}:${target.credentials!.password}`;

async function skopeoDigest(reference: string): Promise<string> {
  const { stdout } = await run("skopeo", [
    "inspect",
    "--tls-verify=false",
    "--creds",
    creds(),
    "--format",
    "{{.Digest}}",
    `docker://${reference}`,
  ]);
  return stdout.trim();
}

describe("docker push to a registry with basic auth", () => {
  it("the real docker CLI: push without a login is refused; after login it pushes, skopeo and umoci read it back", async () => {
    expect((await docker(["pull", seeded.layers.reference])).code).toBe(0);
    const name = `${target.host}/layers:v1`;
    expect(await docker(["tag", seeded.layers.reference, name])).toMatchObject({ code: 0 });

    const refused = await docker(["push", name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/requires a username and password.*log in/);

    const login = await docker(
      ["login", "--username", target.credentials!.username, "--password-stdin", target.host],
      target.credentials!.password,
    );
    expect(login.stderr).not.toMatch(/error/i);
    expect(login.stdout).toContain("Login Succeeded");

    const pushed = await docker(["push", name]);
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toContain(`The push refers to repository [${target.host}/layers]`);
    expect(pushed.stdout).toMatch(/: Pushed$/m);
    expect(pushed.stdout).toContain(`v1: digest: ${seeded.layers.digest} size: `);

    expect(await skopeoDigest(name)).toBe(seeded.layers.digest);

    const layout = join(dir, "layout");
    await run("skopeo", [
      "copy",
      "--src-tls-verify=false",
      "--src-creds",
      creds(),
      `docker://${name}`,
      `oci:${layout}:v1`,
    ]);
    const rootfs = await umociUnpack(layout, "v1");
    try {
      for (const [path, content] of Object.entries(LAYERS.final)) {
        expect(readFileSync(join(rootfs, path), "utf8"), path).toBe(content);
      }
      expect(existsSync(join(rootfs, "etc/gone.txt"))).toBe(false);
      expect((await readdir(join(rootfs, "data/dir"))).sort()).toEqual(["new.txt"]);
      expect(readlinkSync(join(rootfs, "data/symlink"))).toBe("keep.txt");
    } finally {
      await rm(join(rootfs, ".."), { recursive: true, force: true });
    }

    // Pushed again: every layer is already there.
    const again = await docker(["push", name]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/: Layer already exists$/m);
  });

  it("engine/cli: login with --password-stdin, push mounts the shared layers from the other repository, logout", async () => {
    const login = await drydockCli(
      ["login", "-u", target.credentials!.username, "--password-stdin", target.host],
      `${target.credentials!.password}\n`,
    );
    expect(login).toEqual({ code: 0, stdout: "Login Succeeded\n", stderr: "" });

    const name = `${target.host}/copy:2`;
    expect((await drydockCli(["tag", seeded.layers.reference, name])).code).toBe(0);
    const pushed = await drydockCli(["push", name]);
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toMatch(/: Mounted from layers$/m);
    expect(pushed.stdout).toContain(`2: digest: ${seeded.layers.digest} size: `);
    expect(await skopeoDigest(name)).toBe(seeded.layers.digest);

    expect(await drydockCli(["logout", target.host])).toEqual({
      code: 0,
      stdout: `Removing login credentials for ${target.host}\n`,
      stderr: "",
    });
    const refused = await drydockCli(["push", name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/requires a username and password/);
  });

  it("a blob larger than the chunk size goes up in PATCH chunks and the registry accepts it", async () => {
    await images.pull(seeded.busybox.reference);
    const name = `${target.host}/chunked:1`;
    await images.tag(seeded.busybox.reference, name);
    const statuses: string[] = [];
    const [pushed] = await images.push(name, {
      credentials: target.credentials!,
      chunkSize: 64 * 1024,
      onProgress: (progress) => statuses.push(`${progress.status}:${progress.done}`),
    });
    expect(pushed?.digest).toBe(seeded.busybox.digest);
    // Several acknowledged chunks before the last one.
    expect(statuses.filter((status) => status.startsWith("pushing:") && status !== "pushing:0").length).toBeGreaterThan(
      3,
    );
    expect(await skopeoDigest(name)).toBe(seeded.busybox.digest);
  });
});
