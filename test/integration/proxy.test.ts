// The registry proxy against Debian's real docker-registry, seeded with umoci-built images, over real sockets: the
// standalone server (cli.ts, as `npm run proxy` runs it), a real client (skopeo), and the Vite plugin.
//
// A small relay in front of the registry counts the requests that reach upstream and adds what the local registry
// lacks but public ones have: blob GETs answered with a 307 to a "CDN" path, and, on a second port, Bearer token auth.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { serve } from "@hono/node-server";
import { createServer as createViteServer, preview as vitePreview } from "vite";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ImageService } from "../../engine/index.ts";
import { createNodeProxy } from "../../web/proxy/node.ts";
import { registryProxy } from "../../web/proxy/vite-plugin.ts";
import { MANIFEST_ACCEPT, type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { basicAuthorization, type Registry, startRegistry } from "../fixtures/registry.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");

interface Descriptor {
  digest: string;
  size: number;
  platform?: { architecture: string };
}
interface Manifest {
  config: Descriptor;
  layers: Descriptor[];
}

interface Relay {
  url: string;
  requests: string[];
  tokenScopes: string[];
  count(prefix: string): number;
  close(): Promise<void>;
}

const listen = (server: Server, host = "127.0.0.1") =>
  new Promise<number>((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** A counting HTTP relay to `target`; `gate` adds Bearer token auth, `cdn` is where blob GETs are redirected. */
async function startRelay(target: string, options: { gate?: boolean; cdn?: string } = {}): Promise<Relay> {
  const requests: string[] = [];
  const tokenScopes: string[] = [];
  let origin = "";
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://relay");
    requests.push(`${req.method} ${url.pathname}`);
    if (url.pathname === "/auth") {
      tokenScopes.push(url.searchParams.getAll("scope").join(" "));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: "gate-token" }));
      return;
    }
    const cdn = /^\/cdn\/(.+)\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (!cdn && options.gate && url.pathname.startsWith("/v2/") && req.headers.authorization !== "Bearer gate-token") {
      const name = /^\/v2\/(.+)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
      const scope = name ? `,scope="repository:${name}:pull"` : "";
      res.writeHead(401, {
        "content-type": "application/json",
        "docker-distribution-api-version": "registry/2.0",
        "www-authenticate": `Bearer realm="${origin}/auth",service="gate"${scope}`,
      });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "token required" }] }));
      return;
    }
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blob && req.method === "GET") {
      res.writeHead(307, { location: `${options.cdn ?? origin}/cdn/${blob[1]}/${blob[2]}?signature=s` }).end();
      return;
    }
    const path = cdn ? `/v2/${cdn[1]}/blobs/${cdn[2]}` : `${url.pathname}${url.search}`;
    const headers = { ...req.headers };
    delete headers.host;
    delete headers.authorization;
    const forward = httpRequest(`${target}${path}`, { method: req.method, headers }, (upstream) => {
      res.writeHead(upstream.statusCode ?? 502, upstream.headers);
      upstream.pipe(res);
    });
    forward.on("error", () => res.writeHead(502).end());
    req.pipe(forward);
  });
  origin = `http://127.0.0.1:${await listen(server)}`;
  return {
    url: origin,
    requests,
    tokenScopes,
    count: (prefix) => requests.filter((r) => r.startsWith(prefix)).length,
    close: () => close(server),
  };
}

