import { describe, expect, it } from "vitest";
import { FakeRegistry, tar } from "../test/fakes/registry.ts";
import { ImageService, type LayerProgress, type RegistryRequest } from "./index.ts";

describe("ImageService (the facade's pull, images and removeImage)", () => {
  it("pulls, lists and removes an image without a guest", async () => {
    const registry = new FakeRegistry({ auth: "bearer" });
    const layer = await tar([{ header: { name: "hello", type: "file", size: 2 }, body: "hi" }]);
    const pushed = await registry.addImage("team/hello", "v1", [layer]);
    const requests: RegistryRequest[] = [];
    const images = await ImageService.open({ fetch: registry.fetch, onRequest: (r) => requests.push(r) });
    const progress: LayerProgress[] = [];
    const pulled = await images.pull("registry.test/team/hello:v1", { onProgress: (p) => progress.push(p) });
    expect(pulled).toMatchObject({
      name: "registry.test/team/hello:v1",
      id: pushed.config.digest,
      digest: pushed.manifest.digest,
    });
    expect(progress.at(-1)).toMatchObject({ status: "complete", done: pushed.layers[0]!.size });
    expect(requests[0]).toEqual({ method: "GET", url: "https://registry.test/v2/team/hello/manifests/v1" });
    expect((await images.images()).map((image) => image.repoTags)).toEqual([["registry.test/team/hello:v1"]]);
    expect((await images.image("registry.test/team/hello:v1")).config.config?.Cmd).toEqual(["sh"]);
    expect((await images.history("registry.test/team/hello:v1")).map((step) => step.createdBy)).toEqual(["layer 0"]);
    expect(await images.removeImage("registry.test/team/hello:v1")).toEqual([
      { untagged: "registry.test/team/hello:v1" },
      { deleted: pushed.config.digest },
    ]);
    expect(await images.images()).toEqual([]);
  });

  it("sends requests through a proxy when given one", async () => {
    const seen: string[] = [];
    const images = await ImageService.open({
      proxy: "https://proxy.test/registry",
      fetch: async (input) => {
        seen.push(String(input));
        return new Response(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }), {
          status: 404,
        });
      },
    });
    await expect(images.pull("alpine:3.20")).rejects.toThrow("manifest for alpine:3.20 not found");
    expect(seen).toEqual(["https://proxy.test/registry/v2/docker.io/library/alpine/manifests/3.20"]);
  });
});
