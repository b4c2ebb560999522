import { describe, expect, it } from "vitest";
import { FakeRegistry, jsonBytes } from "../../test/fakes/registry.ts";
import { isEngineError } from "../errors.ts";
import { digestOf, MediaType, parseReference } from "../oci/index.ts";
import { proxyEndpoint, RegistryClient, type RegistryClientOptions } from "./client.ts";

const noWait = { sleep: async () => {} };

/** A client whose endpoint keeps the reference's repository (the usual case). */
function clientFor(registry: FakeRegistry, options: RegistryClientOptions = {}) {
  return new RegistryClient({
    fetch: registry.fetch,
    retry: noWait,
    endpoint: (reference) => ({ baseUrl: registry.baseUrl, repository: reference.repository }),
    ...options,
  });
}

async function failure(promise: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isEngineError(error)) return { kind: error.kind, message: error.message };
    throw error;
  }
  throw new Error("expected the call to fail");
}

const ref = (text: string) => parseReference(`registry.test/${text}`);
const layerBytes = new TextEncoder().encode("layer bytes, pretend they are a gzipped tar");

async function simpleImage(registry: FakeRegistry, repository = "app", tag = "1", architecture = "386") {
  return registry.addImage(repository, tag, [new Uint8Array(1024).fill(7)], { architecture });
}