/** Starts `web/proxy/cli.ts` the way `npm run proxy` does (tsx), on a free port. */
async function startCli(args: string[]): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "web/proxy/cli.ts", "--port", "0", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the proxy did not start:\n${output}`)), 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (http:\/\/\S+?)\/?$/m.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => reject(new Error(`the proxy exited with ${code}:\n${output}`)));
  });
  return { url, child, output: () => output };
}

const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

let registry: Registry;
let authRegistry: Registry;
let images: Record<"busybox" | "multi", SeededImage>;
let relay: Relay;
let gated: Relay;
let elsewhere: Relay;
let forbidden: Server;
let forbiddenHits = 0;
let proxy: Awaited<ReturnType<typeof startCli>>;

beforeAll(async () => {
  [registry, authRegistry] = await Promise.all([startRegistry(), startRegistry({ auth: "basic" })]);
  [images] = await Promise.all([seedRegistry(registry, ["busybox", "multi"]), seedRegistry(authRegistry, ["busybox"])]);
  // Docker Hub keeps official images under library/: a copy there lets the docker.io path be tested locally.
  await run("skopeo", [
    "--insecure-policy",
    "copy",
    "--quiet",
    "--all",
    "--preserve-digests",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    `docker://${registry.host}/busybox:latest`,
    `docker://${registry.host}/library/busybox:latest`,
  ]);
  // A loopback address nobody configured: blob redirects pointing here must be refused before connecting.
  forbidden = createServer((_req, res) => {
    forbiddenHits++;
    res.end("secret");
  });
  const forbiddenPort = await listen(forbidden, "127.0.0.2");
  relay = await startRelay(registry.url);
  gated = await startRelay(registry.url, { gate: true });
  // https: a plain-http redirect would be refused for that alone, before the address is even looked at.
  elsewhere = await startRelay(registry.url, { cdn: `https://127.0.0.2:${forbiddenPort}` });
  proxy = await startCli([
    "--no-default-upstreams",
    "--quiet",
    `--upstream=docker.io=${relay.url}`,
    `--upstream=local=${relay.url}`,
    `--upstream=gated=${gated.url}`,
    `--upstream=basic=${authRegistry.url}`,
    `--upstream=elsewhere=${elsewhere.url}`,
    // Registry hosts as aliases: the form the engine's proxyEndpoint sends (`<registry>/<repository>`).
    `--upstream=${new URL(relay.url).host}=${relay.url}`,
    `--upstream=${new URL(gated.url).host}=${gated.url}`,
    `--upstream=${authRegistry.host}=${authRegistry.url}`,
  ]);
});

afterAll(async () => {
  proxy?.child.kill("SIGTERM");
  await Promise.all([relay?.close(), gated?.close(), elsewhere?.close(), forbidden && close(forbidden)]);
  await Promise.all([registry?.stop(), authRegistry?.stop()]);
});

