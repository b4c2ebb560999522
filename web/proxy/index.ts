/**
 * The Drydock registry proxy: a read-only, caching CORS proxy in front of container registries. Browsers cannot pull
 * from registries directly (no CORS headers, token realms on other hosts, blobs redirected to CDNs), so the page
 * pulls through this, and anything else that speaks the distribution API (the engine in Node, skopeo, a docker
 * daemon's `registry-mirrors`) can use it too.
 *
 * What it serves, under its base path:
 * - `/v2/<alias>/<name>/{manifests,blobs,referrers}/<ref>` and `/v2/<alias>/<name>/tags/list`: `<name>` on the
 *   upstream configured as `<alias>` (defaults: docker.io, ghcr.io, quay.io, gcr.io, public.ecr.aws). A name without a
 *   known alias goes to Docker Hub, as `library/<name>` for a one-component name; an unknown registry host is refused.
 * - `/v2/`: the version check, answered with a Bearer challenge whose realm is the proxy's own `/token`.
 * - `/token?scope=repository:<name>:pull`: tokens, fetched from the upstream's real realm with the client's
 *   Authorization passed through (never stored). Upstream 401 challenges are rewritten to point there too. For an
 *   upstream behind basic auth the token wraps the client's own credentials (checked upstream first).
 * Blob redirects are followed on the server; bodies stream through; blobs and by-digest manifests fetched without
 * user credentials land in a size-bounded, digest-verified cache. Only GET and HEAD (and CORS preflights).
 *
 * Running it:
 * - With the app: `npm run dev` and `npm run preview` mount it at `/registry` (see vite-plugin.ts), so the page uses
 *   `${location.origin}/registry` as its registry.
 * - Standalone: `npm run proxy -- --port 5080 --upstream local=http://127.0.0.1:5000 --cache-dir /var/cache/drydock`
 *   (cli.ts; `--help` lists the options). Then e.g. `skopeo inspect --tls-verify=false docker://127.0.0.1:5080/alpine`,
 *   or `"registry-mirrors": ["http://host:5080"]` (plus `"insecure-registries": ["host:5080"]` for plain http) in a
 *   docker daemon's daemon.json. A registry host with a port works as an alias too
 *   (`--upstream 127.0.0.1:5000=http://127.0.0.1:5000`), which is the form the engine's `proxyEndpoint` sends.
 * - On an edge runtime (Cloudflare Workers, Deno Deploy, Bun): deploy the fetch handler of `createProxy`, which uses
 *   only web APIs. Without a `resolveHost` (workers have no DNS lookup; Deno has `Deno.resolveDns`) only IP literals
 *   and local names are checked, so rely on the platform's egress rules for names (workers cannot reach private
 *   networks). Pass a persistent `BlobCache` if the platform has storage, or keep the per-instance memory cache:
 *
 *   ```ts
 *   import { createProxy } from "./web/proxy/index.ts";
 *   // Rate limits are per client only with a clientKey; on Cloudflare the address is in cf-connecting-ip.
 *   const app = createProxy({ clientKey: (c) => c.req.header("cf-connecting-ip") });
 *   export default { fetch: app.fetch };
 *   ```
 *
 * Memory and trust: a blob that fills the cache is read from upstream at most `readAheadBytes` (4 MiB) ahead of its
 * client, so a client that stops reading stops the upstream (and requests waiting for that fill wait at its pace); a
 * client that goes away stops the upstream too, unless at most `finishFillBytes` (16 MiB) are left, which the cache
 * then keeps. At most `maxConcurrentFills` (8) fills run at once, and each holds its room in the cache from its start
 * (in-flight bytes count against the cache's size). Anonymous tokens are signed by the proxy (`AnonymousMarks`), so a
 * client cannot label its own credentials anonymous to fill the shared cache. Under Node, an upstream name is resolved
 * once, checked, and connected to at that very address (`pinnedFetch`), leaving DNS rebinding no window.
 *
 * Node-only parts live in their own files: node.ts (DNS checks, client addresses, disk or memory cache),
 * cache-fs.ts (the disk cache), cli.ts (the server) and vite-plugin.ts.
 */

export { AnonymousMarks, createProxy, DEFAULT_LIMITS, type ProxyLimits, type ProxyOptions } from "./app.ts";
export {
  type BlobCache,
  type BlobWriter,
  type ByteRange,
  type CachedBlob,
  type CachedBlobInfo,
  DigestMismatchError,
  type IncrementalHash,
  type IngestRequest,
  MemoryBlobCache,
  type MemoryBlobCacheOptions,
} from "./cache.ts";
export { DEFAULT_UPSTREAMS, DOCKER_HUB_ALIAS, mapRepository, type UpstreamConfig } from "./names.ts";
export type { ConnectTarget, FetchFunction, ResolveHost } from "./upstream.ts";
