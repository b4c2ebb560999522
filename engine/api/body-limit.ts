// How large a request body the Engine API accepts, per route: what the HTTP server (engine/http) enforces while it
// reads, so a flood is refused with 413 after at most this many bytes, never buffered whole.
import { splitVersionedPath } from "./version.ts";

/** A JSON body (a container's config, an exec's): generous for any real config, small enough to hold in memory. */
export const MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Routes whose bodies are archives streamed to disk (build contexts, `docker load`, `docker import`, `docker cp`
 * into a container): bounded by the store's space, not by memory.
 */
const ARCHIVE_ROUTES: ReadonlyArray<[method: string, path: RegExp]> = [
  ["POST", /^\/build$/],
  ["POST", /^\/images\/load$/],
  ["POST", /^\/images\/create$/],
  ["PUT", /^\/containers\/[^/]+\/archive$/],
];

/**
 * The largest body a request may send, for `HttpLimits.maxBodyBytes`.
 * @example
 * serveHttpConnection(connection, app.fetch, { limits: { maxBodyBytes: requestBodyLimit } });
 */
export function requestBodyLimit(request: { method: string; target: string }): number {
  const target =
    request.target.startsWith("/") || !URL.canParse(request.target) ? request.target : new URL(request.target).pathname;
  const path = splitVersionedPath(target.split("?")[0] ?? "").path;
  const archive = ARCHIVE_ROUTES.some(([method, pattern]) => method === request.method && pattern.test(path));
  return archive ? Number.POSITIVE_INFINITY : MAX_JSON_BODY_BYTES;
}
