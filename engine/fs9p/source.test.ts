// The image store as a LayerSource: layers found by chain id whatever image brought them, listed for the share's
// root, read by byte range, and gone once the image that held them is removed.
import { describe, expect, it } from "vitest";
import { FakeRegistry, tar } from "../../test/fakes/registry.ts";
import { MemoryContentStore, MemoryMetadataStore } from "../content/index.ts";
import { ImageStore } from "../images/index.ts";
import type { Digest } from "../oci/index.ts";
import { RegistryClient } from "../registry/index.ts";
import { imageStoreLayers } from "./index.ts";

const file = (name: string, body: string) => ({
  header: { name, type: "file" as const, size: body.length, mode: 0o644 },
  body,
});

async function setup() {
  const registry = new FakeRegistry();
  const client = new RegistryClient({
    fetch: registry.fetch,
    retry: { sleep: async () => {} },
    endpoint: (reference) => ({ baseUrl: registry.baseUrl, repository: reference.repository }),
  });
  const store = new ImageStore({
    content: new MemoryContentStore(),
    metadata: new MemoryMetadataStore(),
    registry: client,
  });
  const base = await tar([file("etc/os-release", "NAME=fake\n")]);
  const app = await tar([file("app/main", "print('hello, layers')\n")]);
  await registry.addImage("team/base", "1", [base]);
  await registry.addImage("team/app", "1", [base, app]);
  return { store, source: imageStoreLayers(store) };
}

describe("imageStoreLayers", () => {
  it("finds every layer of every image by chain id, and lists them once each", async () => {
    const { store, source } = await setup();
    const base = await store.pull("registry.test/team/base:1");
    const app = await store.pull("registry.test/team/app:1");
    expect(app.layers[0]!.chainId).toBe(base.layers[0]!.chainId);
    expect((await source.chainIds!()).sort()).toEqual(app.layers.map((layer) => layer.chainId).sort());
    const index = await source.layerIndex(app.layers[1]!.chainId);
    expect(index?.entries.map((entry) => entry.path)).toEqual(["", "app", "app/main"]);
    const main = index!.entries[2]!;
    expect(new TextDecoder().decode(await source.readContent(main.content!, 7, 6))).toBe("hello,");
  });

  it("finds a layer pulled after the source was made, and loses one whose image was removed", async () => {
    const { store, source } = await setup();
    const unknown = `sha256:${"0".repeat(64)}` as Digest;
    expect(await source.layerIndex(unknown)).toBeUndefined();
    const app = await store.pull("registry.test/team/app:1");
    const top = app.layers[1]!.chainId;
    expect(await source.layerIndex(top)).toBeDefined();
    await store.remove("registry.test/team/app:1");
    expect(await source.layerIndex(top)).toBeUndefined();
    expect(await source.chainIds!()).toEqual([]);
  });
});
