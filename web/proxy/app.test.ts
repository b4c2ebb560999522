// The proxy against an in-process imitation of a registry (token auth, blobs redirected to a CDN host), reached
// through the `fetch` option, so no sockets and no DNS: a fake resolver decides which names are private.
import { Hono } from "hono";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { AnonymousMarks, createProxy, type ProxyOptions } from "./app.ts";
import { digestOf, MemoryBlobCache } from "./cache.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const sha256 = (data: string) => digestOf(bytes(data), "sha256");

const LAYER = "layer bytes ".repeat(1000);
const PRIVATE_LAYER = "private layer";
const CORRUPT_LAYER = "served corrupted";
const MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

interface Upstream {
  requests: string[];
  authorizations: Map<string, string | null>;
  count(prefix: string): number;
  fetch(request: Request): Promise<Response>;
  manifest: string;
  manifestDigest: string;
  layerDigest: string;
  privateDigest: string;
  corruptDigest: string;
}

/**
 * registry.test: a registry whose repositories need a Bearer token from auth.test, except `open/*`; blobs answer 307
 * to cdn.test, which rejects any Authorization (as signed CDN URLs do). private.test resolves to 10.0.0.7.
 */
async function fakeUpstream(): Promise<Upstream> {
  const requests: string[] = [];
  const authorizations = new Map<string, string | null>();
  const layerDigest = await sha256(LAYER);
  const privateDigest = await sha256(PRIVATE_LAYER);
  const corruptDigest = await sha256("what the manifest promised");
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: layerDigest, size: LAYER.length },
    layers: [],
  });
  const manifestDigest = await sha256(manifest);
  const blobs = new Map([
    [layerDigest, LAYER],
    [privateDigest, PRIVATE_LAYER],
    [corruptDigest, CORRUPT_LAYER],
  ]);

  const registry = new Hono();
  registry.use("*", async (c, next) => {
    requests.push(`${c.req.method} ${c.req.path}`);
    authorizations.set(`${c.req.method} ${c.req.path}`, c.req.header("authorization") ?? null);
    await next();
  });
  registry.get("/v2/", (c) =>
    c.json({}, 401, { "www-authenticate": 'Bearer realm="https://auth.test/token",service="registry.test"' }),
  );
  registry.use("/v2/*", async (c, next) => {
    const name = /^\/v2\/(.+)\/(?:manifests|blobs|tags)\//.exec(c.req.path)?.[1];
    if (name?.startsWith("open/")) return next();
    const expected = name === "private/app" ? "Bearer user-token" : "Bearer anonymous-token";
    if (c.req.header("authorization") !== expected && c.req.header("authorization") !== "Bearer user-token") {
      return c.json({ errors: [{ code: "UNAUTHORIZED" }] }, 401, {
        "www-authenticate": `Bearer realm="https://auth.test/token",service="registry.test",scope="repository:${name}:pull"`,
      });
    }
    await next();
  });
  registry.get("/v2/:name{.+}/manifests/:ref", (c) => {
    const ref = c.req.param("ref");
    if (ref !== "latest" && ref !== manifestDigest) return c.json({ errors: [{ code: "MANIFEST_UNKNOWN" }] }, 404);
    return c.body(manifest, 200, { "content-type": MANIFEST_TYPE, "docker-content-digest": manifestDigest });
  });
  registry.get("/v2/:name{.+}/blobs/:digest", (c) =>
    c.redirect(`https://cdn.test/b/${c.req.param("digest")}?sig=x`, 307),
  );
  registry.get("/v2/:name{.+}/tags/list", (c) =>
    c.json({ name: c.req.param("name"), tags: ["a"] }, 200, {
      link: `</v2/${c.req.param("name")}/tags/list?last=a&n=1>; rel="next"`,
    }),
  );

  const auth = new Hono();
  auth.get("/token", (c) => {
    requests.push(`GET auth ${c.req.query("service")} ${c.req.queries("scope")?.join(" ")}`);
    const credentials = c.req.header("authorization");
    if (credentials === undefined) return c.json({ token: "anonymous-token", refresh_token: "never-shared" });
    if (credentials === "Basic dXNlcjpwYXNz") return c.json({ token: "user-token", access_token: "user-token" });
    return c.json({ details: "bad credentials" }, 401);
  });

  const cdn = new Hono();
  cdn.get("/b/:digest", (c) => {
    requests.push(`GET cdn ${c.req.param("digest")}`);
    if (c.req.header("authorization")) return c.text("credentials sent to the CDN", 400);
    const body = blobs.get(c.req.param("digest"));
    // Hono does not announce the length of a string body; real CDNs do, and the size limit test relies on it.
    const length = { "content-length": String(bytes(body ?? "").byteLength) };
    return body === undefined
      ? c.text("no such blob", 404)
      : c.body(body, 200, { "content-type": "application/octet-stream", ...length });
  });

  const hosts: Record<string, Hono> = { "registry.test": registry, "auth.test": auth, "cdn.test": cdn };
  return {
    requests,
    authorizations,
    count: (prefix) => requests.filter((r) => r.startsWith(prefix)).length,
    fetch: async (request) => {
      const app = hosts[new URL(request.url).host];
      if (!app) throw new Error(`connect ECONNREFUSED ${new URL(request.url).host}`);
      return app.fetch(request);
    },
    manifest,
    manifestDigest,
    layerDigest,
    privateDigest,
    corruptDigest,
  };
}

