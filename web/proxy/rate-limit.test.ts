import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limit.ts";

describe("RateLimiter", () => {
  it("allows a burst, then the sustained rate, per client", () => {
    let now = 0;
    const limiter = new RateLimiter({ requestsPerMinute: 60, burst: 3 }, () => now);
    expect([1, 2, 3].map(() => limiter.take("a"))).toEqual([0, 0, 0]);
    expect(limiter.take("a")).toBe(1); // one token per second: retry after a second
    expect(limiter.take("b")).toBe(0); // another client has its own bucket
    now += 1000;
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(1);
  });

  it("forgets the least recently seen clients beyond its bound", () => {
    const limiter = new RateLimiter({ requestsPerMinute: 60, burst: 1, maxClients: 2 }, () => 0);
    limiter.take("a");
    limiter.take("b");
    limiter.take("c");
    expect(limiter.clients).toBe(2);
    expect(limiter.take("a")).toBe(0); // "a" was forgotten, so it starts with a full bucket
  });
});
