// Fetching from upstream registries under the proxy's safety rules: only http(s), only hosts whose addresses are
// public (unless the operator configured that host), checked again after every redirect, with time and size limits.
// Redirects are followed here rather than handed to the client, because the browser could not fetch a CDN URL that
// sends no CORS headers anyway.

import { classifyAddress, isIpLiteral, isLocalName } from "./address.ts";

/** Resolves a host name to its IP addresses (all of them: every one must be public). */
export type ResolveHost = (hostname: string) => Promise<readonly string[]>;

/**
 * Performs one HTTP exchange; the global `fetch` by default, replaceable in tests and exotic runtimes. `target`, when
 * given, is the address the host name was resolved to and checked at: connect there and nowhere else (node.ts's
 * `pinnedFetch` does), so DNS cannot answer differently between the check and the connection.
 */
export type FetchFunction = (request: Request, target?: ConnectTarget) => Promise<Response>;

/** Where to connect for one request: the address `checkUrl` resolved and allowed. */
export interface ConnectTarget {
  readonly address: string;
}

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

/**
 * Refuses `url` unless the policy lets the proxy connect to it. Answers the address to connect to when it resolved the
 * name itself (every address it resolved to was allowed; the first is the one to use), undefined for an IP literal or
 * when there is no resolver.
 */
export async function checkUrl(url: URL, policy: HostPolicy): Promise<ConnectTarget | undefined> {
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UpstreamError("DENIED", `refusing ${url.protocol} URL ${url.origin}`);
  }
  if (url.protocol === "http:" && !policy.configuredHosts.has(url.host)) {
    throw new UpstreamError("DENIED", `refusing plain http to ${url.host}, which is not a configured upstream`);
  }
  if (url.username || url.password) throw new UpstreamError("DENIED", "refusing a URL with credentials in it");
  // A host the operator allowed is trusted wherever it resolves: nothing to check, so nothing to pin.
  if (policy.privateHosts.has(url.host)) return undefined;
  const hostname = url.hostname;
  if (isIpLiteral(hostname)) {
    const kind = classifyAddress(hostname);
    if (kind !== "public") throw new UpstreamError("DENIED", `refusing ${hostname}: a ${kind} address`);
    return undefined;
  }
  if (isLocalName(hostname)) throw new UpstreamError("DENIED", `refusing ${hostname}: a local name`);
  if (!policy.resolve) return undefined;
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
  return { address: addresses[0]! };
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
    const target = await checkUrl(url, policy);
    let response: Response;
    try {
      response = await fetchFn(
        new Request(url, { method: request.method, headers, redirect: "manual", signal: request.signal }),
        target,
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
  /** The bytes for the client, read from upstream at most `windowBytes` ahead of it. */
  readonly client: ReadableStream<Uint8Array>;
  /**
   * Settles once every byte has been handed to `write` and its last write has finished; rejects when the body fails,
   * exceeds `maxBytes`, a write fails, or the client left a fill not worth finishing (`FillAbandoned`). Never before
   * the client's stream has ended or been given its error.
   */
  readonly filled: Promise<void>;
}

export interface FillOptions {
  /** Largest body; beyond it both sides fail with TOO_LARGE. */
  readonly maxBytes: number;
  /** Called exactly once, when the body has ended, failed or been cancelled. */
  readonly onEnd: () => void;
  /** Writes one chunk to the fill; calls run one at a time. */
  readonly write: (chunk: Uint8Array) => Promise<void>;
  /** Bytes read ahead of the client, and bytes waiting for writes: each at most this. Default 4 MiB. */
  readonly windowBytes?: number;
  /**
   * Asked when the client goes away, with the bytes read so far: true to finish the fill without it (the rest is
   * small), false to stop the upstream at once. Default: stop.
   */
  readonly finishWithoutClient?: (seen: number) => boolean;
}

/** What a fill fails with when its client left and the rest of the blob was not worth fetching for the cache. */
export class FillAbandoned extends Error {
  constructor() {
    super("the client went away before the blob was complete");
    this.name = "FillAbandoned";
  }
}

export const DEFAULT_FILL_WINDOW = 4 * 1024 * 1024;

/**
 * Streams `body` to a client and, in the same pass, to `write` (a cache fill): what `body.tee()` plus `limitBody`
 * would do, with one hop instead of three, and with memory bounded where `tee` has none: the upstream is read only
 * while the client has less than `windowBytes` unread and the writes have less than `windowBytes` waiting, so a client
 * that stops reading stops the upstream (a fill others wait for goes at its pace). When the client goes away the
 * upstream is cancelled at once, unless `finishWithoutClient` says the fill is worth finishing; once a write fails
 * the rest still goes to the client.
 */
export function streamWhileFilling(body: ReadableStream<Uint8Array>, options: FillOptions): StreamWhileFilling {
  const windowBytes = options.windowBytes ?? DEFAULT_FILL_WINDOW;
  const reader = body.getReader();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let clientWants = true;
  let writeFailure: { error: unknown } | undefined;
  let writing: Promise<void> = Promise.resolve();
  let pending = 0;
  // The pump sleeps on this while the client's queue is full; a pull or a cancel wakes it.
  let wake: (() => void) | undefined;
  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const nextSignal = () =>
    new Promise<"signal">((resolve) => {
      wake = () => resolve("signal");
    });
  const client = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        signal();
      },
      cancel() {
        clientWants = false;
        signal();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: windowBytes }),
  );
  const failWrites = (error: unknown) => {
    writeFailure ??= { error };
    signal();
  };
  const pump = async (): Promise<void> => {
    let seen = 0;
    let abandoned = false;
    let reading: ReturnType<typeof reader.read> | undefined;
    try {
      for (;;) {
        if (clientWants && (controller.desiredSize ?? 0) <= 0) {
          await nextSignal();
          continue;
        }
        if (!clientWants && (writeFailure || !options.finishWithoutClient?.(seen))) {
          abandoned = !writeFailure;
          await reader.cancel().catch(() => {});
          break;
        }
        reading ??= reader.read();
        const result = await Promise.race([reading, nextSignal()]);
        if (result === "signal") continue;
        reading = undefined;
        if (result.done) {
          if (clientWants) controller.close();
          break;
        }
        const chunk = result.value;
        seen += chunk.byteLength;
        if (seen > options.maxBytes) {
          await reader.cancel().catch(() => {});
          throw new UpstreamError("TOO_LARGE", `upstream body exceeds ${options.maxBytes} bytes`);
        }
        if (clientWants) controller.enqueue(chunk);
        if (writeFailure) continue;
        pending += chunk.byteLength;
        writing = writing.then(async () => {
          if (writeFailure) return;
          try {
            await options.write(chunk);
          } catch (error) {
            failWrites(error);
          } finally {
            pending -= chunk.byteLength;
          }
        });
        if (pending > windowBytes) await writing;
      }
    } catch (error) {
      if (clientWants) controller.error(error);
      throw error;
    } finally {
      options.onEnd();
    }
    await writing;
    if (writeFailure) throw writeFailure.error;
    if (abandoned) throw new FillAbandoned();
  };
  return { client, filled: pump() };
}
