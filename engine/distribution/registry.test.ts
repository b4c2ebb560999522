import { packTar } from "modern-tar";
import { describe, expect, it } from "vitest";
import { ImageService } from "../image-service.ts";
import { digestOf } from "../oci/index.ts";
import type { RegistryEnvelope } from "./index.ts";

async function serviceWithImage(): Promise<ImageService> {
  const images = await ImageService.open({
    // Nothing may leave: the engine's own registry is reached in-process.
    fetch: async (input) => {
      throw new Error(`unexpected network request to ${String(input)}`);
    },
  });
  const tar = await packTar([
    { header: { name: "hello.txt", size: 6, mode: 0o640, uid: 1000, gid: 1000 }, body: "hello\n" },
    { header: { name: "link", size: 0, type: "symlink", linkname: "hello.txt" } },
  ]);
  await images.store.create({
    config: { architecture: "386", os: "linux", config: { Cmd: ["cat", "/hello.txt"] } },
    layers: [{ tar, mediaType: "application/vnd.oci.image.layer.v1.tar" }],
    names: ["app:1"],
  });
  return images;
}

describe("the engine's own registry (localhost:5000)", () => {
  it("push, list, remove, pull back: same image ID and digest, offline; a push notifies subscribers", async () => {
    const images = await serviceWithImage();
    const registry = images.registry!;
    const envelopes: RegistryEnvelope[] = [];
    const unsubscribe = registry.subscribe((envelope) => envelopes.push(envelope));
    const id = (await images.image("app:1")).record.config.digest;
    await images.tag("app:1", "localhost:5000/app:1");

    const statuses: string[] = [];
    const [pushed] = await images.push("localhost:5000/app:1", {
      onProgress: (progress) => statuses.push(progress.status),
    });
    expect(statuses).toContain("pushed");
    expect(pushed?.tag).toBe("1");

    const repositories = await registry.repositories();
    expect(repositories).toEqual([
      {
        name: "app",
        tags: [{ tag: "1", digest: pushed!.digest, mediaType: expect.any(String), size: expect.any(Number) }],
      },
    ]);
    expect(repositories[0]!.tags[0]!.size).toBeGreaterThan(pushed!.size);

    const push = envelopes.flatMap((envelope) => envelope.events).find((event) => event.action === "push");
    expect(push?.target).toMatchObject({ repository: "app", tag: "1", digest: pushed!.digest, size: pushed!.size });
    expect(push?.target.url).toBe(`http://localhost:5000/v2/app/manifests/${pushed!.digest}`);

    // Pushed again, every blob is there already.
    const again: string[] = [];
    await images.push("localhost:5000/app:1", { onProgress: (progress) => again.push(progress.status) });
    expect(again).toContain("exists");
    expect(again).not.toContain("pushed");

    await images.removeImage("localhost:5000/app:1");
    await images.removeImage("app:1");
    expect(await images.images()).toEqual([]);

    const pulled = await images.pull("localhost:5000/app:1");
    expect(pulled.id).toBe(id);
    expect(pulled.digest).toBe(pushed!.digest);
    unsubscribe();
  });

  it("answers the distribution API: catalog, tags, chunked uploads, mounts, and refuses a wrong digest", async () => {
    const images = await serviceWithImage();
    const registry = images.registry!;
    const call = (method: string, path: string, init: RequestInit = {}) =>
      registry.fetch(new Request(`http://localhost:5000${path}`, { method, ...init }));

    expect((await call("GET", "/v2/")).status).toBe(200);
    const blob = new TextEncoder().encode("some bytes of a blob, sent in two chunks");
    const digest = digestOf(blob);

    const start = await call("POST", "/v2/lib/thing/blobs/uploads/");
    expect(start.status).toBe(202);
    let location = start.headers.get("location")!;
    const first = await call("PATCH", location, {
      body: blob.subarray(0, 10),
      headers: { "content-range": "0-9" },
    });
    expect(first.status).toBe(202);
    expect(first.headers.get("range")).toBe("0-9");
    location = first.headers.get("location")!;
    const outOfOrder = await call("PATCH", location, {
      body: blob.subarray(20),
      headers: { "content-range": "20-39" },
    });
    expect(outOfOrder.status).toBe(416);
    await call("PATCH", location, { body: blob.subarray(10), headers: { "content-range": `10-${blob.length - 1}` } });
    const wrong = await call("PUT", `${location}?digest=${digestOf(new Uint8Array([1]))}`);
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("DIGEST_INVALID");

    const again = await call("POST", "/v2/lib/thing/blobs/uploads/");
    const done = await call("PUT", `${again.headers.get("location")}?digest=${digest}`, { body: blob });
    expect(done.status).toBe(201);
    expect((await call("HEAD", `/v2/lib/thing/blobs/${digest}`)).status).toBe(200);
    // Another repository does not hold it until it is mounted from this one.
    expect((await call("HEAD", `/v2/other/blobs/${digest}`)).status).toBe(404);
    const mounted = await call("POST", `/v2/other/blobs/uploads/?mount=${digest}&from=lib/thing`);
    expect(mounted.status).toBe(201);
    expect(new Uint8Array(await (await call("GET", `/v2/other/blobs/${digest}`)).arrayBuffer())).toEqual(blob);

    const manifest = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest, size: blob.length },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: digestOf(new Uint8Array([9])), size: 1 },
        ],
      }),
    );
    const missing = await call("PUT", "/v2/other/manifests/v1", {
      body: manifest,
      headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("MANIFEST_BLOB_UNKNOWN");
    expect(await (await call("GET", "/v2/_catalog")).json()).toEqual({ repositories: ["lib/thing", "other"] });
    expect((await call("GET", "/v2/nope/tags/list")).status).toBe(404);
  });
});
