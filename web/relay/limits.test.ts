import { describe, expect, it } from "vitest";
import { ClientLimits } from "./limits.ts";

describe("ClientLimits", () => {
  it("caps the streams a client has open at once, per client", () => {
    const limits = new ClientLimits({ concurrentStreams: 2 });
    expect(limits.openStream("a")).toBeUndefined();
    expect(limits.openStream("a")).toBeUndefined();
    expect(limits.openStream("a")).toBe("too many streams open at once (the relay allows 2 per client)");
    expect(limits.openStream("b")).toBeUndefined();
    limits.release("a");
    expect(limits.openStreams("a")).toBe(1);
    expect(limits.openStream("a")).toBeUndefined();
  });

  it("caps new connections per minute, with a burst of a quarter of it", () => {
    let now = 0;
    const limits = new ClientLimits({ connectionsPerMinute: 8, concurrentStreams: 100 }, () => now);
    expect([1, 2].map(() => limits.openStream("a"))).toEqual([undefined, undefined]);
    expect(limits.openStream("a")).toMatch(
      /too many new connections \(the relay allows 8 a minute per client; retry in 8s\)/,
    );
    now += 7500;
    expect(limits.openStream("a")).toBeUndefined();
  });

  it("caps DNS queries per minute", () => {
    const limits = new ClientLimits({ queriesPerMinute: 4 }, () => 0);
    expect(limits.query("a")).toBeUndefined();
    expect(limits.query("a")).toMatch(/too many DNS queries/);
    expect(limits.query("b")).toBeUndefined();
  });

  it("slows a client past its bytes per minute to the sustained rate instead of cutting it", () => {
    let now = 0;
    const mib = 1024 * 1024;
    const limits = new ClientLimits({ bytesPerMinute: 60 * mib }, () => now); // 1 MiB/s, a burst of 15 MiB
    expect(limits.spend("a", 15 * mib)).toBe(0);
    expect(limits.spend("a", mib)).toBe(1000); // one more MiB: wait a second
    expect(limits.spend("b", mib)).toBe(0);
    now += 2000;
    expect(limits.spend("a", mib / 2)).toBe(0);
  });
});