describe("resolving references", () => {
  it("fetches a tagged manifest with the OCI and Docker Accept types and computes its digest", async () => {
    const registry = new FakeRegistry();
    const image = await simpleImage(registry);
    const resolved = await clientFor(registry).resolve(ref("app:1"));
    expect(resolved.descriptor).toEqual(image.manifest);
    expect(resolved.document.kind).toBe("manifest");
    const accept = registry.requests[0]?.headers.accept ?? "";
    for (const type of [
      MediaType.ociImageIndex,
      MediaType.ociImageManifest,
      MediaType.dockerManifestList,
      MediaType.dockerManifest,
    ]) {
      expect(accept).toContain(type);
    }
  });

  it("follows an index to the linux/386 manifest, whatever its variant", async () => {
    const registry = new FakeRegistry();
    const i386 = await simpleImage(registry, "multi", undefined, "386");
    const amd64 = await simpleImage(registry, "multi", undefined, "amd64");
    registry.addIndex("multi", "latest", [
      { manifest: amd64.manifest, platform: { os: "linux", architecture: "amd64" } },
      { manifest: i386.manifest, platform: { os: "linux", architecture: "386", variant: "i686" } },
    ]);
    const image = await clientFor(registry).resolveImage(ref("multi"));
    expect(image.target.mediaType).toBe(MediaType.ociImageIndex);
    expect(image.manifest.descriptor.digest).toBe(i386.manifest.digest);
    expect(image.config.config.architecture).toBe("386");
    expect(image.config.config.rootfs.diff_ids).toEqual(i386.diffIds);
  });

  it("says which platforms an image has when none is linux/386", async () => {
    const registry = new FakeRegistry();
    const amd64 = await simpleImage(registry, "ubuntu", undefined, "amd64");
    registry.addIndex("ubuntu", "latest", [
      { manifest: amd64.manifest, platform: { os: "linux", architecture: "amd64" } },
      { manifest: amd64.manifest, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      { manifest: amd64.manifest, platform: { os: "unknown", architecture: "unknown" } },
    ]);
    const error = await failure(clientFor(registry).resolveImage(ref("ubuntu")));
    expect(error.kind).toBe("notFound");
    expect(error.message).toContain("has no linux/386 or wasi/wasm image (it has linux/amd64, linux/arm64/v8)");
    expect(error.message).toContain("i386");
  });

  it("picks wasi/wasm when asked (past unknown/unknown attestations), linux/386 by default", async () => {
    const registry = new FakeRegistry();
    const i386 = await simpleImage(registry, "app", undefined, "386");
    const wasm = await registry.addImage("app", undefined, [new Uint8Array(1024).fill(9)], {
      architecture: "wasm",
      config: { os: "wasi" },
    });
    registry.addIndex("app", "latest", [
      { manifest: i386.manifest, platform: { os: "unknown", architecture: "unknown" } },
      { manifest: wasm.manifest, platform: { os: "wasi", architecture: "wasm" } },
      { manifest: i386.manifest, platform: { os: "linux", architecture: "386" } },
    ]);
    const client = clientFor(registry);
    const picked = await client.resolveImage(ref("app"), { os: "wasi", architecture: "wasm" });
    expect(picked.manifest.descriptor.digest).toBe(wasm.manifest.digest);
    expect(picked.config.config.os).toBe("wasi");
    expect((await client.resolveImage(ref("app"))).manifest.descriptor.digest).toBe(i386.manifest.digest);
  });

  it("reads a CNCF wasm artifact (application/wasm layer, wasm config) as a wasi/wasm image", async () => {
    const registry = new FakeRegistry();
    const module = registry.addBlob(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), "application/wasm");
    const config = registry.addBlob(
      jsonBytes({ architecture: "wasm", os: "wasip1", layerDigests: [module.digest] }),
      "application/vnd.wasm.config.v0+json",
    );
    registry.addManifest(
      "artifact",
      {
        schemaVersion: 2,
        mediaType: MediaType.ociImageManifest,
        config,
        layers: [{ ...module, annotations: { "org.opencontainers.image.title": "hello.wasm" } }],
      },
      MediaType.ociImageManifest,
      "latest",
    );
    const image = await clientFor(registry).resolveImage(ref("artifact"));
    expect(image.config.config).toMatchObject({
      os: "wasi",
      architecture: "wasm",
      config: { Entrypoint: ["/hello.wasm"] },
    });
    expect(image.config.config.rootfs.diff_ids).toHaveLength(1);
  });

  it("checks the platform of a single-manifest image in its config", async () => {
    const registry = new FakeRegistry();
    await simpleImage(registry, "amd64only", "latest", "amd64");
    const error = await failure(clientFor(registry).resolveImage(ref("amd64only")));
    expect(error).toMatchObject({ kind: "notFound" });
    expect(error.message).toContain("(it has linux/amd64)");
  });

  it("reports an unknown tag and an unknown repository as notFound", async () => {
    const registry = new FakeRegistry();
    await simpleImage(registry);
    const client = clientFor(registry);
    const tag = await failure(client.resolve(ref("app:nope")));
    expect(tag.kind).toBe("notFound");
    expect(tag.message).toContain("manifest for registry.test/app:nope not found: manifest unknown");
    expect((await failure(client.resolve(ref("nothing-here")))).kind).toBe("notFound");
  });

  it("names the field of a malformed manifest", async () => {
    const registry = new FakeRegistry();
    registry.addManifest("bad", { schemaVersion: 2, config: { digest: "sha256:12" } }, MediaType.ociImageManifest, "1");
    registry.addManifest("bad", new TextEncoder().encode("<html>"), MediaType.ociImageManifest, "2");
    const client = clientFor(registry);
    const fields = await failure(client.resolve(ref("bad:1")));
    expect(fields.kind).toBe("invalidArgument");
    expect(fields.message).toContain("config.mediaType: expected a string");
    expect((await failure(client.resolve(ref("bad:2")))).message).toContain("not JSON");
  });

  it("refuses a manifest whose bytes do not match the pinned digest", async () => {
    const registry = new FakeRegistry();
    const image = await simpleImage(registry);
    const other = jsonBytes({ schemaVersion: 2, manifests: [] });
    registry.manifests.get("app")!.set(image.manifest.digest, { bytes: other, mediaType: MediaType.ociImageIndex });
    const error = await failure(clientFor(registry).resolve(ref(`app@${image.manifest.digest}`)));
    expect(error.kind).toBe("dataLoss");
  });

  it("refuses a config whose diff ids do not match the manifest's layers", async () => {
    const registry = new FakeRegistry();
    await registry.addImage("app", "1", [new Uint8Array(3)], { config: { rootfs: { type: "layers", diff_ids: [] } } });
    const error = await failure(clientFor(registry).resolveImage(ref("app:1")));
    expect(error.message).toContain("1 layers but the config has 0 diff ids");
  });
});

