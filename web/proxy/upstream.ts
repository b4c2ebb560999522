// Fetching from upstream registries under the proxy's safety rules: only http(s), only hosts whose addresses are
// public (unless the operator configured that host), checked again after every redirect, with time and size limits.
// Redirects are followed here rather than handed to the client, because the browser could not fetch a CDN URL that
// sends no CORS headers anyway.

import { classifyAddress, isIpLiteral, isLocalName } from "./address.ts";

/** Resolves a host name to its IP addresses (all of them: every one must be public). */
export type ResolveHost = (hostname: string) => Promise<readonly string[]>;

/** Performs one HTTP exchange; the global `fetch` by default, replaceable in tests and exotic runtimes. */
export type FetchFunction = (request: Request) => Promise<Response>;

export interface HostPolicy {
  /** `host` values (`name[:port]`) of configured upstreams: the only ones that may be reached over plain http. */
  readonly configuredHosts: ReadonlySet<string>;
  /** `host` values allowed even when they are or resolve to private, loopback or link-local addresses. */
  readonly privateHosts: ReadonlySet<string>;
  /**
   * DNS lookup used to check names before connecting. Without it (edge runtimes have no DNS API) only IP literals
   * and local names are checked, and the platform's own egress rules must keep requests off private networks.
   */
  readonly resolve?: ResolveHost;
}

export type UpstreamErrorCode = "DENIED" | "UNAVAILABLE" | "TIMEOUT" | "TOO_LARGE";

export class UpstreamError extends Error {
  constructor(
    readonly code: UpstreamErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "UpstreamError";
  }
}

/** Refuses `url` unless the policy lets the proxy connect to it. */
export async function checkUrl(url: URL, policy: HostPolicy): Promise<void> {
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UpstreamError("DENIED", `refusing ${url.protocol} URL ${url.origin}`);
  }
  if (url.protocol === "http:" && !policy.configuredHosts.has(url.host)) {
    throw new UpstreamError("DENIED", `refusing plain http to ${url.host}, which is not a configured upstream`);
  }
  if (url.username || url.password) throw new UpstreamError("DENIED", "refusing a URL with credentials in it");
  if (policy.privateHosts.has(url.host)) return;
  const hostname = url.hostname;
  if (isIpLiteral(hostname)) {
    const kind = classifyAddress(hostname);
    if (kind !== "public") throw new UpstreamError("DENIED", `refusing ${hostname}: a ${kind} address`);
    return;
  }
  if (isLocalName(hostname)) throw new UpstreamError("DENIED", `refusing ${hostname}: a local name`);
  if (!policy.resolve) return;
  let addresses: readonly string[];
  try {
    addresses = await policy.resolve(hostname);
  } catch (error) {
    throw new UpstreamError("UNAVAILABLE", `cannot resolve ${hostname}: ${messageOf(error)}`);
  }
  if (addresses.length === 0) throw new UpstreamError("UNAVAILABLE", `cannot resolve ${hostname}`);
  for (const address of addresses) {
    const kind = classifyAddress(address);
    if (kind !== "public") throw new UpstreamError("DENIED", `refusing ${hostname}: it resolves to ${kind} ${address}`);
  }
}

export interface UpstreamRequest {
  readonly method: "GET" | "HEAD";
  readonly url: URL;
  readonly headers: Headers;
  readonly signal: AbortSignal;
}

export interface UpstreamResponse {
  readonly response: Response;
  /** The URL that finally answered, after redirects. */
  readonly url: URL;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Sends a request upstream, following redirects itself so each hop passes `checkUrl`. Authorization is dropped when
 * a redirect leaves the origin: signed CDN URLs reject it, and credentials must not travel to a host the user did
 * not name.
 */
export async function fetchUpstream(
  request: UpstreamRequest,
  policy: HostPolicy,
  fetchFn: FetchFunction,
  maxRedirects: number,
): Promise<UpstreamResponse> {
  const headers = new Headers(request.headers);
  let url = request.url;
  for (let hop = 0; ; hop++) {
    await checkUrl(url, policy);
    let response: Response;
    try {
      response = await fetchFn(
        new Request(url, { method: request.method, headers, redirect: "manual", signal: request.signal }),
      );
    } catch (error) {
      if (request.signal.aborted) throw abortReason(request.signal);
      throw new UpstreamError("UNAVAILABLE", `${request.method} ${url.origin}: ${messageOf(error)}`);
    }
    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || !location) return { response, url };
    await response.body?.cancel().catch(() => {});
    if (hop >= maxRedirects) throw new UpstreamError("UNAVAILABLE", `too many redirects from ${request.url.origin}`);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new UpstreamError("UNAVAILABLE", `bad redirect location from ${url.origin}`);
    }
    if (next.origin !== url.origin) headers.delete("authorization");
    url = next;
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new UpstreamError("TIMEOUT", "upstream request aborted");
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) {
    // Node's fetch hides the useful part ("ECONNREFUSED …") in `cause`.
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}

