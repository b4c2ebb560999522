// The proxy as a Hono app. Everything here uses only web-standard APIs (fetch, streams, WebCrypto), so `app.fetch`
// runs in Node, Deno, Bun and edge runtimes; Node-only pieces (DNS checks, the disk cache, the server) are in node.ts,
// cache-fs.ts and cli.ts.

import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import { challengeParam, isScheme, parseChallenges } from "../../engine/registry/challenge.ts";
import {
  type BlobCache,
  type BlobWriter,
  type CachedBlobInfo,
  CacheFullError,
  MemoryBlobCache,
  parseDigest,
  parseRange,
} from "./cache.ts";
import {
  DEFAULT_UPSTREAMS,
  isDigest,
  mapRepository,
  parseRoute,
  type RegistryRoute,
  type UpstreamConfig,
  type UpstreamRepository,
} from "./names.ts";
import { anyPushAllowed, PUSH_METHODS, registerPushRoutes } from "./push.ts";
import { RateLimiter } from "./rate-limit.ts";
import {
  formatScope,
  parseScope,
  rewriteChallenge,
  rewriteTagsLink,
  type Scope,
  type TokenService,
} from "./rewrite.ts";
import {
  checkUrl,
  Deadline,
  type FetchFunction,
  FillAbandoned,
  fetchUpstream,
  type HostPolicy,
  limitBody,
  messageOf,
  type ResolveHost,
  streamWhileFilling,
  UpstreamError,
  type UpstreamResponse,
} from "./upstream.ts";

export interface ProxyLimits {
  /** Largest blob streamed through. Default 4 GiB. */
  readonly maxBlobBytes: number;
  /** Largest manifest, tag list or error body. Default 4 MiB, what the distribution spec asks registries to accept. */
  readonly maxManifestBytes: number;
  /** Largest token response. Default 1 MiB. */
  readonly maxTokenBytes: number;
  /** Time allowed for an upstream's response headers. Default 30 s. */
  readonly headersTimeoutMs: number;
  /** Time allowed for a whole upstream exchange, body included. Default 30 min (a big layer on a school line). */
  readonly transferTimeoutMs: number;
  /** Redirects followed per request. Default 5. */
  readonly maxRedirects: number;
  /**
   * Bytes read from upstream ahead of a client that fills the cache (and bytes waiting to be written to it): what one
   * slow or stalled client can make the proxy hold. Default 4 MiB.
   */
  readonly readAheadBytes: number;
  /**
   * When a client that was filling the cache goes away, the fill is finished without it if at most this many bytes
   * are left to fetch; otherwise the upstream is stopped at once. Default 16 MiB.
   */
  readonly finishFillBytes: number;
  /** Cache fills in progress at once; requests beyond them stream through uncached. Default 8. */
  readonly maxConcurrentFills: number;
  /** Sustained requests per minute per client. Default 1200 (one image pull is about ten requests). */
  readonly requestsPerMinute: number;
  /** Requests a client may make in a burst. Default 300. */
  readonly burst: number;
}

export const DEFAULT_LIMITS: ProxyLimits = {
  maxBlobBytes: 4 * 1024 ** 3,
  maxManifestBytes: 4 * 1024 ** 2,
  maxTokenBytes: 1024 ** 2,
  headersTimeoutMs: 30_000,
  transferTimeoutMs: 30 * 60_000,
  maxRedirects: 5,
  readAheadBytes: 4 * 1024 ** 2,
  finishFillBytes: 16 * 1024 ** 2,
  maxConcurrentFills: 8,
  requestsPerMinute: 1200,
  burst: 300,
};

