// The registry fixtures themselves: a real docker-registry seeded with umoci-built images answers, over plain HTTP,
// what the registry client, image store and proxy tests rely on.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, readdir, readFile, readlink, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { unpackTar } from "modern-tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildImageLayout,
  IMAGES,
  LAYERS,
  MANIFEST_ACCEPT,
  type SeededImage,
  seedRegistry,
  umociUnpack,
} from "../fixtures/images.ts";
import {
  basicAuthorization,
  blobPath,
  REGISTRY_PASSWORD,
  REGISTRY_USER,
  type Registry,
  startRegistry,
} from "../fixtures/registry.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
}
interface Manifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}
interface Index {
  mediaType: string;
  manifests: Descriptor[];
}
interface ImageConfig {
  architecture: string;
  os: string;
  config: { Cmd?: string[]; Env?: string[] };
  rootfs: { diff_ids: string[] };
}

let registry: Registry;
let authRegistry: Registry;
let images: Record<keyof typeof IMAGES, SeededImage>;

beforeAll(async () => {
  [registry, authRegistry] = await Promise.all([startRegistry(), startRegistry({ auth: "basic" })]);
  images = await seedRegistry(registry);
  await seedRegistry(authRegistry, ["busybox"]);
});

afterAll(async () => {
  await Promise.all([registry?.stop(), authRegistry?.stop()]);
});

async function get(path: string, init: RequestInit = {}, from = registry): Promise<Response> {
  return fetch(`${from.url}${path}`, { ...init, headers: { accept: MANIFEST_ACCEPT, ...init.headers } });
}

/** GETs a manifest or blob and checks that its bytes hash to the digest the registry names it by. */
async function getVerified(repository: string, kind: "manifests" | "blobs", digest: string): Promise<Buffer> {
  const response = await get(`/v2/${repository}/${kind}/${digest}`);
  expect(response.status, `${kind}/${digest}`).toBe(200);
  const bytes = Buffer.from(await response.arrayBuffer());
  expect(`sha256:${createHash("sha256").update(bytes).digest("hex")}`).toBe(digest);
  return bytes;
}

async function manifestOf(image: SeededImage, digest = image.digest): Promise<Manifest> {
  return JSON.parse((await getVerified(image.repository, "manifests", digest)).toString());
}

async function configOf(image: SeededImage, manifest: Manifest): Promise<ImageConfig> {
  return JSON.parse((await getVerified(image.repository, "blobs", manifest.config.digest)).toString());
}

