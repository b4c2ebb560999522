// docker save and docker load through the Node daemon, with the real docker CLI, engine/cli and docker-py: a saved
// archive loads back with the same image IDs and names, skopeo reads it as a docker-archive, umoci unpacks its OCI
// layout to the fixture's tree, and an OCI layout made by umoci loads as an image.
import { execFile } from "node:child_process";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliIO, runCli } from "../../engine/cli/index.ts";
import type { ImageService } from "../../engine/index.ts";
import { unixConnector } from "../../engine/node/cli.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, runDocker } from "../fixtures/docker-cli.ts";
import { buildImageLayout, LAYERS, type SeededImage, seedRegistry, umociUnpack } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

const run = promisify(execFile);

let registry: Registry;
let seeded: { busybox: SeededImage; layers: SeededImage };
let dir: string;
let images: ImageService;
let daemon: Daemon;
let host: string;

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  seeded = await seedRegistry(registry, ["busybox", "layers"]);
  dir = await mkdtemp(join(tmpdir(), "drydock-archive-"));
  images = await openNodeImageService(join(dir, "root"));
  host = `unix://${join(dir, "docker.sock")}`;
  daemon = await startDaemon({ host, images });
  await images.pull(seeded.busybox.reference);
  await images.pull(seeded.layers.reference);
});

afterAll(async () => {
  await daemon?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const docker = (args: string[]) => runDocker({ host, home: dir }, args);

async function drydockCli(args: string[], input?: Uint8Array) {
  const parts = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  const sink = (into: Uint8Array[]) => new WritableStream<Uint8Array>({ write: (chunk) => void into.push(chunk) });
  const io: CliIO = {
    stdin: new ReadableStream({
      start: (controller) => {
        if (input) controller.enqueue(input);
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
  return { code, stdout: Buffer.concat(parts.stdout), stderr: Buffer.concat(parts.stderr).toString("utf8") };
}

async function imageId(name: string): Promise<string> {
  return (await images.image(name)).record.config.digest;
}

describe("docker save | docker load", () => {
  it("the real docker CLI: save two images, remove them, load them back with the same IDs and names", async () => {
    const busyboxId = await imageId(seeded.busybox.reference);
    const layersId = await imageId(seeded.layers.reference);
    const file = join(dir, "both.tar");
    const saved = await docker(["save", "-o", file, seeded.busybox.reference, seeded.layers.reference]);
    expect(saved).toMatchObject({ code: 0, stderr: "" });

    // skopeo reads the same file as a docker-archive.
    const { stdout } = await run("skopeo", ["inspect", `docker-archive:${file}:${seeded.layers.reference}`]);
    expect(JSON.parse(stdout).Layers).toHaveLength(3);

    expect((await docker(["rmi", seeded.busybox.reference, seeded.layers.reference])).code).toBe(0);
    expect((await docker(["images", "-q"])).stdout).toBe("");

    const loaded = await docker(["load", "-i", file]);
    expect(loaded.stderr).toBe("");
    expect(loaded.stdout).toBe(`Loaded image: ${seeded.busybox.reference}\nLoaded image: ${seeded.layers.reference}\n`);
    expect(await imageId(seeded.busybox.reference)).toBe(busyboxId);
    expect(await imageId(seeded.layers.reference)).toBe(layersId);
  });

  it("engine/cli: save to stdout is an OCI layout umoci unpacks to the image's tree, and load from stdin", async () => {
    const saved = await drydockCli(["save", seeded.layers.reference]);
    expect(saved.stderr).toBe("");
    expect(saved.code).toBe(0);
    const layout = join(dir, "layout");
    await mkdir(layout);
    await writeFile(join(dir, "layers.tar"), saved.stdout);
    await run("tar", ["-xf", join(dir, "layers.tar"), "-C", layout]);
    const rootfs = await umociUnpack(layout, "latest");
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

    const id = await imageId(seeded.layers.reference);
    await images.removeImage(seeded.layers.reference);
    const loaded = await drydockCli(["load"], new Uint8Array(saved.stdout));
    expect(loaded).toMatchObject({ code: 0, stderr: "" });
    expect(loaded.stdout.toString()).toBe(`Loaded image: ${seeded.layers.reference}\n`);
    expect(await imageId(seeded.layers.reference)).toBe(id);
  });

  it("loads an OCI image layout made by umoci (as a tar), and refuses what is no image archive", async () => {
    const layout = await buildImageLayout("busybox");
    const tar = join(dir, "oci.tar");
    await run("tar", ["-cf", tar, "-C", layout, "."]);
    const loaded = await drydockCli(["load"], new Uint8Array(await readFile(tar)));
    expect(loaded.stderr).toBe("");
    expect(loaded.stdout.toString()).toBe(`Loaded image ID: ${await imageId(seeded.busybox.reference)}\n`);

    const garbage = await drydockCli(["load"], new TextEncoder().encode("not a tar at all"));
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/neither manifest.json nor index.json|not a tar archive/);
  });

  it("docker-py: image.save() and images.load() round-trip", async () => {
    const script = `
import json, sys, docker
client = docker.DockerClient(base_url=sys.argv[1], version="auto")
image = client.images.get(sys.argv[2])
data = b"".join(image.save(named=True))
client.images.remove(sys.argv[2])
loaded = client.images.load(data)
print(json.dumps({"before": image.id, "after": [i.id for i in loaded], "tags": loaded[0].tags}))
`;
    const { stdout } = await run("python3", ["-c", script, host, seeded.busybox.reference]);
    const result = JSON.parse(stdout) as { before: string; after: string[]; tags: string[] };
    expect(result.after).toEqual([result.before]);
    expect(result.tags).toEqual([seeded.busybox.reference]);
  });
});