describe("authentication", () => {
  it("fetches an anonymous bearer token once and reuses it for the scope", async () => {
    const registry = new FakeRegistry({ auth: "bearer" });
    await simpleImage(registry);
    const client = clientFor(registry);
    await client.resolveImage(ref("app:1"));
    await client.resolve(ref("app:1"));
    expect(registry.tokenRequests).toHaveLength(1);
    expect(registry.tokenRequests[0]?.url).toContain("scope=repository%3Aapp%3Apull");
    expect(registry.tokenRequests[0]?.url).toContain("service=registry.test");
    expect(registry.tokenRequests[0]?.headers.authorization).toBeUndefined();
    // Only the very first request went unauthenticated.
    expect(registry.requests.filter((request) => !request.headers.authorization)).toHaveLength(1);
  });

  it("sends credentials to the token realm and reports a wrong password as unauthorized", async () => {
    const credentials = { username: "ann", password: "right" };
    const registry = new FakeRegistry({ auth: "bearer", credentials });
    await simpleImage(registry);
    await clientFor(registry, { credentials: () => credentials }).resolve(ref("app:1"));
    expect(registry.tokenRequests[0]?.headers.authorization).toBe(`Basic ${btoa("ann:right")}`);
    const wrong = await failure(
      clientFor(registry, { credentials: () => ({ username: "ann", password: "wrong" }) }).resolve(ref("app:1")),
    );
    expect(wrong.kind).toBe("unauthorized");
    expect(wrong.message).toContain("ann");
  });

  it("uses Basic credentials when the registry asks for them", async () => {
    const credentials = { username: "ann", password: "right" };
    const registry = new FakeRegistry({ auth: "basic", credentials });
    await simpleImage(registry);
    await clientFor(registry, { credentials: (host) => (host === "registry.test" ? credentials : undefined) }).resolve(
      ref("app:1"),
    );
    const anonymous = await failure(clientFor(registry).resolve(ref("app:1")));
    expect(anonymous.kind).toBe("unauthorized");
    expect(anonymous.message).toContain("requires a username and password");
    const wrong = await failure(
      clientFor(registry, { credentials: () => ({ username: "ann", password: "nope" }) }).resolve(ref("app:1")),
    );
    expect(wrong.kind).toBe("unauthorized");
  });
});

describe("retries", () => {
  it("retries 5xx answers and dropped connections", async () => {
    const registry = new FakeRegistry();
    await simpleImage(registry);
    registry.faults.serverErrors = 2;
    await clientFor(registry).resolve(ref("app:1"));
    registry.faults.networkErrors = 2;
    await clientFor(registry).resolve(ref("app:1"));
  });

  it("gives up with unavailable after its retries", async () => {
    const registry = new FakeRegistry();
    await simpleImage(registry);
    registry.faults.networkErrors = 100;
    const error = await failure(clientFor(registry, { retry: { ...noWait, retries: 2 } }).resolve(ref("app:1")));
    expect(error.kind).toBe("unavailable");
    expect(error.message).toContain("after 3 attempts");
    expect(registry.requests).toHaveLength(3);
  });

  it("waits longer before each retry", async () => {
    const registry = new FakeRegistry();
    await simpleImage(registry);
    registry.faults.serverErrors = 3;
    const delays: number[] = [];
    const sleep = async (ms: number) => {
      delays.push(ms);
    };
    await clientFor(registry, { retry: { sleep, baseDelayMs: 100 } }).resolve(ref("app:1"));
    expect(delays).toHaveLength(3);
    expect(delays[0]).toBeLessThanOrEqual(100);
    expect(delays[2]).toBeGreaterThanOrEqual(200);
  });
});

describe("blob downloads", () => {
  const big = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);

  async function download(registry: FakeRegistry, options: RegistryClientOptions = {}) {
    const descriptor = registry.addBlob(big);
    const progress: number[] = [];
    const stream = clientFor(registry, options).fetchBlob(ref("app"), descriptor, {
      onProgress: ({ done, total }) => {
        expect(total).toBe(big.byteLength);
        progress.push(done);
      },
    });
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    return { bytes, progress, descriptor };
  }

  it("streams a blob and reports progress up to its size", async () => {
    const { bytes, progress } = await download(new FakeRegistry());
    expect(digestOf(bytes)).toBe(digestOf(big));
    expect(progress.at(-1)).toBe(big.byteLength);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
  });

  it("resumes a dropped download with a Range request", async () => {
    const registry = new FakeRegistry();
    registry.faults.dropBlobAfter.set(digestOf(big), { bytes: 50_000, times: 2 });
    const { bytes, progress } = await download(registry);
    expect(digestOf(bytes)).toBe(digestOf(big));
    expect(registry.requests.map((request) => request.headers.range)).toEqual([
      undefined,
      "bytes=50000-",
      "bytes=100000-",
    ]);
    expect(progress.at(-1)).toBe(big.byteLength);
  });

  it("resumes correctly when the server ignores Range and when a body ends early", async () => {
    const registry = new FakeRegistry();
    registry.faults.ignoreRange = true;
    registry.faults.dropBlobAfter.set(digestOf(big), { bytes: 70_000, times: 1 });
    expect(digestOf((await download(registry)).bytes)).toBe(digestOf(big));
    const early = new FakeRegistry();
    early.faults.endBlobEarly.set(digestOf(big), 1);
    expect(digestOf((await download(early)).bytes)).toBe(digestOf(big));
  });

  it("fails with dataLoss when the stream keeps breaking off", async () => {
    const registry = new FakeRegistry();
    registry.faults.dropBlobAfter.set(digestOf(big), { bytes: 0, times: 100 });
    const error = await failure(download(registry, { retry: { ...noWait, retries: 2 } }));
    expect(error.kind).toBe("dataLoss");
    expect(error.message).toContain("truncated: received 0 of 200000 bytes");
  });

  it("fails with dataLoss when the registry sends more bytes than the descriptor says", async () => {
    const registry = new FakeRegistry();
    const descriptor = registry.addBlob(big);
    const stream = clientFor(registry).fetchBlob(ref("app"), { ...descriptor, size: 10 });
    expect((await failure(new Response(stream).arrayBuffer())).kind).toBe("dataLoss");
  });

  it("reports a missing blob as notFound", async () => {
    const registry = new FakeRegistry();
    const stream = clientFor(registry).fetchBlob(ref("app"), {
      ...registry.addBlob(big),
      digest: digestOf(layerBytes),
    });
    expect((await failure(new Response(stream).arrayBuffer())).kind).toBe("notFound");
  });
});