async function get(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${proxy.url}${path}`, { ...init, headers: { accept: MANIFEST_ACCEPT, ...init.headers } });
}

/** GETs through the proxy and checks that the bytes hash to the digest. */
async function getVerified(path: string, digest: string, init: RequestInit = {}): Promise<Uint8Array> {
  const response = await get(path, init);
  expect(response.status, path).toBe(200);
  expect(response.headers.get("docker-content-digest")).toBe(digest);
  const bytes = new Uint8Array(await response.arrayBuffer());
  expect(sha256(bytes), path).toBe(digest);
  return bytes;
}

/** Pulls an image through the proxy the way a client does: manifest by tag, then config and layers by digest. */
async function pull(repository: string, image: SeededImage, init: RequestInit = {}): Promise<Manifest> {
  const response = await get(`/v2/${repository}/manifests/latest`, init);
  expect(response.status).toBe(200);
  expect(response.headers.get("docker-content-digest")).toBe(image.digest);
  expect(response.headers.get("content-type")).toBe(image.mediaType);
  const manifest = JSON.parse(await response.text()) as Manifest;
  for (const blob of [manifest.config, ...manifest.layers]) {
    const bytes = await getVerified(`/v2/${repository}/blobs/${blob.digest}`, blob.digest, init);
    expect(bytes.byteLength).toBe(blob.size);
  }
  return manifest;
}

describe("through the standalone proxy", () => {
  it("pulls a manifest and its blobs with the registry's digests, following blob redirects itself", async () => {
    const manifest = await pull("local/busybox", images.busybox);
    const layer = manifest.layers[0]!.digest;
    // The relay answered the blob GET with a 307; the proxy fetched the "CDN" path and the client never saw it.
    expect(relay.requests).toContain(`GET /v2/busybox/blobs/${layer}`);
    expect(relay.requests).toContain(`GET /cdn/busybox/${layer}`);
  });

  it("follows an index to its linux/386 manifest by digest", async () => {
    const index = JSON.parse(
      new TextDecoder().decode(await getVerified("/v2/local/multi/manifests/latest", images.multi.digest)),
    ) as { manifests: Descriptor[] };
    const i386 = index.manifests.find((m) => m.platform?.architecture === "386")!;
    await getVerified(`/v2/local/multi/manifests/${i386.digest}`, i386.digest);
  });

  it("serves a second pull from its cache: one upstream download per blob", async () => {
    const manifest = await pull("local/busybox", images.busybox);
    const before = [...relay.requests];
    const again = await get(`/v2/local/busybox/blobs/${manifest.layers[0]!.digest}`);
    expect(again.headers.get("x-drydock-cache")).toBe("hit");
    await again.arrayBuffer();
    await pull("local/busybox", images.busybox);
    const after = relay.requests.slice(before.length);
    // The tag still costs one HEAD upstream (tags move); the manifest and every blob come from the cache.
    expect(after).toEqual(["HEAD /v2/busybox/manifests/latest"]);
    for (const blob of [manifest.config, ...manifest.layers]) {
      expect(relay.count(`GET /cdn/busybox/${blob.digest}`), blob.digest).toBe(1);
    }
  });

  it("takes a registry host with its port as an alias, the form the engine's proxyEndpoint sends", async () => {
    await pull(`${new URL(relay.url).host}/busybox`, images.busybox);
  });

  it("maps names without a registry to docker.io, adding library/ as Docker does", async () => {
    await pull("busybox", images.busybox);
    // Only the HEAD for the tag: the manifest itself has the same digest as local/busybox's, already cached.
    expect(relay.requests).toContain("HEAD /v2/library/busybox/manifests/latest");
  });

  it("rewrites a 401 challenge's realm to itself and gets the token from the real realm", async () => {
    const challenged = await get("/v2/gated/busybox/manifests/latest");
    expect(challenged.status).toBe(401);
    const challenge = challenged.headers.get("www-authenticate");
    expect(challenge).toBe(`Bearer realm="${proxy.url}/token",service="gate",scope="repository:gated/busybox:pull"`);
    const tokenResponse = await fetch(
      `${proxy.url}/token?service=gate&scope=${encodeURIComponent("repository:gated/busybox:pull")}`,
    );
    const { token } = (await tokenResponse.json()) as { token: string };
    expect(gated.tokenScopes).toEqual(["repository:busybox:pull"]);
    await pull("gated/busybox", images.busybox, { headers: { authorization: `Bearer ${token}` } });
  });

  it("passes basic credentials through", async () => {
    const challenged = await get("/v2/basic/busybox/manifests/latest");
    expect(challenged.status).toBe(401);
    expect(challenged.headers.get("www-authenticate")).toBe('Basic realm="drydock-test"');
    await pull("basic/busybox", images.busybox, {
      headers: { authorization: basicAuthorization(authRegistry.credentials!) },
    });
    const wrong = await get("/v2/basic/busybox/manifests/latest", {
      headers: { authorization: `Basic ${Buffer.from("drydock:wrong").toString("base64")}` },
    });
    expect(wrong.status).toBe(401);
  });

  it("answers CORS preflights and exposes the headers a browser needs", async () => {
    const preflight = await fetch(`${proxy.url}/v2/local/busybox/manifests/latest`, {
      method: "OPTIONS",
      headers: {
        origin: "https://learner.example",
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization,range",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/Authorization.*Range/);
    const response = await get("/v2/local/busybox/manifests/latest", {
      headers: { origin: "https://learner.example" },
    });
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-expose-headers")).toMatch(
      /Docker-Content-Digest.*WWW-Authenticate.*Content-Range.*Content-Length/,
    );
  });

  it("is read-only: 405 for PUT, POST, PATCH and DELETE, and nothing reaches the registry", async () => {
    const before = relay.requests.length;
    for (const [method, path] of [
      ["PUT", `/v2/local/busybox/manifests/latest`],
      ["POST", "/v2/local/busybox/blobs/uploads/"],
      ["PATCH", "/v2/local/busybox/blobs/uploads/x"],
      ["DELETE", `/v2/local/busybox/manifests/${images.busybox.digest}`],
    ]) {
      const response = await fetch(`${proxy.url}${path}`, { method, body: method === "DELETE" ? null : "x" });
      expect(response.status, method).toBe(405);
    }
    expect(relay.requests.length).toBe(before);
  });

  it("refuses an unconfigured registry", async () => {
    const response = await get("/v2/registry.example/x/manifests/latest");
    expect(response.status).toBe(403);
    expect(await response.text()).toMatch(/registry.example is not configured/);
    // A default upstream, but --no-default-upstreams left it out.
    expect((await get("/v2/ghcr.io/o/x/manifests/latest")).status).toBe(403);
  });

  it("refuses a redirect to a private address it was not configured for, before connecting", async () => {
    // That relay redirects every blob GET to 127.0.0.2, a loopback address no one configured.
    const response = await get(`/v2/elsewhere/busybox/blobs/sha256:${"e".repeat(64)}`);
    expect(response.status).toBe(403);
    expect(await response.text()).toMatch(/refusing 127\.0\.0\.2: a loopback address/);
    expect(elsewhere.requests).toEqual([`GET /v2/busybox/blobs/sha256:${"e".repeat(64)}`]);
    expect(forbiddenHits).toBe(0);
  });

  it("works for skopeo, a real registry client, anonymous, with tokens and with basic auth", async () => {
    const host = new URL(proxy.url).host;
    const inspect = async (reference: string, ...args: string[]) => {
      const { stdout } = await run("skopeo", [
        "inspect",
        "--tls-verify=false",
        ...args,
        `docker://${host}/${reference}`,
      ]);
      return JSON.parse(stdout) as { Digest: string; Architecture: string };
    };
    expect(await inspect("local/busybox:latest")).toMatchObject({ Digest: images.busybox.digest, Architecture: "386" });
    expect((await inspect("gated/busybox:latest")).Digest).toBe(images.busybox.digest);
    const creds = `${authRegistry.credentials!.username}:${authRegistry.credentials!.password}`;
    expect((await inspect("basic/busybox:latest", "--creds", creds)).Digest).toBe(images.busybox.digest);
    // A copy checks every blob against its digest on the way.
    const dir = await mkdtemp(join(tmpdir(), "proxy-skopeo-"));
    try {
      await run("skopeo", [
        "--insecure-policy",
        "copy",
        "--quiet",
        "--override-arch=386",
        "--src-tls-verify=false",
        `docker://${host}/local/multi:latest`,
        `oci:${dir}:multi`,
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the engine through the proxy", () => {
  it("pulls the same images as directly: anonymous, with a token, with basic auth, from an index", async () => {
    const credentials = (host: string) =>
      host === authRegistry.host
        ? { username: authRegistry.credentials!.username, password: authRegistry.credentials!.password }
        : undefined;
    const direct = await ImageService.open({ credentials });
    const proxied = await ImageService.open({ credentials, proxy: proxy.url });
    const relayHost = new URL(relay.url).host;
    for (const reference of [
      `${relayHost}/busybox:latest`,
      `${new URL(gated.url).host}/busybox:latest`,
      `${authRegistry.host}/busybox:latest`,
      `${relayHost}/multi:latest`,
    ]) {
      const [viaProxy, viaRegistry] = [await proxied.pull(reference), await direct.pull(reference)];
      expect(viaProxy.digest, reference).toBe(viaRegistry.digest);
      expect(viaProxy.id, reference).toBe(viaRegistry.id);
    }
  });
});

/** Serves a proxy app on a free loopback port for the length of `body`. */
async function withServed(
  app: { fetch: (request: Request) => Response | Promise<Response> },
  body: (origin: string) => Promise<void>,
) {
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  try {
    const address = await new Promise<AddressInfo>((resolve) =>
      server.once("listening", () => resolve(server.address() as AddressInfo)),
    );
    await body(`http://127.0.0.1:${address.port}`);
  } finally {
    server.close();
  }
}

describe("what it caches", () => {
  it("keeps its cache in a directory across restarts", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), "proxy-cache-dir-"));
    const start = () => createNodeProxy({ upstreams: { local: { url: relay.url, allowPrivate: true } }, cacheDir });
    try {
      const path = `/v2/local/multi/manifests/${images.multi.digest}`;
      await withServed(start(), async (origin) => {
        const first = await fetch(`${origin}${path}`, { headers: { accept: MANIFEST_ACCEPT } });
        expect(first.headers.get("x-drydock-cache")).toBe("miss");
        expect(sha256(new Uint8Array(await first.arrayBuffer()))).toBe(images.multi.digest);
        // The fill commits (verify, rename) just after the last byte is sent.
        await vi.waitFor(async () => {
          const head = await fetch(`${origin}${path}`, { method: "HEAD" });
          expect(head.headers.get("x-drydock-cache")).toBe("hit");
        });
      });
      await withServed(start(), async (origin) => {
        const again = await fetch(`${origin}${path}`, { headers: { accept: MANIFEST_ACCEPT } });
        expect(again.headers.get("x-drydock-cache")).toBe("hit");
        expect(again.headers.get("content-type")).toBe(images.multi.mediaType);
        expect(sha256(new Uint8Array(await again.arrayBuffer()))).toBe(images.multi.digest);
      });
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });

  it("keeps nothing fetched with a user's credentials", async () => {
    const app = createNodeProxy({ upstreams: { basic: { url: authRegistry.url, allowPrivate: true } } });
    const headers = { accept: MANIFEST_ACCEPT, authorization: basicAuthorization(authRegistry.credentials!) };
    await withServed(app, async (origin) => {
      const url = `${origin}/v2/basic/busybox/manifests/${images.busybox.digest}`;
      for (let i = 0; i < 2; i++) {
        const response = await fetch(url, { headers });
        expect(response.headers.get("x-drydock-cache")).toBe("bypass");
        expect(sha256(new Uint8Array(await response.arrayBuffer()))).toBe(images.busybox.digest);
      }
      expect((await fetch(url)).status).toBe(401);
    });
  });
});

