// Per-client request rate limiting with token buckets. A classroom behind one school NAT shares an address, so the
// defaults are generous: the limit is there to stop a runaway script, not a class pulling images.

export interface RateLimitOptions {
  /** Sustained requests per minute per client. */
  readonly requestsPerMinute: number;
  /** Requests a client may make at once before the sustained rate applies. */
  readonly burst: number;
  /** Clients remembered at most; the least recently seen are forgotten first (they start again with a full bucket). */
  readonly maxClients?: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxClients: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(options: RateLimitOptions, now: () => number = Date.now) {
    this.#perMs = options.requestsPerMinute / 60_000;
    this.#burst = options.burst;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#now = now;
  }

  /** Takes one request from `client`'s bucket: 0 when allowed, otherwise the seconds to wait (for Retry-After). */
  take(client: string): number {
    const now = this.#now();
    const bucket = this.#buckets.get(client) ?? { tokens: this.#burst, updated: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.updated) * this.#perMs);
    bucket.updated = now;
    // Re-inserting keeps the Map in least-recently-seen order for the trimming below.
    this.#buckets.delete(client);
    this.#buckets.set(client, bucket);
    if (this.#buckets.size > this.#maxClients) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000));
  }

  get clients(): number {
    return this.#buckets.size;
  }
}