const PUBLIC = ["93.184.216.34"];
const TOKEN_SECRET = "a secret the tests share with their proxies";
/** The anonymous token the proxy hands out for the fake realm's anonymous-token, as its /token would sign it. */
const MARKED = await new AnonymousMarks(TOKEN_SECRET).mark("anonymous-token");
const resolveHost = async (host: string) => (host === "private.test" ? ["10.0.0.7"] : PUBLIC);

let upstream: Upstream;
let warnings: string[];
beforeEach(async () => {
  upstream = await fakeUpstream();
  warnings = [];
});

function proxy(options: ProxyOptions = {}) {
  const app = createProxy({
    upstreams: { "docker.io": { url: "https://registry.test" }, "private.test": { url: "https://private.test" } },
    resolveHost,
    fetch: upstream.fetch,
    warn: (m) => warnings.push(m),
    tokenSecret: TOKEN_SECRET,
    ...options,
  });
  return async (path: string, init: RequestInit = {}) => app.fetch(new Request(`http://proxy.test${path}`, init));
}

async function token(get: ReturnType<typeof proxy>, scope: string, init: RequestInit = {}): Promise<string> {
  const response = await get(`/token?service=registry.test&scope=${encodeURIComponent(scope)}`, init);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { token: string };
  return body.token;
}

