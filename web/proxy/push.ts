// Pushes through the proxy, only to upstreams its operator allowed (`--allow-push <alias>`): blob uploads (POST,
// PATCH, PUT, cross-repository mounts) and manifest PUTs are relayed with the client's own credentials, which the
// proxy never keeps; upload locations are rewritten to point back at the proxy. Everything else stays read-only.
import type { Context, Hono } from "hono";
import { mapRepository, type UpstreamConfig } from "./names.ts";
import { checkUrl, type FetchFunction, type HostPolicy, messageOf } from "./upstream.ts";

export const PUSH_METHODS: readonly string[] = ["POST", "PUT", "PATCH"];

export interface PushRelayOptions {
  readonly upstreams: Readonly<Record<string, UpstreamConfig>>;
  readonly policy: HostPolicy;
  readonly fetchFn: FetchFunction;
  /** Path the proxy is mounted at (no trailing slash). */
  readonly basePath: string;
  /** The Authorization to send upstream for the client's header (its token unwrapped), if any. */
  readonly upstreamAuthorization: (header: string | undefined) => Promise<string | undefined>;
  /** The challenge sending a client to the proxy's token endpoint for `scope`. */
  readonly challenge: (c: Context, scope: string) => string;
  readonly timeoutMs: number;
}

/** Whether any upstream takes pushes (then the upload methods are allowed through, and named in CORS). */
export function anyPushAllowed(upstreams: Readonly<Record<string, UpstreamConfig>>): boolean {
  return Object.values(upstreams).some((upstream) => upstream.allowPush === true);
}

function error(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ errors: [{ code, message }] }), {
    status,
    headers: { "content-type": "application/json", "docker-distribution-api-version": "registry/2.0", ...headers },
  });
}

const PASSED = ["content-type", "content-length", "range", "docker-upload-uuid", "docker-content-digest"];

/**
 * Adds the push routes to the proxy's routes.
 * @example
 * registerPushRoutes(routes, { upstreams, policy, fetchFn, basePath: "/registry", upstreamAuthorization, challenge, timeoutMs: 60_000 });
 */
export function registerPushRoutes(routes: Hono, options: PushRelayOptions): void {
  routes.on(PUSH_METHODS as string[], "/v2/*", async (c) => {
    const method = c.req.method;
    const url = new URL(c.req.url);
    const path = url.pathname.slice(url.pathname.indexOf("/v2/") + "/v2/".length);
    const match =
      /^(.+)\/blobs\/uploads\/?$/.exec(path) ??
      /^(.+)\/blobs\/uploads\/([A-Za-z0-9._~-]+)$/.exec(path) ??
      /^(.+)\/manifests\/([A-Za-z0-9_.:-]+)$/.exec(path);
    const kind = path.includes("/manifests/") ? "manifest" : match?.[2] ? "upload" : "start";
    const allowed =
      (kind === "start" && method === "POST") ||
      (kind === "upload" && (method === "PATCH" || method === "PUT")) ||
      (kind === "manifest" && method === "PUT");
    if (!match || !allowed) return error(405, "UNSUPPORTED", `${method} ${url.pathname} is not a push route`);
    const mapped = mapRepository(match[1]!, options.upstreams);
    if (!mapped.ok) return error(mapped.code === "DENIED" ? 403 : 400, mapped.code, mapped.message);
    const { alias, upstream, name } = mapped.repository;
    if (upstream.allowPush !== true) {
      return error(
        405,
        "UNSUPPORTED",
        `this proxy is read-only for ${alias}: its operator has not allowed pushes there (--allow-push ${alias})`,
        { allow: "GET, HEAD, OPTIONS" },
      );
    }
    const base = upstream.url.replace(/\/+$/, "");
    const target = new URL(`${base}/v2/${name}/${path.slice(match[1]!.length + 1)}`);
    target.search = url.search;
    const from = url.searchParams.get("from");
    if (from) {
      // A mount names its source repository as the proxy knows it: it must be on the same upstream.
      const source = mapRepository(from, options.upstreams);
      if (!source.ok || source.repository.alias !== alias) {
        return error(400, "NAME_INVALID", `a mount's source must be on ${alias} too`);
      }
      target.searchParams.set("from", source.repository.name);
    }
    const headers = new Headers({ "user-agent": "drydock-registry-proxy" });
    for (const header of ["content-type", "content-length", "content-range"]) {
      const value = c.req.header(header);
      if (value) headers.set(header, value);
    }
    const authorization = await options.upstreamAuthorization(c.req.header("authorization"));
    if (authorization) headers.set("authorization", authorization);
    let response: Response;
    try {
      const checked = await checkUrl(target, options.policy);
      const init: RequestInit & { duplex?: "half" } = {
        method,
        headers,
        body: c.req.raw.body,
        duplex: "half",
        redirect: "manual",
        signal: AbortSignal.timeout(options.timeoutMs),
      };
      response = await options.fetchFn(new Request(target, init), checked);
    } catch (cause) {
      return error(502, "UNAVAILABLE", `${method} ${target.origin}: ${messageOf(cause)}`);
    }
    if (response.status === 401) {
      await response.body?.cancel().catch(() => {});
      const scope = `repository:${match[1]}:pull,push`;
      return error(401, "UNAUTHORIZED", "authentication required", {
        "www-authenticate": options.challenge(c, scope),
      });
    }
    const out = new Headers();
    for (const header of PASSED) {
      const value = response.headers.get(header);
      if (value) out.set(header, value);
    }
    const location = response.headers.get("location");
    if (location) {
      const next = new URL(location, target);
      if (next.origin !== new URL(base).origin || !next.pathname.startsWith(`/v2/${name}/`)) {
        await response.body?.cancel().catch(() => {});
        return error(
          502,
          "UNSUPPORTED",
          `${alias} sent the upload elsewhere (${next.origin}), which this proxy does not relay`,
        );
      }
      out.set("location", `${options.basePath}/v2/${alias}/${next.pathname.slice("/v2/".length)}${next.search}`);
    }
    return new Response(response.body, { status: response.status, headers: out });
  });
}
