// Pulling real images from a real registry (Debian's docker-registry, seeded by umoci and skopeo): digests match
// what was pushed, unpacked layers (applied in order, as overlayfs would) match `umoci unpack`, whiteouts and opaque
// directories survive, and every failure a user can meet is a clear error that leaves nothing behind.
import { createHash } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LayerEntry } from "../../engine/images/index.ts";
import type { ImageService, LayerProgress } from "../../engine/index.ts";
import { isEngineError } from "../../engine/index.ts";
import { openNodeImageService } from "../../engine/node/index.ts";
import { buildImageLayout, IMAGES, LAYERS, type SeededImage, seedRegistry, umociUnpack } from "../fixtures/images.ts";
import { blobPath, type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let authRegistry: Registry;
let seeded: Record<keyof typeof IMAGES, SeededImage>;
const temporary: string[] = [];

beforeAll(async () => {
  [registry, authRegistry] = await Promise.all([startRegistry(), startRegistry({ auth: "basic" })]);
  seeded = await seedRegistry(registry);
  await seedRegistry(authRegistry, ["busybox"]);
});

afterAll(async () => {
  await Promise.all([registry?.stop(), authRegistry?.stop()]);
  await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function freshImages(options: Parameters<typeof openNodeImageService>[1] = {}): Promise<ImageService> {
  const root = await mkdtemp(join(tmpdir(), "drydock-pull-"));
  temporary.push(root);
  return openNodeImageService(root, options);
}

async function failure(promise: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isEngineError(error)) return { kind: error.kind, message: error.message };
    throw error;
  }
  throw new Error("expected the pull to fail");
}

/** A node of a root filesystem, in a form both sides can produce. */
interface Node {
  type: "file" | "directory" | "symlink";
  mode: number;
  size?: number;
  sha256?: string;
  target?: string;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Applies an image's layer indexes in order, the way overlayfs stacks them, into one tree. */
async function mergedTree(images: ImageService, name: string): Promise<Map<string, Node>> {
  const details = await images.image(name);
  const tree = new Map<string, LayerEntry>();
  const removeBelow = (path: string) => {
    for (const key of [...tree.keys()]) if (key.startsWith(`${path}/`)) tree.delete(key);
  };
  for (const layer of details.layers) {
    const index = await images.store.layerIndex(layer);
    for (const entry of index.entries) {
      if (entry.type === "whiteout") {
        tree.delete(entry.path);
        removeBelow(entry.path);
        continue;
      }
      if (entry.opaque) removeBelow(entry.path);
      if (entry.type !== "directory") removeBelow(entry.path);
      tree.set(entry.path, entry);
    }
  }
  const nodes = new Map<string, Node>();
  for (const [path, entry] of tree) {
    if (path === "") continue;
    if (entry.type === "directory") nodes.set(path, { type: "directory", mode: entry.mode });
    else if (entry.type === "symlink") nodes.set(path, { type: "symlink", mode: 0o777, target: entry.linkTarget! });
    else if (entry.type === "file" || entry.type === "hardlink") {
      const bytes = entry.content ? await images.store.content.readBytes(entry.content) : new Uint8Array(0);
      nodes.set(path, { type: "file", mode: entry.mode, size: entry.size, sha256: sha256(bytes) });
    }
  }
  return nodes;
}

/** Walks a directory tree on disk (what `umoci unpack` made). */
async function diskTree(root: string): Promise<Map<string, Node>> {
  const nodes = new Map<string, Node>();
  const walk = async (dir: string, prefix: string) => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const relative = prefix ? `${prefix}/${name}` : name;
      const stats = await lstat(path);
      if (stats.isDirectory()) {
        nodes.set(relative, { type: "directory", mode: stats.mode & 0o7777 });
        await walk(path, relative);
      } else if (stats.isSymbolicLink()) {
        nodes.set(relative, { type: "symlink", mode: 0o777, target: await readlink(path) });
      } else {
        const bytes = await readFile(path);
        nodes.set(relative, { type: "file", mode: stats.mode & 0o7777, size: bytes.byteLength, sha256: sha256(bytes) });
      }
    }
  };
  await walk(root, "");
  return nodes;
}

async function umociTree(name: keyof typeof IMAGES, platform = "linux/386"): Promise<Map<string, Node>> {
  const rootfs = await umociUnpack(await buildImageLayout(name), IMAGES[name].layoutTags[platform]!);
  temporary.push(dirname(rootfs));
  return diskTree(rootfs);
}

const sorted = (tree: Map<string, Node>) => Object.fromEntries([...tree].sort(([a], [b]) => (a < b ? -1 : 1)));

