// When to try a request again, and how long to wait: network errors, 5xx and 429 are worth another try after an
// exponentially growing, jittered delay (capped), or after the server's Retry-After if it gave one.

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** The first delay; each retry doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** How to wait; tests pass one that does not. */
  sleep: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 4,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || status >= 500;
}

/** The delay before retry number `attempt` (1-based). */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfter?: string | null): number {
  const seconds = retryAfter ? Number(retryAfter) : Number.NaN;
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, policy.maxDelayMs);
  const exponential = policy.baseDelayMs * 2 ** (attempt - 1);
  return Math.min(exponential * (0.5 + Math.random() / 2), policy.maxDelayMs);
}
