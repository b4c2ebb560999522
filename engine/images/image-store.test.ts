import { describe, expect, it } from "vitest";
import { FakeRegistry, gzip, jsonBytes, tar } from "../../test/fakes/registry.ts";
import { MemoryContentStore, MemoryMetadataStore } from "../content/index.ts";
import { isEngineError } from "../errors.ts";
import { digestOf, MediaType } from "../oci/index.ts";
import { RegistryClient } from "../registry/index.ts";
import { ImageStore, type LayerProgress } from "./image-store.ts";

const file = (name: string, body: string) => ({
  header: { name, type: "file" as const, size: body.length, mode: 0o644 },
  body,
});

function setup(registry = new FakeRegistry()) {
  const content = new MemoryContentStore();
  const metadata = new MemoryMetadataStore();
  const client = new RegistryClient({
    fetch: registry.fetch,
    retry: { sleep: async () => {} },
    endpoint: (reference) => ({ baseUrl: registry.baseUrl, repository: reference.repository }),
  });
  const store = new ImageStore({ content, metadata, registry: client });
  return { registry, content, metadata, client, store };
}

async function errorOf(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    if (isEngineError(error)) return error;
    throw error;
  }
  throw new Error("expected a failure");
}

const base = await tar([file("etc/os-release", "NAME=fake\n"), file("bin/sh", "#!shell")]);
const app = await tar([file("app/main", "print('hi')\n")]);
const tool = await tar([file("usr/bin/tool", "tool")]);