describe("as a registry", () => {
  it("answers the version check with its own token realm", async () => {
    const get = proxy({ basePath: "/registry" });
    const response = await get("/registry/v2/");
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(
      'Bearer realm="http://proxy.test/registry/token",service="drydock-registry-proxy"',
    );
    expect(response.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    expect((await get("/registry/v2/", { headers: { authorization: "Bearer x" } })).status).toBe(200);
  });

  it("rewrites an upstream challenge to its own realm and the client's repository name", async () => {
    const get = proxy({ publicUrl: "https://school.example/registry/" });
    const response = await get("/v2/alpine/manifests/latest");
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(
      'Bearer realm="https://school.example/registry/token",service="registry.test",scope="repository:alpine:pull"',
    );
    expect(upstream.requests).toContain("GET /v2/library/alpine/manifests/latest");
  });

  it("gets an anonymous token from the real realm, marked so the proxy knows it may cache", async () => {
    const get = proxy();
    const t = await token(get, "repository:alpine:pull,push");
    expect(t).toBe(MARKED);
    expect(t).toMatch(/^drydock-anonymous\.[\w-]{43}\.anonymous-token$/);
    // Read-only: the proxy asked upstream for pull alone, for the upstream's name, from the realm /v2/ announced.
    expect(upstream.requests).toContain("GET auth registry.test repository:library/alpine:pull");
    const response = await get("/v2/alpine/manifests/latest", { headers: { authorization: `Bearer ${t}` } });
    expect(response.status).toBe(200);
    expect(upstream.authorizations.get("GET /v2/library/alpine/manifests/latest")).toBe("Bearer anonymous-token");
    expect(await response.text()).toBe(upstream.manifest);
    expect(response.headers.get("docker-content-digest")).toBe(upstream.manifestDigest);
    expect(response.headers.get("content-type")).toBe(MANIFEST_TYPE);
  });

  it("passes user credentials to the realm and their token upstream, unmarked and never stored", async () => {
    const get = proxy();
    const basic = { authorization: "Basic dXNlcjpwYXNz" };
    expect(await token(get, "repository:private/app:pull", { headers: basic })).toBe("user-token");
    const bad = await get("/token?scope=repository:private/app:pull", { headers: { authorization: "Basic bm86bm8=" } });
    expect(bad.status).toBe(401);
    const auth = { authorization: "Bearer user-token" };
    const first = await get(`/v2/private/app/blobs/${upstream.privateDigest}`, { headers: auth });
    expect(first.headers.get("x-drydock-cache")).toBe("bypass");
    expect(await first.text()).toBe(PRIVATE_LAYER);
    await get(`/v2/private/app/blobs/${upstream.privateDigest}`, { headers: auth }).then((r) => r.text());
    expect(upstream.count(`GET cdn ${upstream.privateDigest}`)).toBe(2);
  });

  it("refuses token requests it cannot map to one upstream", async () => {
    const get = proxy();
    expect((await get("/token?scope=registry:catalog:*")).status).toBe(400);
    expect((await get("/token?scope=repository:evil.example/x:pull")).status).toBe(403);
    const two = await get(
      `/token?scope=${encodeURIComponent("repository:alpine:pull repository:private.test/x:pull")}`,
    );
    expect(two.status).toBe(400);
  });

  it("hands out the bare anonymous mark for an upstream without auth, and sends no Authorization upstream", async () => {
    const open = new Hono();
    open.get("/v2/", (c) => c.json({}));
    open.get("/v2/:name{.+}/manifests/:ref", (c) => {
      upstream.authorizations.set("open", c.req.header("authorization") ?? null);
      return c.body("{}", 200, { "content-type": MANIFEST_TYPE });
    });
    const get = proxy({
      upstreams: { local: { url: "http://127.0.0.1:5000", allowPrivate: true } },
      fetch: async (request) => open.fetch(request),
    });
    const t = await token(get, "repository:local/app:pull");
    expect(t).toBe("drydock-anonymous");
    const response = await get("/v2/local/app/manifests/x", { headers: { authorization: `Bearer ${t}` } });
    expect(response.status).toBe(200);
    expect(upstream.authorizations.get("open")).toBeNull();
  });

  it("wraps basic credentials in a token for an upstream behind basic auth, after checking them", async () => {
    const basic = new Hono();
    basic.use("*", async (c, next) =>
      c.req.header("authorization") === "Basic dXNlcjpwYXNz"
        ? next()
        : c.json({}, 401, { "www-authenticate": 'Basic realm="Registry"' }),
    );
    basic.get("/v2/", (c) => c.json({}));
    basic.get("/v2/:name{.+}/manifests/:ref", (c) => c.body("{}", 200, { "content-type": MANIFEST_TYPE }));
    const get = proxy({
      upstreams: { local: { url: "http://127.0.0.1:5000", allowPrivate: true } },
      fetch: async (request) => basic.fetch(request),
    });
    const challenge = await get("/v2/local/app/manifests/x");
    expect(challenge.headers.get("www-authenticate")).toBe('Basic realm="Registry"');
    expect((await get("/token?scope=repository:local/app:pull")).status).toBe(401);
    const wrong = await get("/token?scope=repository:local/app:pull", { headers: { authorization: "Basic bm86bm8=" } });
    expect(wrong.status).toBe(401);
    const t = await token(get, "repository:local/app:pull", { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    expect(t).toBe("drydock-basic.dXNlcjpwYXNz");
    expect((await get("/v2/local/app/manifests/x", { headers: { authorization: `Bearer ${t}` } })).status).toBe(200);
  });

  it("follows blob redirects itself, without carrying credentials to the CDN", async () => {
    const get = proxy();
    const response = await get(`/v2/alpine/blobs/${upstream.layerDigest}`, {
      headers: { authorization: `Bearer ${MARKED}` },
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(LAYER);
    expect(response.headers.get("docker-content-digest")).toBe(upstream.layerDigest);
    expect(upstream.requests).toEqual([
      `GET /v2/library/alpine/blobs/${upstream.layerDigest}`,
      `GET cdn ${upstream.layerDigest}`,
    ]);
  });

  it("rewrites tag list pagination to stay on the proxy", async () => {
    const get = proxy({ basePath: "/registry" });
    const response = await get("/registry/v2/open/app/tags/list?n=1");
    expect(response.headers.get("link")).toBe('</registry/v2/open/app/tags/list?last=a&n=1>; rel="next"');
  });
});

describe("the cache", () => {
  const anonymous = { headers: { authorization: `Bearer ${MARKED}` } };

  it("serves a second pull of a blob without going upstream", async () => {
    const get = proxy();
    const path = `/v2/alpine/blobs/${upstream.layerDigest}`;
    const first = await get(path, anonymous);
    expect(first.headers.get("x-drydock-cache")).toBe("miss");
    expect(await first.text()).toBe(LAYER);
    // The cache fill commits after the last byte; let it settle.
    await vi.waitFor(async () =>
      expect((await get(path, { method: "HEAD" })).headers.get("x-drydock-cache")).toBe("hit"),
    );
    const second = await get(path); // no credentials at all: cached content was anonymously readable
    expect(second.headers.get("x-drydock-cache")).toBe("hit");
    expect(second.headers.get("content-length")).toBe(String(LAYER.length));
    expect(await second.text()).toBe(LAYER);
    const ranged = await get(path, { headers: { range: "bytes=6-10" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 6-10/${LAYER.length}`);
    expect(await ranged.text()).toBe("bytes");
    expect(upstream.count("GET cdn")).toBe(1);
  });

  it("fetches a blob once when many clients ask for it at the same time", async () => {
    const get = proxy();
    const path = `/v2/alpine/blobs/${upstream.layerDigest}`;
    const first = get(path, anonymous);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const bodies = await Promise.all(
      [first, ...Array.from({ length: 5 }, () => get(path, anonymous))].map(async (r) => (await r).text()),
    );
    expect(bodies.every((b) => b === LAYER)).toBe(true);
    expect(upstream.count("GET cdn")).toBe(1);
  });

  it("serves a manifest by tag from the cache after a HEAD upstream", async () => {
    const get = proxy();
    expect(await (await get("/v2/alpine/manifests/latest", anonymous)).text()).toBe(upstream.manifest);
    await vi.waitFor(async () =>
      expect(
        (await get(`/v2/alpine/manifests/${upstream.manifestDigest}`, { method: "HEAD" })).headers.get(
          "x-drydock-cache",
        ),
      ).toBe("hit"),
    );
    const again = await get("/v2/alpine/manifests/latest", anonymous);
    expect(again.headers.get("x-drydock-cache")).toBe("hit");
    expect(again.headers.get("content-type")).toBe(MANIFEST_TYPE);
    expect(await again.text()).toBe(upstream.manifest);
    expect(upstream.count("GET /v2/library/alpine/manifests/latest")).toBe(1);
    expect(upstream.count("HEAD /v2/library/alpine/manifests/latest")).toBe(2);
  });

  it("streams but never caches a blob whose bytes do not match its digest", async () => {
    const cache = new MemoryBlobCache();
    const get = proxy({ cache });
    const path = `/v2/alpine/blobs/${upstream.corruptDigest}`;
    expect(await (await get(path, anonymous)).text()).toBe(CORRUPT_LAYER);
    await vi.waitFor(() => expect(warnings.join()).toMatch(/not caching .*digest mismatch/));
    expect(await cache.stat(upstream.corruptDigest)).toBeUndefined();
    await (await get(path, anonymous)).text();
    expect(upstream.count("GET cdn")).toBe(2);
  });

  it("still serves the client when the cache fails", async () => {
    const broken = new MemoryBlobCache();
    broken.ingest = async () => {
      throw new Error("disk full");
    };
    const get = proxy({ cache: broken });
    const response = await get(`/v2/alpine/blobs/${upstream.layerDigest}`, anonymous);
    expect(await response.text()).toBe(LAYER);
    await vi.waitFor(() => expect(warnings).toEqual([`not caching ${upstream.layerDigest}: disk full`]));
  });

  it("can be turned off", async () => {
    const get = proxy({ cache: false });
    const path = `/v2/alpine/blobs/${upstream.layerDigest}`;
    await (await get(path, anonymous)).text();
    await (await get(path, anonymous)).text();
    expect(upstream.count("GET cdn")).toBe(2);
  });
});

describe("memory under slow and vanishing clients", () => {
  const MiB = 1024 * 1024;
  const CHUNK = 64 * 1024;

  /**
   * An upstream whose blobs are `size` bytes of zeros made on demand, counting what the proxy pulled from each (the
   * bytes it could be holding) and whether it stopped them.
   */
  function bigUpstream(size: number) {
    const blobs = new Map<string, { pulled: number; cancelled: boolean }>();
    const fetch = async (request: Request) => {
      const digest = new URL(request.url).pathname.split("/").pop()!;
      const state = { pulled: 0, cancelled: false };
      blobs.set(digest, state);
      const body = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            if (state.pulled >= size) return controller.close();
            const n = Math.min(CHUNK, size - state.pulled);
            state.pulled += n;
            controller.enqueue(new Uint8Array(n));
          },
          cancel() {
            state.cancelled = true;
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { headers: { "content-length": String(size), "docker-content-digest": digest } });
    };
    return { fetch, blobs };
  }

  const digestOf = (i: number) => `sha256:${i.toString(16).padStart(64, "0")}`;
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 1));
  };

  it("reads a blob no further ahead of a client that does not read than its window", async () => {
    const big = bigUpstream(512 * MiB);
    const get = proxy({ fetch: big.fetch, limits: { readAheadBytes: MiB } });
    const response = await get(`/v2/alpine/blobs/${digestOf(1)}`);
    expect(response.headers.get("x-drydock-cache")).toBe("miss");
    await settle();
    const state = big.blobs.get(digestOf(1))!;
    // The window, the chunk that filled it, and the writes behind it: never the 512 MiB the upstream would send.
    expect(state.pulled).toBeLessThanOrEqual(2 * MiB + 2 * CHUNK);
    await response.body!.cancel();
  });

  it("stops the upstream when its client goes, unless the rest is small enough to finish for the cache", async () => {
    const big = bigUpstream(64 * MiB);
    const cache = new MemoryBlobCache({ maxBytes: 2048 * MiB });
    const get = proxy({ fetch: big.fetch, cache, limits: { readAheadBytes: MiB, maxConcurrentFills: 16 } });
    for (let i = 0; i < 10; i++) {
      const response = await get(`/v2/alpine/blobs/${digestOf(i)}`);
      const reader = response.body!.getReader();
      await reader.read();
      await reader.cancel();
    }
    await settle();
    const pulled = [...big.blobs.values()].reduce((sum, state) => sum + state.pulled, 0);
    expect([...big.blobs.values()].every((state) => state.cancelled)).toBe(true);
    expect(pulled).toBeLessThanOrEqual(10 * (2 * MiB + 2 * CHUNK));
    // Nothing half-fetched is held for them either.
    expect(await cache.usage()).toEqual({ bytes: 0, count: 0, reservedBytes: 0 });

    // A small blob whose client leaves is finished and kept: the next pull of it costs nothing upstream.
    const path = `/v2/alpine/blobs/${upstream.layerDigest}`;
    const smallGet = proxy({ cache, limits: { readAheadBytes: 4 } });
    const first = await smallGet(path, { headers: { authorization: `Bearer ${MARKED}` } });
    expect(first.headers.get("x-drydock-cache")).toBe("miss");
    await first.body!.cancel();
    await vi.waitFor(async () => expect(await cache.stat(upstream.layerDigest)).toBeDefined());
    expect((await smallGet(path)).headers.get("x-drydock-cache")).toBe("hit");
  });

  it("bounds concurrent cache fills and counts them against the cache's size", async () => {
    const big = bigUpstream(40 * MiB);
    const cache = new MemoryBlobCache({ maxBytes: 100 * MiB, maxEntryBytes: 100 * MiB });
    const get = proxy({ fetch: big.fetch, cache, limits: { readAheadBytes: MiB, maxConcurrentFills: 3 } });
    const responses = [];
    for (let i = 0; i < 4; i++) responses.push(await get(`/v2/alpine/blobs/${digestOf(100 + i)}`));
    // Two 40 MiB fills fit in 100 MiB; the third is refused room, the fourth is over the concurrency bound.
    expect(responses.map((r) => r.headers.get("x-drydock-cache"))).toEqual(["miss", "miss", "miss", "bypass"]);
    const usage = await cache.usage();
    expect(usage.reservedBytes).toBe(80 * MiB);
    expect(usage.bytes + usage.reservedBytes).toBeLessThanOrEqual(100 * MiB);
    for (const response of responses) await response.body!.cancel();
    await settle();
    expect(await cache.usage()).toEqual({ bytes: 0, count: 0, reservedBytes: 0 });
  });

  it("does not cache what a client fetched with its own token labelled anonymous", async () => {
    const cache = new MemoryBlobCache();
    const get = proxy({ cache });
    const path = `/v2/alpine/blobs/${upstream.layerDigest}`;
    // The upstream's own token, labelled anonymous by the client rather than signed by the proxy.
    const response = await get(path, { headers: { authorization: "Bearer drydock-anonymous.anonymous-token" } });
    expect(response.headers.get("x-drydock-cache")).toBe("bypass");
    expect(await response.text()).toBe(LAYER);
    expect(upstream.authorizations.get(`GET /v2/library/alpine/blobs/${upstream.layerDigest}`)).toBe(
      "Bearer anonymous-token",
    );
    await settle();
    expect(await cache.usage()).toEqual({ bytes: 0, count: 0, reservedBytes: 0 });
  });
});

describe("safety", () => {
  it("answers CORS preflights and exposes the registry headers", async () => {
    const get = proxy();
    const preflight = await get("/v2/alpine/manifests/latest", {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:5173",
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization,accept",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toBe("GET,HEAD,OPTIONS");
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
    const response = await get("/v2/alpine/manifests/latest", { headers: { origin: "http://localhost:5173" } });
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    const exposed = response.headers.get("access-control-expose-headers") ?? "";
    for (const h of ["Docker-Content-Digest", "WWW-Authenticate", "Content-Range", "Content-Length"])
      expect(exposed).toContain(h);
  });

  it.each(["PUT", "POST", "DELETE", "PATCH"])("refuses %s with 405", async (method) => {
    const response = await proxy()(`/v2/alpine/blobs/uploads/`, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
    expect(upstream.requests).toEqual([]);
  });

  it("refuses registries that are not configured", async () => {
    const response = await proxy()("/v2/evil.example/x/manifests/latest");
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      errors: [{ code: "DENIED", message: "registry evil.example is not configured on this proxy" }],
    });
  });

  it("refuses an upstream that resolves to a private address", async () => {
    const response = await proxy()("/v2/private.test/x/manifests/latest");
    expect(response.status).toBe(403);
    expect(((await response.json()) as { errors: { message: string }[] }).errors[0]!.message).toBe(
      "refusing private.test: it resolves to private 10.0.0.7",
    );
  });

  it("refuses private address literals unless the upstream was configured explicitly", async () => {
    const seen: string[] = [];
    const fetch = async (request: Request) => {
      seen.push(request.url);
      return new Response("{}", { headers: { "content-type": MANIFEST_TYPE } });
    };
    const upstreams = {
      implicit: { url: "http://169.254.169.254" },
      explicit: { url: "http://127.0.0.1:5000", allowPrivate: true },
    };
    const get = proxy({ upstreams, fetch });
    expect((await get("/v2/implicit/x/manifests/latest")).status).toBe(403);
    expect((await get("/v2/explicit/x/manifests/latest")).status).toBe(200);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((url) => url.startsWith("http://127.0.0.1:5000/v2/x/manifests/latest"))).toBe(true);
  });

  it("checks every redirect: no private hosts, no plain http to unconfigured hosts", async () => {
    for (const location of [
      "https://private.test/b",
      "https://10.1.2.3/b",
      "http://cdn.test/b",
      "file:///etc/passwd",
    ]) {
      const fetch = async (request: Request) =>
        new URL(request.url).host === "registry.test"
          ? new Response(null, { status: 307, headers: { location } })
          : new Response("leaked");
      const response = await proxy({ fetch })(`/v2/open/x/blobs/${upstream.layerDigest}`);
      expect(response.status, location).toBe(403);
    }
  });

  it("stops after too many redirects", async () => {
    const fetch = async () => new Response(null, { status: 302, headers: { location: "https://registry.test/again" } });
    const response = await proxy({ fetch, limits: { maxRedirects: 3 } })(`/v2/open/x/blobs/${upstream.layerDigest}`);
    expect(response.status).toBe(502);
  });

  it("limits body sizes, announced or not", async () => {
    const announced = await proxy({ limits: { maxBlobBytes: 100 } })(`/v2/open/x/blobs/${upstream.layerDigest}`);
    expect(announced.status).toBe(502);
    const unannounced = async () =>
      new Response(
        new ReadableStream({
          start(controller) {
            for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(50));
            controller.close();
          },
        }),
      );
    const streamed = await proxy({ fetch: unannounced, limits: { maxBlobBytes: 100 } })(
      `/v2/open/x/blobs/${upstream.layerDigest}`,
    );
    await expect(streamed.arrayBuffer()).rejects.toThrow(/exceeds 100 bytes/);
  });

  it("gives up on an upstream that does not answer in time", async () => {
    const hang = (request: Request) =>
      new Promise<Response>((_, reject) =>
        request.signal.addEventListener("abort", () => reject(request.signal.reason)),
      );
    const response = await proxy({ fetch: hang, limits: { headersTimeoutMs: 20 } })("/v2/open/x/manifests/latest");
    expect(response.status).toBe(504);
  });

  it("reports an unreachable upstream as 502", async () => {
    const response = await proxy({ upstreams: { "docker.io": { url: "https://down.test" } } })(
      "/v2/alpine/manifests/latest",
    );
    expect(response.status).toBe(502);
    expect(await response.text()).toMatch(/ECONNREFUSED/);
  });

  it("limits the request rate per client", async () => {
    const get = proxy({ limits: { requestsPerMinute: 60, burst: 2 }, clientKey: (c) => c.req.header("x-client") });
    const as = (client: string) => get("/v2/", { headers: { "x-client": client } });
    expect((await as("a")).status).toBe(401);
    expect((await as("a")).status).toBe(401);
    const limited = await as("a");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    expect((await as("b")).status).toBe(401);
  });

  it("rejects malformed names and routes it does not serve", async () => {
    const get = proxy();
    expect((await get("/v2/a%2F..%2Fb/manifests/latest")).status).toBe(400);
    expect((await get("/v2/Alpine/manifests/latest")).status).toBe(400);
    expect((await get("/v2/_catalog")).status).toBe(404);
    expect(upstream.requests).toEqual([]);
  });
});

describe("AnonymousMarks", () => {
  it("strips the anonymous mark, trusts only a mark it signed, and passes anything else through", async () => {
    const marks = new AnonymousMarks();
    expect(await marks.read(undefined)).toEqual({ anonymous: true });
    expect(await marks.read("Bearer drydock-anonymous")).toEqual({ anonymous: true });
    const marked = await marks.mark("abc.def");
    expect(await marks.read(`Bearer ${marked}`)).toEqual({ upstream: "Bearer abc.def", anonymous: true });
    // A client's own token labelled anonymous, signed by another key, or with its signature altered: not anonymous.
    expect(await marks.read("Bearer drydock-anonymous.abc.def")).toEqual({ upstream: "Bearer def", anonymous: false });
    expect(await marks.read("Bearer drydock-anonymous.my-own-token")).toEqual({
      upstream: "Bearer my-own-token",
      anonymous: false,
    });
    const foreign = await new AnonymousMarks().mark("abc.def");
    expect((await marks.read(`Bearer ${foreign}`)).anonymous).toBe(false);
    const [, signature = ""] = marked.split(".");
    // The first character: the last one of a 32-byte signature carries padding bits that decoding ignores.
    const altered = marked.replace(signature, `${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`);
    expect((await marks.read(`Bearer ${altered}`)).anonymous).toBe(false);
    expect(await marks.read("Basic dXNlcjpwYXNz")).toEqual({ upstream: "Basic dXNlcjpwYXNz", anonymous: false });
    expect(await marks.read("Bearer drydock-basic.dXNlcjpwYXNz")).toEqual({
      upstream: "Basic dXNlcjpwYXNz",
      anonymous: false,
    });
  });
});