it("GET /v2/ answers 200", async () => {
  const response = await get("/v2/");
  expect(response.status).toBe(200);
  expect(response.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
});

describe("every seeded image", () => {
  it("is served by tag with its media type and the digest seedRegistry reported", async () => {
    for (const image of Object.values(images)) {
      const response = await get(`/v2/${image.repository}/manifests/${image.tag}`, { method: "HEAD" });
      expect(response.status, image.name).toBe(200);
      expect(response.headers.get("docker-content-digest")).toBe(image.digest);
      // An image of several platforms is an index; one of a single platform (or an artifact) is a manifest.
      const platforms = Object.keys(image.layoutTags).length;
      expect(response.headers.get("content-type"), image.name).toBe(platforms > 1 ? OCI_INDEX : OCI_MANIFEST);
      expect(image.mediaType).toBe(response.headers.get("content-type"));
      expect(image.reference).toBe(`${registry.host}/${image.repository}:${image.tag}`);
    }
  });

  it("has every blob its manifests name, matching their digests", async () => {
    for (const image of Object.values(images)) {
      if (image.name === "big") continue; // its 50 MB are for the benchmarks; sizes are checked below
      const top = JSON.parse((await getVerified(image.repository, "manifests", image.digest)).toString());
      const manifests: Manifest[] = image.mediaType === OCI_INDEX ? [] : [top];
      for (const child of (top as Index).manifests ?? []) manifests.push(await manifestOf(image, child.digest));
      for (const manifest of manifests) {
        for (const blob of [manifest.config, ...manifest.layers]) {
          expect((await getVerified(image.repository, "blobs", blob.digest)).length).toBe(blob.size);
        }
      }
    }
  });

  it("is the same manifest as its cached OCI layout", async () => {
    const layout = await buildImageLayout("layers");
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as Index;
    expect(index.manifests.map((m) => m.digest)).toContain(images.layers.digest);
  });
});

describe("busybox", () => {
  it("is a linux/386 image that runs sh", async () => {
    const manifest = await manifestOf(images.busybox);
    expect(manifest.layers).toHaveLength(1);
    const config = await configOf(images.busybox, manifest);
    expect([config.os, config.architecture]).toEqual(["linux", "386"]);
    expect(config.config.Cmd).toEqual(["sh"]);
    expect(config.config.Env?.some((e) => e.startsWith("PATH="))).toBe(true);
  });

  it("unpacks to /bin/busybox with applet symlinks", async () => {
    const rootfs = await umociUnpack(await buildImageLayout("busybox"), IMAGES.busybox.layoutTags["linux/386"]!);
    try {
      expect((await lstat(join(rootfs, "bin/busybox"))).mode & 0o111).not.toBe(0);
      for (const applet of ["sh", "echo", "ls", "cat", "true"]) {
        expect(await readlink(join(rootfs, "bin", applet))).toBe("busybox");
      }
    } finally {
      await rm(dirname(rootfs), { recursive: true, force: true });
    }
  });
});

describe("layers", () => {
  it("has three layers; the top one holds a whiteout and an opaque-directory marker", async () => {
    const manifest = await manifestOf(images.layers);
    expect(manifest.layers).toHaveLength(3);
    const top = manifest.layers[2]!;
    const tar = gunzipSync(await getVerified(images.layers.repository, "blobs", top.digest));
    const names = (await unpackTar(tar)).map((entry) => entry.header.name);
    expect(names).toContain("etc/.wh.gone.txt");
    expect(names).toContain("data/dir/.wh..wh..opq");
    expect(names).toContain("data/dir/new.txt");
  });

  it("unpacks (umoci) to exactly the final tree LAYERS describes", async () => {
    const rootfs = await umociUnpack(await buildImageLayout("layers"), IMAGES.layers.layoutTags["linux/386"]!);
    try {
      for (const [path, content] of Object.entries(LAYERS.final)) {
        expect(await readFile(join(rootfs, path), "utf8"), path).toBe(content);
      }
      expect(existsSync(join(rootfs, "etc/gone.txt"))).toBe(false);
      expect(await readdir(join(rootfs, "data/dir"))).toEqual(["new.txt"]);
      expect(await readlink(join(rootfs, "data/symlink"))).toBe("keep.txt");
      expect((await lstat(join(rootfs, "data/run.sh"))).mode & 0o777).toBe(0o755);
    } finally {
      await rm(dirname(rootfs), { recursive: true, force: true });
    }
  });
});

describe("multi", () => {
  it("is an index of linux/386 and linux/amd64 that share the busybox layer", async () => {
    const index = JSON.parse((await getVerified("multi", "manifests", images.multi.digest)).toString()) as Index;
    expect(index.mediaType).toBe(OCI_INDEX);
    const platforms = index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`);
    expect(platforms.sort()).toEqual(["linux/386", "linux/amd64"]);
    const busyboxLayers = (await manifestOf(images.busybox)).layers.map((l) => l.digest);
    for (const descriptor of index.manifests) {
      expect(descriptor.mediaType).toBe(OCI_MANIFEST);
      const manifest = await manifestOf(images.multi, descriptor.digest);
      expect(manifest.layers.map((l) => l.digest)).toEqual(busyboxLayers);
      expect((await configOf(images.multi, manifest)).architecture).toBe(descriptor.platform?.architecture);
    }
  });
});

it("amd64only is a single manifest whose config is linux/amd64", async () => {
  const manifest = await manifestOf(images.amd64only);
  const config = await configOf(images.amd64only, manifest);
  expect([config.os, config.architecture]).toEqual(["linux", "amd64"]);
});

it("big is about 50 MB of incompressible layers", async () => {
  const manifest = await manifestOf(images.big);
  expect(manifest.layers.length).toBeGreaterThanOrEqual(3);
  expect(manifest.layers.length).toBeLessThanOrEqual(5);
  const total = manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
  expect(total).toBeGreaterThan(45e6);
  expect(total).toBeLessThan(60e6);
  const config = await configOf(images.big, manifest);
  expect(config.architecture).toBe("386");
});

it("blobPath names the file the registry serves a blob from", async () => {
  const manifest = await manifestOf(images.busybox);
  const onDisk = await readFile(blobPath(registry, manifest.config.digest));
  expect(onDisk).toEqual(await getVerified("busybox", "blobs", manifest.config.digest));
});

describe("the registry behind basic auth", () => {
  it("challenges a request without credentials", async () => {
    const response = await get("/v2/", {}, authRegistry);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Basic realm="/);
  });

  it("refuses a wrong password", async () => {
    const authorization = basicAuthorization({ username: REGISTRY_USER, password: "wrong" });
    expect((await get("/v2/", { headers: { authorization } }, authRegistry)).status).toBe(401);
  });

  it("serves busybox to its user", async () => {
    expect(authRegistry.credentials).toEqual({ username: REGISTRY_USER, password: REGISTRY_PASSWORD });
    const headers = { authorization: basicAuthorization(authRegistry.credentials!) };
    expect((await get("/v2/", { headers }, authRegistry)).status).toBe(200);
    const response = await get("/v2/busybox/manifests/latest", { method: "HEAD", headers }, authRegistry);
    expect(response.status).toBe(200);
    expect(response.headers.get("docker-content-digest")).toBe(images.busybox.digest);
  });
});

it("stop() frees the port and removes the storage", async () => {
  const scratch = await startRegistry();
  const port = Number(new URL(scratch.url).port);
  await scratch.stop();
  await scratch.stop(); // twice is fine
  await expect(fetch(`${scratch.url}/v2/`)).rejects.toThrow();
  expect(existsSync(scratch.storageDir)).toBe(false);
  await new Promise<void>((resolve, reject) => {
    const server = createServer().once("error", reject);
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
});