describe("address checks after DNS", () => {
  it("refuses loopback upstreams that were not configured explicitly, by address or by name", async () => {
    const port = new URL(registry.url).port;
    const app = createNodeProxy({
      upstreams: {
        literal: { url: registry.url },
        named: { url: `http://localhost:${port}` },
        explicit: { url: relay.url, allowPrivate: true },
      },
      cache: false,
    });
    await withServed(app, async (origin) => {
      const at = (path: string) => fetch(`${origin}${path}`);
      const literal = await at("/v2/literal/busybox/manifests/latest");
      expect(literal.status).toBe(403);
      expect(await literal.text()).toMatch(/refusing 127\.0\.0\.1: a loopback address/);
      const named = await at("/v2/named/busybox/manifests/latest");
      expect(named.status).toBe(403);
      expect(await named.text()).toMatch(/refusing localhost: a local name/);
      expect((await at("/v2/explicit/busybox/manifests/latest")).status).toBe(200);
      expect(relay.requests.at(-1)).toBe("GET /v2/busybox/manifests/latest");
    });
  });
});

describe("in Vite", () => {
  it("is mounted at /registry in the dev server by vite.config.ts", async () => {
    const server = await createViteServer({
      configFile: join(root, "vite.config.ts"),
      logLevel: "silent",
      server: { port: 0, host: "127.0.0.1" },
    });
    await server.listen();
    try {
      const origin = server.resolvedUrls!.local[0]!.replace(/\/$/, "");
      const response = await fetch(`${origin}/registry/v2/`);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toContain(`realm="${origin}/registry/token"`);
      expect((await fetch(`${origin}/registry/v2/registry.example/x/manifests/latest`)).status).toBe(403);
      expect((await fetch(`${origin}/`)).status).toBe(200); // the page is still there
    } finally {
      await server.close();
    }
  });

  it("pulls through the plugin in the dev and the preview server", async () => {
    const plugin = () => registryProxy({ upstreams: { local: { url: relay.url, allowPrivate: true } } });
    const outDir = await mkdtemp(join(tmpdir(), "proxy-preview-"));
    await writeFile(join(outDir, "index.html"), "<!doctype html><title>preview</title>");
    const dev = await createViteServer({
      configFile: false,
      root: join(root, "web"),
      logLevel: "silent",
      server: { port: 0, host: "127.0.0.1" },
      plugins: [plugin()],
    });
    await dev.listen();
    const previewServer = await vitePreview({
      configFile: false,
      root: join(root, "web"),
      logLevel: "silent",
      build: { outDir },
      preview: { port: 0, host: "127.0.0.1" },
      plugins: [plugin()],
    });
    try {
      for (const server of [dev, previewServer]) {
        const origin = server.resolvedUrls!.local[0]!.replace(/\/$/, "");
        const manifest = await fetch(`${origin}/registry/v2/local/busybox/manifests/latest`, {
          headers: { accept: MANIFEST_ACCEPT },
        });
        expect(manifest.headers.get("docker-content-digest")).toBe(images.busybox.digest);
        const { layers } = (await manifest.json()) as Manifest;
        const blob = await fetch(`${origin}/registry/v2/local/busybox/blobs/${layers[0]!.digest}`);
        expect(sha256(new Uint8Array(await blob.arrayBuffer()))).toBe(layers[0]!.digest);
      }
    } finally {
      await dev.close();
      await previewServer.close();
      await rm(outDir, { recursive: true, force: true });
    }
  });
});