export interface ProxyOptions {
  /** Upstream registries by alias. Default `DEFAULT_UPSTREAMS`; when given, exactly these. */
  readonly upstreams?: Readonly<Record<string, UpstreamConfig>>;
  /** Path the proxy is mounted at, e.g. `/registry` (no trailing slash). Default: the root. */
  readonly basePath?: string;
  /**
   * The proxy's own public URL (base path included), used in the token realm it advertises. Default: the origin of
   * each request plus `basePath`; set it when a reverse proxy in front changes scheme or host.
   */
  readonly publicUrl?: string;
  /** Blob cache. Default an in-memory cache of 512 MiB; `false` disables caching. */
  readonly cache?: BlobCache | false;
  /** DNS lookup for address checks (see `HostPolicy.resolve`); node.ts provides one. */
  readonly resolveHost?: ResolveHost;
  /** Extra `host[:port]` values allowed on private addresses, e.g. a token server beside a local registry. */
  readonly allowPrivateHosts?: readonly string[];
  /** Identifies the client for rate limiting, e.g. its IP address. Default: one bucket for everyone. */
  readonly clientKey?: (c: Context) => string | undefined;
  readonly limits?: Partial<ProxyLimits>;
  /** Allowed CORS origins. Default `*`: the proxy uses no cookies, so any page may use it. */
  readonly corsOrigin?: string | string[];
  /** How to reach upstreams. Default the global fetch. */
  readonly fetch?: FetchFunction;
  /**
   * The key that signs the proxy's anonymous tokens (see `AnonymousMarks`). Default a random one per instance; give
   * several instances behind one address the same secret so each accepts the others' tokens.
   */
  readonly tokenSecret?: string;
  /** Reports problems that do not fail the request, such as a cache fill that did not verify. Default console.warn. */
  readonly warn?: (message: string) => void;
}

/** The token the proxy hands out for anonymous access; see `AnonymousMarks`. */
const ANONYMOUS_TOKEN = "drydock-anonymous";
/** The token the proxy hands out for an upstream behind basic auth; see `basicToken`. */
const BASIC_TOKEN = "drydock-basic";
const PROXY_SERVICE = "drydock-registry-proxy";
const TOKEN_SERVICE_TTL_MS = 10 * 60_000;

const DEFAULT_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

// Response headers worth passing on. Anything else (cookies, the CDN's own headers) stays behind.
const PASSED_RESPONSE_HEADERS = [
  "content-type",
  "content-length",
  "content-range",
  "accept-ranges",
  "docker-content-digest",
  "etag",
  "last-modified",
  "oci-filters-applied",
  "ratelimit-limit",
  "ratelimit-remaining",
  "docker-ratelimit-source",
  "retry-after",
];

const EXPOSED_HEADERS = [
  "Docker-Content-Digest",
  "WWW-Authenticate",
  "Content-Range",
  "Content-Length",
  "Content-Type",
  "Accept-Ranges",
  "Docker-Distribution-API-Version",
  "Link",
  "ETag",
  "OCI-Filters-Applied",
  "RateLimit-Limit",
  "RateLimit-Remaining",
  "Retry-After",
  "X-Drydock-Cache",
];

type ErrorCode =
  | "DENIED"
  | "NAME_INVALID"
  | "UNSUPPORTED"
  | "UNAVAILABLE"
  | "TOOMANYREQUESTS"
  | "UNAUTHORIZED"
  | "NOT_FOUND";

function registryError(status: number, code: ErrorCode, message: string, headers?: Record<string, string>): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  h.set("docker-distribution-api-version", "registry/2.0");
  return new Response(JSON.stringify({ errors: [{ code, message }] }), { status, headers: h });
}

function upstreamErrorResponse(error: UpstreamError): Response {
  switch (error.code) {
    case "DENIED":
      return registryError(403, "DENIED", error.message);
    case "TIMEOUT":
      return registryError(504, "UNAVAILABLE", error.message);
    default:
      return registryError(502, "UNAVAILABLE", error.message);
  }
}

/** How a client's Authorization maps upstream, and whether what it fetches may fill the shared cache. */
interface ClientAuthorization {
  readonly upstream?: string;
  readonly anonymous: boolean;
}