describe("pulling from a real registry", () => {
  it("pulls busybox with the pushed digests and unpacks the same tree as umoci", async () => {
    const images = await freshImages();
    const progress: LayerProgress[] = [];
    const pulled = await images.pull(seeded.busybox.reference, { onProgress: (p) => progress.push(p) });
    expect(pulled.digest).toBe(seeded.busybox.digest);
    expect(pulled.name).toBe(`${registry.host}/busybox:latest`);
    expect(pulled.details.config.config?.Cmd).toEqual(["sh"]);
    expect(progress.at(-1)?.status).toBe("complete");
    expect(sorted(await mergedTree(images, seeded.busybox.reference))).toEqual(sorted(await umociTree("busybox")));
    expect((await images.pull(seeded.busybox.reference)).upToDate).toBe(true);
  });

  it("keeps whiteouts and opaque directories per layer, and applies to umoci's tree", async () => {
    const images = await freshImages();
    const pulled = await images.pull(seeded.layers.reference);
    expect(pulled.digest).toBe(seeded.layers.digest);
    expect(pulled.details.layers).toHaveLength(3);
    const top = await images.store.layerIndex(pulled.details.layers[2]!);
    const byPath = new Map(top.entries.map((entry) => [entry.path, entry]));
    for (const path of LAYERS.top.whiteouts) expect(byPath.get(path)?.type).toBe("whiteout");
    for (const path of LAYERS.top.opaqueDirs)
      expect(byPath.get(path)).toMatchObject({ type: "directory", opaque: true });
    expect(top.entries.some((entry) => entry.path.includes(".wh."))).toBe(false);
    const base = await images.store.layerIndex(pulled.details.layers[0]!);
    const hardlink = base.entries.find((entry) => entry.path === "data/hardlink.txt");
    expect(hardlink?.content).toBe(base.entries.find((entry) => entry.path === "data/keep.txt")?.content);
    const merged = await mergedTree(images, seeded.layers.reference);
    expect(sorted(merged)).toEqual(sorted(await umociTree("layers")));
    for (const [path, text] of Object.entries(LAYERS.final)) {
      expect(merged.get(path), path).toMatchObject({ type: "file", sha256: sha256(new TextEncoder().encode(text)) });
    }
    expect(merged.has("data/dir/a.txt")).toBe(false);
    expect(merged.has("etc/gone.txt")).toBe(false);
  });

  it("picks linux/386 from a multi-platform index and shares the busybox layer", async () => {
    const images = await freshImages();
    await images.pull(seeded.busybox.reference);
    const progress: LayerProgress[] = [];
    const pulled = await images.pull(seeded.multi.reference, { onProgress: (p) => progress.push(p) });
    expect(pulled.digest).toBe(seeded.multi.digest);
    expect(pulled.details.config.architecture).toBe("386");
    expect(pulled.details.record.manifest.digest).not.toBe(seeded.multi.digest);
    expect(progress.map((p) => p.status)).toEqual(["exists"]);
    expect((await images.images()).map((image) => image.repoTags).sort()).toEqual([
      [`${registry.host}/busybox:latest`],
      [`${registry.host}/multi:latest`],
    ]);
  });

  it("pulls the ~50 MB image with every layer verified", async () => {
    const images = await freshImages();
    const started = performance.now();
    const pulled = await images.pull(seeded.big.reference);
    const seconds = (performance.now() - started) / 1000;
    const bytes = pulled.details.layers.reduce((sum, layer) => sum + layer.blob.size, 0);
    console.info(
      `pulled ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s: ${(bytes / 1e6 / seconds).toFixed(1)} MB/s`,
    );
    expect(pulled.digest).toBe(seeded.big.digest);
    expect(bytes).toBeGreaterThan(45e6);
  });
});

describe("clear errors", () => {
  it("refuses an amd64-only image, naming its platform and the guest's", async () => {
    const error = await failure((await freshImages()).pull(seeded.amd64only.reference));
    expect(error.kind).toBe("notFound");
    expect(error.message).toContain("linux/amd64");
    expect(error.message).toContain("i386");
  });

  it("reports an unknown tag and an unknown repository as notFound", async () => {
    const images = await freshImages();
    const tag = await failure(images.pull(`${registry.host}/busybox:no-such-tag`));
    expect(tag.kind).toBe("notFound");
    expect(tag.message).toContain("busybox:no-such-tag");
    expect((await failure(images.pull(`${registry.host}/no-such-repo`))).kind).toBe("notFound");
  });

  it("needs the right password for a registry with basic auth", async () => {
    const reference = `${authRegistry.host}/busybox`;
    expect((await failure((await freshImages()).pull(reference))).kind).toBe("unauthorized");
    const wrong = await freshImages({ credentials: () => ({ username: "drydock", password: "wrong" }) });
    const error = await failure(wrong.pull(reference));
    expect(error.kind).toBe("unauthorized");
    expect(error.message).toContain("drydock");
    const right = await freshImages({ credentials: () => authRegistry.credentials });
    expect((await right.pull(reference)).digest).toBe(seeded.busybox.digest);
  });

  it("fails a blob corrupted in the registry's storage with dataLoss and commits nothing", async () => {
    const corrupted = await startRegistry();
    try {
      const { layers } = await seedRegistry(corrupted, ["layers"]);
      const manifest = (await (
        await fetch(`${corrupted.url}/v2/layers/manifests/${layers.digest}`, {
          headers: { accept: layers.mediaType },
        })
      ).json()) as { layers: { digest: string }[] };
      const path = blobPath(corrupted, manifest.layers[1]!.digest);
      const bytes = await readFile(path);
      bytes[Math.floor(bytes.byteLength / 2)]! ^= 0xff;
      await writeFile(path, bytes);
      const root = await mkdtemp(join(tmpdir(), "drydock-pull-"));
      temporary.push(root);
      const images = await openNodeImageService(root);
      const error = await failure(images.pull(layers.reference));
      expect(error.kind).toBe("dataLoss");
      expect(await images.images()).toEqual([]);
      const left = await readdir(join(root, "content/blobs/sha256"));
      expect(left).toEqual([]);
      expect(await readdir(join(root, "content/ingest"))).toEqual([]);
    } finally {
      await corrupted.stop();
    }
  });
});