describe("endpoints", () => {
  it("sends loopback registries over http and others over https", async () => {
    const seen: string[] = [];
    const fetch: typeof globalThis.fetch = async (input) => {
      seen.push(String(input));
      return new Response("{}", { status: 404 });
    };
    const client = new RegistryClient({ fetch, retry: noWait });
    await failure(client.resolve(parseReference("localhost:5000/app")));
    await failure(client.resolve(parseReference(`127.0.0.1:5000/app@sha256:${"a".repeat(64)}`)));
    await failure(client.resolve(parseReference("ghcr.io/o/app:2")));
    expect(seen).toEqual([
      "http://localhost:5000/v2/app/manifests/latest",
      `http://127.0.0.1:5000/v2/app/manifests/sha256:${"a".repeat(64)}`,
      "https://ghcr.io/v2/o/app/manifests/2",
    ]);
  });

  it("routes through a proxy as <registry>/<repository>", () => {
    expect(proxyEndpoint("https://proxy.test/r/")(parseReference("alpine"))).toEqual({
      baseUrl: "https://proxy.test/r",
      repository: "docker.io/library/alpine",
    });
  });
});

describe("size limits while streaming", () => {
  /** A body of zeros without Content-Length that never ends by itself, counting what the client pulled. */
  function endless() {
    const state = { pulled: 0, cancelled: false };
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          state.pulled += 64 * 1024;
          controller.enqueue(new Uint8Array(64 * 1024));
        },
        cancel() {
          state.cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    return { body, state };
  }

  function clientAnswering(answer: (url: URL) => Response) {
    return new RegistryClient({
      fetch: async (input) => answer(new URL(input instanceof Request ? input.url : String(input))),
      retry: noWait,
      endpoint: (reference) => ({ baseUrl: "https://registry.test", repository: reference.repository }),
    });
  }

  it("stops reading a manifest, a token and an error body at their limits, however long the registry goes on", async () => {
    const manifest = endless();
    const big = clientAnswering(
      () => new Response(manifest.body, { headers: { "content-type": MediaType.ociImageManifest } }),
    );
    const tooBig = await failure(big.resolve(ref("app:1")));
    expect(tooBig.kind).toBe("invalidArgument");
    expect(tooBig.message).toMatch(/more than the 4194304 bytes allowed/);
    expect(manifest.state.cancelled).toBe(true);
    expect(manifest.state.pulled).toBeLessThanOrEqual(4 * 1024 * 1024 + 64 * 1024);

    const token = endless();
    const challenged = clientAnswering((url) =>
      url.pathname === "/token"
        ? new Response(token.body, { headers: { "content-type": "application/json" } })
        : new Response(null, {
            status: 401,
            headers: { "www-authenticate": 'Bearer realm="https://registry.test/token",service="registry.test"' },
          }),
    );
    expect((await failure(challenged.resolve(ref("app:1")))).message).toMatch(/more than the 1048576 bytes allowed/);
    expect(token.state.pulled).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);

    const error = endless();
    const missing = clientAnswering(() => new Response(error.body, { status: 404 }));
    expect((await failure(missing.resolve(ref("app:1")))).kind).toBe("notFound");
    expect(error.state.pulled).toBeLessThanOrEqual(128 * 1024);
  });
});
