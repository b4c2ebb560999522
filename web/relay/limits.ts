// Per-client limits of the relay: new connections per minute, streams open at once, bytes per minute (both ways
// together) and resolver queries per minute. A client is an address (one browser tab, one Node daemon, or a whole
// classroom behind one NAT), so the defaults stop a runaway loop, not a class installing packages.

import { RateLimiter } from "../proxy/rate-limit.ts";

export interface RelayLimits {
  /** New streams per minute per client (sustained; a burst of a quarter of it is allowed at once). */
  readonly connectionsPerMinute: number;
  /** Streams one client may have open at once, over all its WebSockets. */
  readonly concurrentStreams: number;
  /** Bytes per minute per client, both directions; past it, the client's streams are slowed down, not cut. */
  readonly bytesPerMinute: number;
  /** Resolver queries per minute per client. */
  readonly queriesPerMinute: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  connectionsPerMinute: 240,
  concurrentStreams: 64,
  bytesPerMinute: 512 * 1024 * 1024,
  queriesPerMinute: 1200,
};

/** A token bucket of bytes: `take` answers how long to wait before the bytes may pass. */
class ByteBucket {
  tokens: number;
  updated: number;
  constructor(
    readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.updated = now;
  }
}

export class ClientLimits {
  readonly limits: RelayLimits;
  readonly #connections: RateLimiter;
  readonly #queries: RateLimiter;
  readonly #open = new Map<string, number>();
  readonly #bytes = new Map<string, ByteBucket>();
  readonly #now: () => number;

  constructor(limits: Partial<RelayLimits> = {}, now: () => number = Date.now) {
    this.limits = { ...DEFAULT_RELAY_LIMITS, ...limits };
    this.#now = now;
    const per = (n: number) => ({ requestsPerMinute: n, burst: Math.max(1, Math.ceil(n / 4)) });
    this.#connections = new RateLimiter(per(this.limits.connectionsPerMinute), now);
    this.#queries = new RateLimiter(per(this.limits.queriesPerMinute), now);
  }

  /**
   * Takes a stream for `client`: undefined when allowed (call `release` when it closes), otherwise why not.
   */
  openStream(client: string): string | undefined {
    const open = this.#open.get(client) ?? 0;
    if (open >= this.limits.concurrentStreams) {
      return `too many streams open at once (the relay allows ${this.limits.concurrentStreams} per client)`;
    }
    const wait = this.#connections.take(client);
    if (wait > 0) {
      return `too many new connections (the relay allows ${this.limits.connectionsPerMinute} a minute per client; retry in ${wait}s)`;
    }
    this.#open.set(client, open + 1);
    return undefined;
  }

  release(client: string): void {
    const open = (this.#open.get(client) ?? 1) - 1;
    if (open <= 0) this.#open.delete(client);
    else this.#open.set(client, open);
  }

  openStreams(client: string): number {
    return this.#open.get(client) ?? 0;
  }

  /** Takes a resolver query: undefined when allowed, otherwise why not. */
  query(client: string): string | undefined {
    const wait = this.#queries.take(client);
    if (wait === 0) return undefined;
    return `too many DNS queries (the relay answers ${this.limits.queriesPerMinute} a minute per client; retry in ${wait}s)`;
  }

  /**
   * Counts `bytes` against `client`'s budget: the milliseconds to wait before passing them on (0: at once). The
   * bytes are taken either way, so a client over its budget is slowed to the sustained rate.
   */
  spend(client: string, bytes: number): number {
    const now = this.#now();
    const perMs = this.limits.bytesPerMinute / 60_000;
    // A burst of up to a quarter of a minute's budget, and never less than one large chunk.
    const capacity = Math.max(this.limits.bytesPerMinute / 4, 256 * 1024);
    let bucket = this.#bytes.get(client);
    if (!bucket) {
      bucket = new ByteBucket(capacity, now);
      this.#bytes.set(client, bucket);
      if (this.#bytes.size > 10_000) {
        const oldest = this.#bytes.keys().next().value;
        if (oldest !== undefined && oldest !== client) this.#bytes.delete(oldest);
      }
    }
    bucket.tokens = Math.min(bucket.capacity, bucket.tokens + (now - bucket.updated) * perMs);
    bucket.updated = now;
    bucket.tokens -= bytes;
    return bucket.tokens >= 0 ? 0 : Math.ceil(-bucket.tokens / perMs);
  }
}