describe("pulling", () => {
  it("pulls, names and lists an image, with per-layer progress", async () => {
    const { registry, store } = setup();
    const pushed = await registry.addImage("team/app", "1", [base, app]);
    const progress: LayerProgress[] = [];
    const details = await store.pull("registry.test/team/app:1", { onProgress: (p) => progress.push(p) });
    expect(details.record.name).toBe("registry.test/team/app:1");
    expect(details.record.manifest.digest).toBe(pushed.manifest.digest);
    expect(details.layers.map((layer) => layer.diffId)).toEqual(pushed.diffIds);
    expect(details.layers[1]?.parent).toBe(details.layers[0]?.chainId);
    const list = await store.list();
    expect(list).toEqual([
      {
        id: pushed.config.digest,
        repoTags: ["registry.test/team/app:1"],
        repoDigests: [`registry.test/team/app@${pushed.manifest.digest}`],
        created: "2024-01-01T00:00:00Z",
        size: base.byteLength + app.byteLength,
        architecture: "386",
        os: "linux",
        labels: {},
      },
    ]);
    for (const layer of pushed.layers) {
      const events = progress.filter((p) => p.digest === layer.digest).map((p) => p.status);
      expect(events[0]).toBe("waiting");
      expect(events).toContain("downloading");
      expect(events.at(-1)).toBe("complete");
    }
    const last = progress.filter((p) => p.digest === pushed.layers[0]!.digest && p.status === "downloading").at(-1);
    expect(last).toMatchObject({ done: pushed.layers[0]!.size, total: pushed.layers[0]!.size });
  });

  it("serves unpacked files from the layer index", async () => {
    const { registry, store, content } = setup();
    await registry.addImage("app", "1", [base]);
    const { upToDate, ...details } = await store.pull("registry.test/app:1");
    expect(upToDate).toBe(false);
    const index = await store.layerIndex(details.layers[0]!);
    const sh = index.entries.find((entry) => entry.path === "bin/sh")!;
    expect(new TextDecoder().decode(await content.readBytes(sh.content!))).toBe("#!shell");
    expect(await store.get("registry.test/app:1")).toEqual(details);
    expect(await store.get(details.record.config.digest.slice(7, 19))).toEqual(details);
  });

  it("answers a second pull of an unchanged tag with one HEAD request", async () => {
    const { registry, store } = setup();
    const pushed = await registry.addImage("app", "1", [base, app]);
    await store.pull("registry.test/app:1");
    registry.requests.length = 0;
    const progress: LayerProgress[] = [];
    const again = await store.pull("registry.test/app:1", { onProgress: (p) => progress.push(p) });
    expect(again.upToDate).toBe(true);
    expect(registry.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual([
      "HEAD /v2/app/manifests/1",
    ]);
    expect(progress.map((p) => p.status)).toEqual(["exists", "exists"]);
    registry.requests.length = 0;
    expect((await store.pull(`registry.test/app@${pushed.manifest.digest}`)).upToDate).toBe(false);
    expect((await store.pull(`registry.test/app@${pushed.manifest.digest}`)).upToDate).toBe(true);
  });

  it("downloads and unpacks a layer shared by two images once", async () => {
    const { registry, store } = setup();
    const first = await registry.addImage("one", "1", [base, app]);
    await registry.addImage("two", "1", [base, tool]);
    await store.pull("registry.test/one:1");
    const progress: LayerProgress[] = [];
    await store.pull("registry.test/two:1", { onProgress: (p) => progress.push(p) });
    const baseBlob = first.layers[0]!.digest;
    expect(registry.requests.filter((r) => r.url.endsWith(baseBlob))).toHaveLength(1);
    expect(progress.filter((p) => p.digest === baseBlob).map((p) => p.status)).toEqual(["exists"]);
    expect((await store.list()).map((image) => image.repoTags[0])).toEqual([
      "registry.test/one:1",
      "registry.test/two:1",
    ]);
  });

  it("pulls two images sharing a layer at the same time with one download of it", async () => {
    const { registry, store } = setup();
    const first = await registry.addImage("one", "1", [base, app]);
    await registry.addImage("two", "1", [base, tool]);
    await Promise.all([store.pull("registry.test/one:1"), store.pull("registry.test/two:1")]);
    expect(registry.requests.filter((r) => r.url.endsWith(first.layers[0]!.digest))).toHaveLength(1);
    expect(await store.list()).toHaveLength(2);
  });

  it("fails a corrupted layer with dataLoss and commits nothing", async () => {
    const { registry, store, content } = setup();
    const pushed = await registry.addImage("app", "1", [base, app]);
    const blob = registry.blobs.get(pushed.layers[1]!.digest)!;
    const corrupt = blob.slice();
    corrupt[20]! ^= 0x55;
    registry.blobs.set(pushed.layers[1]!.digest, corrupt);
    const error = await errorOf(store.pull("registry.test/app:1"));
    expect(error.kind).toBe("dataLoss");
    expect(await store.list()).toEqual([]);
    expect(await content.usage()).toEqual({ count: 0, size: 0 });
  });

  it("fails when a layer does not unpack to the config's diff id, and commits nothing", async () => {
    const { registry, store, content } = setup();
    const layer = registry.addBlob(await gzip(base));
    const config = registry.addBlob(
      jsonBytes({ architecture: "386", os: "linux", rootfs: { type: "layers", diff_ids: [digestOf(app)] } }),
      MediaType.ociImageConfig,
    );
    registry.addManifest(
      "app",
      { schemaVersion: 2, mediaType: MediaType.ociImageManifest, config, layers: [layer] },
      MediaType.ociImageManifest,
      "1",
    );
    const error = await errorOf(store.pull("registry.test/app:1"));
    expect(error.kind).toBe("dataLoss");
    expect(error.message).toContain("but the image config says");
    expect(await content.usage()).toEqual({ count: 0, size: 0 });
  });

  it("keeps the other image's blobs when a pull fails", async () => {
    const { registry, store, content } = setup();
    await registry.addImage("good", "1", [base]);
    const bad = await registry.addImage("bad", "1", [base, app]);
    registry.blobs.set(bad.layers[1]!.digest, new Uint8Array(bad.layers[1]!.size));
    await store.pull("registry.test/good:1");
    const before = await content.usage();
    await errorOf(store.pull("registry.test/bad:1"));
    expect(await content.usage()).toEqual(before);
    await store.get("registry.test/good:1");
  });
});

describe("removing", () => {
  it("untags, then deletes what no image uses, keeping shared layers", async () => {
    const { registry, store, content } = setup();
    await registry.addImage("one", "1", [base, app]);
    await registry.addImage("two", "1", [base, tool]);
    await store.pull("registry.test/one:1");
    const onlyTwo = setup(registry);
    await onlyTwo.store.pull("registry.test/two:1");
    await store.pull("registry.test/two:1");
    const one = await store.get("registry.test/one:1");
    const removed = await store.remove("registry.test/one:1");
    expect(removed).toEqual([{ untagged: "registry.test/one:1" }, { deleted: one.record.config.digest }]);
    expect(await content.usage()).toEqual(await onlyTwo.content.usage());
    await store.remove("registry.test/two:1");
    expect(await content.usage()).toEqual({ count: 0, size: 0 });
    expect(await store.list()).toEqual([]);
  });

  it("needs force to remove an image ID that has several names", async () => {
    const { registry, store } = setup();
    const pushed = await registry.addImage("app", "1", [base]);
    registry.addManifest("app", registry.manifests.get("app")!.get("1")!.bytes, MediaType.ociImageManifest, "latest");
    await store.pull("registry.test/app:1");
    await store.pull("registry.test/app");
    const id = pushed.config.digest;
    expect((await errorOf(store.remove(id))).kind).toBe("conflict");
    expect(await store.remove("registry.test/app:latest")).toEqual([{ untagged: "registry.test/app:latest" }]);
    expect(await store.remove(id.slice(7, 19), { force: true })).toEqual([
      { untagged: "registry.test/app:1" },
      { deleted: id },
    ]);
  });

  it("reports an unknown image as notFound", async () => {
    const { store } = setup();
    expect((await errorOf(store.remove("nothing"))).kind).toBe("notFound");
    expect((await errorOf(store.get("nothing"))).kind).toBe("notFound");
  });

  it("collects the old image when a tag moves", async () => {
    const { registry, store, content } = setup();
    await registry.addImage("app", "1", [base]);
    await store.pull("registry.test/app:1");
    await registry.addImage("app", "1", [app]);
    await store.pull("registry.test/app:1");
    const fresh = setup(registry);
    await fresh.store.pull("registry.test/app:1");
    expect(await content.usage()).toEqual(await fresh.content.usage());
  });
});

describe("history", () => {
  it("lists build steps newest first, each with the layer it added", async () => {
    const { registry, store } = setup();
    await registry.addImage("app", "1", [base, app], {
      config: {
        history: [
          { created_by: "ADD base /", created: "2024-01-01T00:00:00Z" },
          { created_by: "ENV A=1", empty_layer: true },
          { created_by: "COPY app /app" },
        ],
      },
    });
    const details = await store.pull("registry.test/app:1");
    expect(await store.history("registry.test/app:1")).toEqual([
      {
        createdBy: "COPY app /app",
        size: app.byteLength,
        diffId: details.layers[1]!.diffId,
        id: details.record.config.digest,
      },
      { createdBy: "ENV A=1", size: 0 },
      {
        createdBy: "ADD base /",
        created: "2024-01-01T00:00:00Z",
        size: base.byteLength,
        diffId: details.layers[0]!.diffId,
      },
    ]);
  });
});

describe("persistence", () => {
  it("finds pulled images again through a new store on the same storage", async () => {
    const { registry, store, content, metadata, client } = setup();
    await registry.addImage("app", "1", [base]);
    const { upToDate: _, ...details } = await store.pull("registry.test/app:1");
    const reopened = new ImageStore({ content, metadata, registry: client });
    expect(await reopened.get("registry.test/app:1")).toEqual(details);
  });
});

describe("creating images here (build, commit, load)", () => {
  it("stores a layer tar on a pulled image's layers, names it, and lists it without a registry digest", async () => {
    const { registry, store } = setup();
    await registry.addImage("team/app", "1", [base]);
    const pulled = await store.pull("registry.test/team/app:1");
    const created = await store.create({
      config: {
        ...pulled.config,
        history: [...(pulled.config.history ?? [{}]), { created_by: "COPY main /app/" }],
      },
      layers: [...pulled.layers.map((stored) => ({ stored })), { tar: app, mediaType: MediaType.ociLayerTar }],
      names: ["mine:1"],
      parent: pulled.record.config.digest,
    });
    expect(created.record.name).toBe("docker.io/library/mine:1");
    expect(created.layers).toHaveLength(2);
    expect(created.layers[1]?.parent).toBe(pulled.layers[0]?.chainId);
    expect(created.layers[1]?.diffId).toBe(digestOf(app));
    const index = await store.layerIndex(created.layers[1]!);
    expect(index.entries.map((entry) => entry.path)).toContain("app/main");
    const listed = (await store.list()).find((image) => image.id === created.record.config.digest);
    expect(listed).toMatchObject({ repoTags: ["mine:1"], repoDigests: [] });
    const history = await store.history("mine:1");
    expect(history[0]).toMatchObject({ createdBy: "COPY main /app/", id: created.record.config.digest });
    // The step below is the pulled image, stored under its own ID.
    expect(history[1]?.id).toBe(pulled.record.config.digest);
  });

  it("keeps untagged build steps for the cache, hides them from the list, and removes them with their image", async () => {
    const { registry, store } = setup();
    await registry.addImage("team/app", "1", [base]);
    const pulled = await store.pull("registry.test/team/app:1");
    const layers = pulled.layers.map((stored) => ({ stored }));
    const step1 = await store.create({
      config: { ...pulled.config, history: [{}, { created_by: "ENV A=1", empty_layer: true }] },
      layers,
      parent: pulled.record.config.digest,
      cacheKey: "k1",
    });
    const step2 = await store.create({
      config: { ...pulled.config, history: [{}, { created_by: "COPY", empty_layer: false }] },
      layers: [...layers, { tar: tool, mediaType: MediaType.ociLayerTar }],
      parent: step1.record.config.digest,
      cacheKey: "k2",
      names: ["tool:latest"],
    });
    expect((await store.cached("k1"))?.record.config.digest).toBe(step1.record.config.digest);
    const ids = (await store.list()).map((image) => image.id);
    expect(ids).not.toContain(step1.record.config.digest);
    expect((await store.list({ all: true })).map((image) => image.id)).toContain(step1.record.config.digest);
    const removed = await store.remove("tool");
    expect(removed).toEqual([
      { untagged: "tool:latest" },
      { deleted: step2.record.config.digest },
      { deleted: step1.record.config.digest },
    ]);
    expect(await store.cached("k1")).toBeUndefined();
  });

  it("prunes a dangling image and its steps, and says how many bytes that freed", async () => {
    const { registry, store } = setup();
    await registry.addImage("team/app", "1", [base]);
    const pulled = await store.pull("registry.test/team/app:1");
    const made = await store.create({
      config: { ...pulled.config, history: [{}, { created_by: "RUN make" }] },
      layers: [...pulled.layers.map((stored) => ({ stored })), { tar: tool, mediaType: MediaType.ociLayerTar }],
      parent: pulled.record.config.digest,
    });
    expect((await store.list()).find((image) => image.id === made.record.config.digest)?.repoTags).toEqual([]);
    const { items, reclaimed } = await store.prune();
    expect(items).toEqual([{ deleted: made.record.config.digest }]);
    expect(reclaimed).toBeGreaterThan(tool.byteLength);
    expect((await store.list()).map((image) => image.id)).toEqual([pulled.record.config.digest]);
  });
});