/**
 * A time budget for one upstream exchange: `headersMs` until the response headers arrive, then `totalMs` from the
 * start for the whole body, so a stalled or endless upstream cannot hold a connection forever.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #headersTimer: ReturnType<typeof setTimeout>;
  readonly #totalTimer: ReturnType<typeof setTimeout>;

  constructor(headersMs: number, totalMs: number) {
    const abort = (what: string, ms: number) => () =>
      this.#controller.abort(new UpstreamError("TIMEOUT", `upstream ${what} took longer than ${ms} ms`));
    this.#headersTimer = unref(setTimeout(abort("response", headersMs), headersMs));
    this.#totalTimer = unref(setTimeout(abort("transfer", totalMs), totalMs));
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  headersReceived(): void {
    clearTimeout(this.#headersTimer);
  }

  done(): void {
    clearTimeout(this.#headersTimer);
    clearTimeout(this.#totalTimer);
  }
}

// Node keeps the process alive for a pending timer; edge runtimes have no unref and need none.
function unref<T>(timer: T): T {
  const t = timer as { unref?: () => void };
  t.unref?.();
  return timer;
}

/**
 * Passes `body` through unchanged (no buffering) while counting bytes: errors the stream once it exceeds
 * `maxBytes`, and calls `onEnd` exactly once when the stream ends, fails or is cancelled.
 */
export function limitBody(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  onEnd: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let seen = 0;
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      onEnd();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end();
          controller.close();
          return;
        }
        seen += value.byteLength;
        if (seen > maxBytes) {
          await reader.cancel().catch(() => {});
          throw new UpstreamError("TOO_LARGE", `upstream body exceeds ${maxBytes} bytes`);
        }
        controller.enqueue(value);
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    async cancel(reason) {
      end();
      await reader.cancel(reason).catch(() => {});
    },
  });
}

export interface StreamWhileFilling {
  /** The bytes for the client, at the upstream's pace; cancelling it does not stop the fill. */
  readonly client: ReadableStream<Uint8Array>;
  /**
   * Settles once every byte has been handed to `write` and its last write has finished; rejects when the body fails,
   * exceeds `maxBytes` or a write fails. Never before the client's stream has ended or been given its error.
   */
  readonly filled: Promise<void>;
}

/**
 * Streams `body` to a client and, in the same pass, to `write` (a cache fill): what `body.tee()` plus `limitBody`
 * would do, with one hop instead of three. The body is read at the upstream's pace whatever the client does, so a fill
 * other requests wait for is not held up by one slow client (its unread bytes queue in memory, as with `tee`) and
 * continues if the client goes away. Writes run one at a time without holding up the client, until more than
 * `maxPendingBytes` are waiting for them; then reading pauses until they catch up. Once a write fails the rest of the
 * body still goes to the client, and the body is cancelled only when nobody wants it any more. `onEnd` is called
 * exactly once, when the body has ended, failed or been cancelled.
 */
export function streamWhileFilling(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  onEnd: () => void,
  write: (chunk: Uint8Array) => Promise<void>,
  maxPendingBytes = 16 * 1024 * 1024,
): StreamWhileFilling {
  const reader = body.getReader();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let clientWants = true;
  let writeFailure: { error: unknown } | undefined;
  let writing: Promise<void> = Promise.resolve();
  let pending = 0;
  let stopPumping: (() => void) | undefined;
  const client = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      cancel() {
        clientWants = false;
        if (writeFailure) stopPumping?.();
      },
    },
    // Nothing waits for the client to pull: chunks are queued for it as they arrive (`tee` does the same).
    { highWaterMark: 0 },
  );
  const failWrites = (error: unknown) => {
    writeFailure ??= { error };
    if (!clientWants) stopPumping?.();
  };
  const pump = async (): Promise<void> => {
    let seen = 0;
    const stopped = new Promise<"stopped">((resolve) => {
      stopPumping = () => resolve("stopped");
    });
    try {
      for (;;) {
        const result = await Promise.race([reader.read(), stopped]);
        if (result === "stopped") {
          await reader.cancel().catch(() => {});
          break;
        }
        if (result.done) {
          if (clientWants) controller.close();
          break;
        }
        const chunk = result.value;
        seen += chunk.byteLength;
        if (seen > maxBytes) {
          await reader.cancel().catch(() => {});
          throw new UpstreamError("TOO_LARGE", `upstream body exceeds ${maxBytes} bytes`);
        }
        if (clientWants) controller.enqueue(chunk);
        if (writeFailure) continue;
        pending += chunk.byteLength;
        writing = writing.then(async () => {
          if (writeFailure) return;
          try {
            await write(chunk);
          } catch (error) {
            failWrites(error);
          } finally {
            pending -= chunk.byteLength;
          }
        });
        if (pending > maxPendingBytes) await writing;
      }
    } catch (error) {
      if (clientWants) controller.error(error);
      throw error;
    } finally {
      onEnd();
    }
    await writing;
    if (writeFailure) throw writeFailure.error;
  };
  return { client, filled: pump() };
}