/**
 * Tokens the proxy's token endpoint obtained without user credentials come back marked and signed
 * (`drydock-anonymous.<signature>.<token>`, an HMAC with a key only this proxy holds): the mark is stripped before the
 * request goes upstream, and only requests whose mark verifies may fill the shared cache, so blobs fetched with
 * someone's credentials are streamed but never kept, and a client cannot label its own credentials anonymous. What is
 * cached was anonymously readable, which is why a cache hit can be served to anyone. The bare mark stands for "no
 * credentials at all" (an upstream without auth, reached by a client such as skopeo that always asks for a token
 * first), and sends nothing upstream. A `drydock-basic.` token carries a client's own basic credentials (see
 * `basicToken`). A mark that does not verify (forged, or signed before a restart with another key) is stripped and its
 * token passed on as the client's own.
 */
export class AnonymousMarks {
  readonly #key: ReturnType<typeof crypto.subtle.importKey>;

  /** `secret`: the signing key, shared by proxies that serve the same clients; default a random one per instance. */
  constructor(secret?: string) {
    const raw = secret === undefined ? crypto.getRandomValues(new Uint8Array(32)) : new TextEncoder().encode(secret);
    this.#key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  }

  /** The marked form of an upstream token obtained without credentials. */
  async mark(token: string): Promise<string> {
    const signature = await crypto.subtle.sign("HMAC", await this.#key, new TextEncoder().encode(token));
    return `${ANONYMOUS_TOKEN}.${base64url(new Uint8Array(signature))}.${token}`;
  }

  /** How a client's Authorization maps upstream, and whether what it fetches may fill the shared cache. */
  async read(header: string | undefined): Promise<ClientAuthorization> {
    if (!header) return { anonymous: true };
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1];
    if (bearer === ANONYMOUS_TOKEN) return { anonymous: true };
    if (bearer?.startsWith(`${ANONYMOUS_TOKEN}.`)) {
      const rest = bearer.slice(ANONYMOUS_TOKEN.length + 1);
      const dot = rest.indexOf(".");
      const token = dot < 0 ? rest : rest.slice(dot + 1);
      const signature = dot < 0 ? undefined : fromBase64url(rest.slice(0, dot));
      const valid =
        signature !== undefined &&
        (await crypto.subtle.verify("HMAC", await this.#key, signature, new TextEncoder().encode(token)));
      return { upstream: `Bearer ${token}`, anonymous: valid };
    }
    if (bearer?.startsWith(`${BASIC_TOKEN}.`)) {
      return { upstream: `Basic ${bearer.slice(BASIC_TOKEN.length + 1)}`, anonymous: false };
    }
    return { upstream: header, anonymous: false };
  }
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * Creates the proxy. Serve `app.fetch` with any runtime's HTTP server.
 *
 * @example
 * const app = createProxy({ upstreams: { local: { url: "http://127.0.0.1:5000", allowPrivate: true } } });
 * const response = await app.fetch(new Request("http://proxy/v2/local/busybox/manifests/latest"));
 */
export function createProxy(options: ProxyOptions = {}): Hono {
  const upstreams = options.upstreams ?? DEFAULT_UPSTREAMS;
  const limits: ProxyLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const basePath = (options.basePath ?? "").replace(/\/+$/, "");
  const cache = options.cache === false ? undefined : (options.cache ?? new MemoryBlobCache());
  const fetchFn: FetchFunction = options.fetch ?? ((request) => fetch(request));
  const warn = options.warn ?? ((message: string) => console.warn(`registry proxy: ${message}`));
  const hostOf = (u: UpstreamConfig) => new URL(u.url).host;
  const policy: HostPolicy = {
    configuredHosts: new Set(Object.values(upstreams).map(hostOf)),
    privateHosts: new Set([
      ...Object.values(upstreams)
        .filter((u) => u.allowPrivate)
        .map(hostOf),
      ...(options.allowPrivateHosts ?? []),
    ]),
    ...(options.resolveHost ? { resolve: options.resolveHost } : {}),
  };
  const marks = new AnonymousMarks(options.tokenSecret);
  const rateLimiter = new RateLimiter({ requestsPerMinute: limits.requestsPerMinute, burst: limits.burst });
  // Fills in progress by digest: a second request for the same blob waits for the first instead of fetching it
  // again, which is what makes thirty simultaneous pulls cost one upstream download.
  const inflight = new Map<string, Promise<void>>();
  const tokenServices = new Map<string, { value: TokenService | "anonymous" | "basic"; expires: number }>();

  const realmFor = (c: Context) =>
    `${options.publicUrl?.replace(/\/+$/, "") ?? `${new URL(c.req.url).origin}${basePath}`}/token`;

  const app = new Hono();
  const pushing = anyPushAllowed(upstreams);

  app.use(
    "*",
    cors({
      origin: options.corsOrigin ?? "*",
      allowMethods: ["GET", "HEAD", "OPTIONS", ...(pushing ? PUSH_METHODS : [])],
      allowHeaders: [
        "Authorization",
        "Accept",
        "Range",
        "If-None-Match",
        ...(pushing ? ["Content-Type", "Content-Range"] : []),
      ],
      exposeHeaders: pushing ? [...EXPOSED_HEADERS, "Location", "Range", "Docker-Upload-UUID"] : EXPOSED_HEADERS,
      maxAge: 86400,
    }),
  );

  app.use("*", async (c, next) => {
    const method = c.req.method;
    if (method !== "GET" && method !== "HEAD" && !(pushing && PUSH_METHODS.includes(method))) {
      return registryError(405, "UNSUPPORTED", `${method} is not supported: this proxy is read-only`, {
        allow: "GET, HEAD, OPTIONS",
      });
    }
    const wait = rateLimiter.take(options.clientKey?.(c) ?? "*");
    if (wait > 0) {
      return registryError(429, "TOOMANYREQUESTS", "too many requests; slow down", { "retry-after": String(wait) });
    }
    await next();
  });

  const routes = new Hono();

  // The API version check. Clients such as skopeo and dockerd learn how to authenticate from this answer alone, and
  // one answer must cover every upstream, so it names the proxy's own token endpoint; that endpoint works out the
  // upstream from the scope asked for.
  const ping = (c: Context) => {
    const headers = { "docker-distribution-api-version": "registry/2.0" };
    if (c.req.header("authorization")) return c.json({}, 200, headers);
    const challenge = `Bearer realm="${realmFor(c)}",service="${PROXY_SERVICE}"`;
    return registryError(401, "UNAUTHORIZED", "authentication required", {
      ...headers,
      "www-authenticate": challenge,
    });
  };
  routes.get("/v2", ping);
  routes.get("/v2/", ping);

  routes.get("/token", async (c) => {
    const scopes = c.req
      .queries("scope")
      ?.flatMap((s) => s.split(" "))
      .filter((s) => s !== "");
    const repositories = (scopes ?? []).map(parseScope).filter((s): s is Scope => s?.type === "repository");
    if (repositories.length === 0) {
      return registryError(400, "UNSUPPORTED", "this proxy issues tokens for repository scopes only");
    }
    let target: UpstreamRepository | undefined;
    const upstreamScopes: string[] = [];
    for (const scope of repositories) {
      const mapped = mapRepository(scope.name, upstreams);
      if (!mapped.ok) return registryError(mapped.code === "DENIED" ? 403 : 400, mapped.code, mapped.message);
      if (target && target.alias !== mapped.repository.alias) {
        return registryError(400, "UNSUPPORTED", "one token cannot cover repositories of two upstream registries");
      }
      target = mapped.repository;
      // Read-only unless the operator allowed pushes to this upstream: only then is push asked for.
      const push = scope.actions.includes("push") && mapped.repository.upstream.allowPush === true;
      upstreamScopes.push(
        formatScope({ type: "repository", name: mapped.repository.name, actions: push ? ["pull", "push"] : ["pull"] }),
      );
    }
    const auth = c.req.header("authorization");
    try {
      const service = await tokenServiceOf(target!);
      if (service === "anonymous") {
        return c.json({ token: ANONYMOUS_TOKEN, access_token: ANONYMOUS_TOKEN, expires_in: 3600 });
      }
      if (service === "basic") return await basicToken(c, target!, auth);
      const url = new URL(service.realm);
      if (service.service !== undefined) url.searchParams.set("service", service.service);
      for (const scope of upstreamScopes) url.searchParams.append("scope", scope);
      const account = c.req.query("account");
      if (account) url.searchParams.set("account", account);
      const headers = new Headers({ accept: "application/json", "user-agent": PROXY_SERVICE });
      if (auth && (await marks.read(auth)).upstream === auth) headers.set("authorization", auth);
      const deadline = new Deadline(limits.headersTimeoutMs, limits.headersTimeoutMs * 2);
      try {
        const { response } = await fetchUpstream(
          { method: "GET", url, headers, signal: deadline.signal },
          policy,
          fetchFn,
          limits.maxRedirects,
        );
        const text = await readText(response, limits.maxTokenBytes);
        const contentType = response.headers.get("content-type") ?? "application/json";
        if (!response.ok || headers.has("authorization")) {
          return new Response(text, { status: response.status, headers: { "content-type": contentType } });
        }
        return c.json(await markAnonymous(text, marks));
      } finally {
        deadline.done();
      }
    } catch (error) {
      if (error instanceof UpstreamError) return upstreamErrorResponse(error);
      throw error;
    }
  });

  // An upstream behind basic auth has no token service, but clients that saw the proxy's Bearer challenge ask for a
  // token anyway. The token handed back is the client's own credentials, checked upstream once and wrapped; the proxy
  // unwraps it on each request (see AnonymousMarks.read) and so still stores nothing.
  async function basicToken(c: Context, repository: UpstreamRepository, auth: string | undefined): Promise<Response> {
    const credentials = auth && /^Basic\s+(\S+)$/i.exec(auth)?.[1];
    if (!credentials) {
      return registryError(401, "UNAUTHORIZED", `${repository.alias} needs a username and password`);
    }
    const probe = await exchange(
      "GET",
      new URL(`${trimSlash(repository.upstream.url)}/v2/`),
      new Headers({ authorization: `Basic ${credentials}`, "user-agent": PROXY_SERVICE }),
    );
    probe.deadline.done();
    await probe.response.body?.cancel().catch(() => {});
    if (!probe.response.ok) {
      return registryError(
        401,
        "UNAUTHORIZED",
        `${repository.alias} refused the credentials (${probe.response.status})`,
      );
    }
    const token = `${BASIC_TOKEN}.${credentials}`;
    return c.json({ token, access_token: token, expires_in: 3600 });
  }

  // Where an upstream's tokens come from, learnt from its own API version check and remembered for a while.
  async function tokenServiceOf(repository: UpstreamRepository): Promise<TokenService | "anonymous" | "basic"> {
    const known = tokenServices.get(repository.alias);
    if (known && known.expires > Date.now()) return known.value;
    const deadline = new Deadline(limits.headersTimeoutMs, limits.headersTimeoutMs * 2);
    let value: TokenService | "anonymous" | "basic";
    try {
      const { response } = await fetchUpstream(
        {
          method: "GET",
          url: new URL(`${trimSlash(repository.upstream.url)}/v2/`),
          headers: new Headers({ "user-agent": PROXY_SERVICE }),
          signal: deadline.signal,
        },
        policy,
        fetchFn,
        limits.maxRedirects,
      );
      await response.body?.cancel().catch(() => {});
      if (response.ok) value = "anonymous";
      else {
        const challenges = parseChallenges(response.headers.get("www-authenticate") ?? "");
        const bearer = challenges.find((ch) => isScheme(ch, "bearer"));
        const realm = bearer && challengeParam(bearer, "realm");
        const service = bearer && challengeParam(bearer, "service");
        if (realm) value = service === undefined ? { realm } : { realm, service };
        else if (challenges.some((ch) => isScheme(ch, "basic"))) value = "basic";
        else {
          throw new UpstreamError("UNAVAILABLE", `${repository.alias} answered /v2/ with ${response.status}`);
        }
      }
    } finally {
      deadline.done();
    }
    if (typeof value === "object") await checkUrl(new URL(value.realm), policy);
    tokenServices.set(repository.alias, { value, expires: Date.now() + TOKEN_SERVICE_TTL_MS });
    return value;
  }

  if (pushing) {
    registerPushRoutes(routes, {
      upstreams,
      policy,
      fetchFn,
      basePath,
      upstreamAuthorization: async (header) => (await marks.read(header)).upstream,
      challenge: (c, scope) => `Bearer realm="${realmFor(c)}",service="${PROXY_SERVICE}",scope="${scope}"`,
      timeoutMs: limits.transferTimeoutMs,
    });
  }

  routes.get("/v2/*", async (c) => {
    const pathname = new URL(c.req.url).pathname;
    const route = parseRoute(pathname.slice(pathname.indexOf("/v2/") + "/v2/".length));
    if (!route) return registryError(404, "UNSUPPORTED", "not a route of the read-only registry API");
    const mapped = mapRepository(route.name, upstreams);
    if (!mapped.ok) return registryError(mapped.code === "DENIED" ? 403 : 400, mapped.code, mapped.message);
    try {
      return await serveRoute(c, route, mapped.repository);
    } catch (error) {
      if (error instanceof UpstreamError) return upstreamErrorResponse(error);
      throw error;
    }
  });

  async function serveRoute(c: Context, route: RegistryRoute, repository: UpstreamRepository): Promise<Response> {
    const method = c.req.method === "HEAD" ? "HEAD" : "GET";
    const auth = await marks.read(c.req.header("authorization"));
    const cacheable = cache !== undefined && (route.kind === "blobs" || route.kind === "manifests");

    // By digest, the cache answers first: its content is verified and was anonymously readable.
    if (cacheable && isDigest(route.reference) && parseDigest(route.reference)) {
      const hit = await fromCache(c, route, route.reference);
      if (hit) return hit;
    }

    const upstreamUrl = new URL(`${trimSlash(repository.upstream.url)}/v2/${repository.name}/${routeSuffix(route)}`);
    for (const key of route.kind === "tags" ? ["n", "last"] : route.kind === "referrers" ? ["artifactType"] : []) {
      const value = c.req.query(key);
      if (value !== undefined) upstreamUrl.searchParams.set(key, value);
    }
    const headers = new Headers({ "user-agent": PROXY_SERVICE, "accept-encoding": "identity" });
    const accept = c.req.header("accept");
    if (route.kind === "manifests") headers.set("accept", accept && accept !== "*/*" ? accept : DEFAULT_ACCEPT);
    else if (accept) headers.set("accept", accept);
    for (const name of ["range", "if-none-match"]) {
      const value = c.req.header(name);
      if (value) headers.set(name, value);
    }
    if (auth.upstream) headers.set("authorization", auth.upstream);

    // By tag, a HEAD upstream (which Docker Hub does not count against pull limits) names the digest, and the
    // manifest itself may then come from the cache.
    if (cacheable && route.kind === "manifests" && method === "GET" && !isDigest(route.reference)) {
      // Anything but a clean answer (401, a registry without HEAD support) falls through to the plain GET.
      const head = await exchange("HEAD", upstreamUrl, headers);
      head.deadline.done();
      await head.response.body?.cancel().catch(() => {});
      const digest = head.response.headers.get("docker-content-digest");
      if (head.response.ok && digest && parseDigest(digest)) {
        const hit = await fromCache(c, route, digest);
        if (hit) return hit;
      }
    }

    const result = await exchange(method, upstreamUrl, headers);
    return relay(c, route, repository, result, method, cacheable && auth.anonymous && !c.req.header("range"));
  }

  async function exchange(method: "GET" | "HEAD", url: URL, headers: Headers) {
    const deadline = new Deadline(limits.headersTimeoutMs, limits.transferTimeoutMs);
    try {
      const result = await fetchUpstream(
        { method, url, headers, signal: deadline.signal },
        policy,
        fetchFn,
        limits.maxRedirects,
      );
      deadline.headersReceived();
      return { ...result, deadline };
    } catch (error) {
      deadline.done();
      throw error;
    }
  }

  async function fromCache(c: Context, route: RegistryRoute, digest: string): Promise<Response | undefined> {
    if (!cache) return undefined;
    const pending = inflight.get(digest);
    if (pending) await pending;
    const info = await cache.stat(digest);
    // A blob cached without a media type cannot be served as a manifest: the client needs the Content-Type.
    if (!info || (route.kind === "manifests" && info.mediaType === undefined)) return undefined;
    const range = route.kind === "blobs" ? parseRange(c.req.header("range"), info.size) : undefined;
    const headers = cacheHeaders(info, route);
    if (range === "unsatisfiable") {
      headers.set("content-range", `bytes */${info.size}`);
      headers.delete("content-length");
      return new Response(null, { status: 416, headers });
    }
    if (range) {
      headers.set("content-range", `bytes ${range.start}-${range.end}/${info.size}`);
      headers.set("content-length", String(range.end - range.start + 1));
    }
    const status = range ? 206 : 200;
    if (c.req.method === "HEAD") return new Response(null, { status, headers });
    const blob = await cache.open(digest, range);
    if (!blob) return undefined;
    return new Response(blob.body, { status, headers });
  }

  function relay(
    c: Context,
    route: RegistryRoute,
    repository: UpstreamRepository,
    result: UpstreamResponse & { deadline: Deadline },
    method: "GET" | "HEAD",
    mayFill = false,
  ): Response {
    const { response, deadline } = result;
    // "bypass" unless this response fills the cache ("miss"), set below.
    const headers = new Headers({ "docker-distribution-api-version": "registry/2.0", "x-drydock-cache": "bypass" });
    for (const name of PASSED_RESPONSE_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    // A runtime that decoded a compressed body leaves the encoded length behind; neither header is true any more.
    if (response.headers.has("content-encoding")) headers.delete("content-length");
    if (route.kind === "blobs" && response.ok && !headers.has("docker-content-digest")) {
      // After a redirect the CDN's answer lacks it; the digest is what was asked for, and clients verify it anyway.
      headers.set("docker-content-digest", route.reference);
    }
    const challenge = response.headers.get("www-authenticate");
    if (challenge) {
      headers.set(
        "www-authenticate",
        rewriteChallenge(challenge, realmFor(c), { upstream: repository.name, client: route.name }).header,
      );
    }
    const link = response.headers.get("link");
    if (link && route.kind === "tags") {
      const rewritten = rewriteTagsLink(
        link,
        result.url.href,
        repository.name,
        `${basePath}/v2/${route.name}/tags/list`,
      );
      if (rewritten) headers.set("link", rewritten);
    }

    if (method === "HEAD" || !response.body) {
      deadline.done();
      response.body?.cancel().catch(() => {});
      return new Response(null, { status: response.status, headers });
    }
    const max = route.kind === "blobs" && response.ok ? limits.maxBlobBytes : limits.maxManifestBytes;
    const length = Number(response.headers.get("content-length") ?? Number.NaN);
    if (length > max) {
      deadline.done();
      response.body.cancel().catch(() => {});
      return registryError(502, "UNAVAILABLE", `upstream response of ${length} bytes exceeds the limit of ${max}`);
    }
    const digest = cacheKey(route, response);
    const fillable = inflight.size < limits.maxConcurrentFills && !(digest && inflight.has(digest));
    if (!mayFill || !fillable || response.status !== 200 || !digest || !parseDigest(digest)) {
      return new Response(
        limitBody(response.body, max, () => deadline.done()),
        { status: response.status, headers },
      );
    }
    headers.set("x-drydock-cache", "miss");
    const mediaType = route.kind === "manifests" ? (response.headers.get("content-type") ?? undefined) : undefined;
    const size = Number.isFinite(length) && !response.headers.has("content-encoding") ? length : undefined;
    const ingesting = cache!.ingest({
      digest,
      ...(size === undefined ? {} : { size }),
      ...(mediaType === undefined ? {} : { mediaType }),
    });
    // The client gets each chunk as it arrives, the upstream read no further ahead of it than the window; the cache
    // writes behind. A client that leaves stops the upstream, unless little is left and the fill is worth finishing.
    const { client, filled } = streamWhileFilling(response.body, {
      maxBytes: max,
      onEnd: () => deadline.done(),
      write: async (chunk) => {
        const writer = await ingesting;
        if (!writer) throw NOT_CACHED;
        await writer.write(chunk);
      },
      windowBytes: limits.readAheadBytes,
      finishWithoutClient: (seen) => size !== undefined && size - seen <= limits.finishFillBytes,
    });
    const done = finishFill(digest, ingesting, filled).finally(() => inflight.delete(digest));
    inflight.set(digest, done);
    waitUntil(c, done);
    return new Response(client, { status: response.status, headers });
  }

  async function finishFill(
    digest: string,
    ingesting: Promise<BlobWriter | undefined>,
    filled: Promise<void>,
  ): Promise<void> {
    // Never rejects: nobody awaits a fill's failure, and the client's stream does not depend on it.
    const [ingest, fill] = await Promise.allSettled([ingesting, filled]);
    const writer = ingest.status === "fulfilled" ? ingest.value : undefined;
    try {
      if (ingest.status === "rejected") throw ingest.reason;
      if (fill.status === "rejected") throw fill.reason;
      await writer?.commit();
    } catch (error) {
      await writer?.abort().catch(() => {});
      // Declined, abandoned by its client or crowded out by other fills: expected, not worth a warning.
      const expected = error === NOT_CACHED || error instanceof FillAbandoned || error instanceof CacheFullError;
      if (!expected) warn(`not caching ${digest}: ${messageOf(error)}`);
    }
  }

  app.route(basePath || "/", routes);
  app.notFound(() => registryError(404, "NOT_FOUND", "not found"));
  app.onError((error) => registryError(500, "UNAVAILABLE", `proxy error: ${messageOf(error)}`));
  return app;
}

/** What a fill's writes fail with when the cache declined the blob (too large): not worth a warning. */
const NOT_CACHED = new Error("not cached");

/** The digest a response may be cached under: blobs and manifests only, by the digest asked for or announced. */
function cacheKey(route: RegistryRoute, response: Response): string | null {
  if (route.kind === "blobs") return route.reference;
  if (route.kind !== "manifests") return null;
  return isDigest(route.reference) ? route.reference : response.headers.get("docker-content-digest");
}

function cacheHeaders(info: CachedBlobInfo, route: RegistryRoute): Headers {
  return new Headers({
    "content-type": route.kind === "manifests" ? info.mediaType! : "application/octet-stream",
    "content-length": String(info.size),
    "docker-content-digest": info.digest,
    etag: `"${info.digest}"`,
    "accept-ranges": route.kind === "blobs" ? "bytes" : "none",
    "docker-distribution-api-version": "registry/2.0",
    "x-drydock-cache": "hit",
  });
}

function routeSuffix(route: RegistryRoute): string {
  switch (route.kind) {
    case "tags":
      return "tags/list";
    default:
      return `${route.kind}/${route.reference}`;
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/** Keeps a cache fill alive after the response is sent, where the runtime would otherwise stop it (edge workers). */
function waitUntil(c: Context, promise: Promise<void>): void {
  try {
    c.executionCtx.waitUntil(promise);
  } catch {
    // Node and Bun have no execution context: work continues on its own there.
  }
}

async function readText(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return "";
  const reader = limitBody(response.body, maxBytes, () => {}).getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}

/** Marks the tokens of an anonymous token response (see `AnonymousMarks`) and drops anything long-lived. */
async function markAnonymous(text: string, marks: AnonymousMarks): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UpstreamError("UNAVAILABLE", "the upstream token endpoint did not answer JSON");
  }
  if (typeof parsed !== "object" || parsed === null) {
    throw new UpstreamError("UNAVAILABLE", "the upstream token endpoint did not answer a JSON object");
  }
  const out: Record<string, unknown> = { ...(parsed as Record<string, unknown>) };
  delete out.refresh_token;
  for (const key of ["token", "access_token"]) {
    const value = out[key];
    if (typeof value === "string") out[key] = await marks.mark(value);
  }
  return out;
}
