import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CheckLoop } from "./check-loop.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A check whose runs finish only when the test says so. */
function controlledCheck() {
  const runs: Array<(passed: boolean) => void> = [];
  return {
    runs,
    check: () => new Promise<boolean>((resolve) => runs.push(resolve)),
  };
}

describe("CheckLoop", () => {
  it("checks at once, then every interval, until the check passes", async () => {
    const { runs, check } = controlledCheck();
    const results: boolean[] = [];
    const loop = new CheckLoop({ check, onResult: (passed) => results.push(passed), intervalMs: 3000 });
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(1);
    runs[0]!(false);
    await vi.advanceTimersByTimeAsync(2999);
    expect(runs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toHaveLength(2);
    runs[1]!(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toHaveLength(2);
    expect(results).toEqual([false, true]);
  });

  it("never runs two checks at once: requests during a run are served once, right after it", async () => {
    const { runs, check } = controlledCheck();
    const loop = new CheckLoop({ check, onResult: () => {}, intervalMs: 3000 });
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    loop.request(400);
    loop.request(400);
    await vi.advanceTimersByTimeAsync(5000);
    expect(runs).toHaveLength(1);
    runs[0]!(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(2);
  });

  it("brings the next check forward when the learner presses Enter", async () => {
    const { runs, check } = controlledCheck();
    const loop = new CheckLoop({ check, onResult: () => {}, intervalMs: 3000 });
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    runs[0]!(false);
    await vi.advanceTimersByTimeAsync(100);
    loop.request(400);
    await vi.advanceTimersByTimeAsync(400);
    expect(runs).toHaveLength(2);
  });

  it("stops checking when stopped, even with a check in flight, and reports a throwing check as not passed", async () => {
    let calls = 0;
    const results: Array<[boolean, unknown]> = [];
    const loop = new CheckLoop({
      check: async () => {
        calls++;
        throw new Error("the guest is not running");
      },
      onResult: (passed, error) => results.push([passed, error]),
      intervalMs: 1000,
    });
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(results).toEqual([[false, new Error("the guest is not running")]]);
    loop.stop();
    loop.request(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(1);
  });
});
