import { describe, expect, it } from "vitest";
import { validateRunOptions } from "./options.ts";
import {
  checkRestartPolicy,
  FIRST_RESTART_DELAY_MS,
  LONGEST_RESTART_DELAY_MS,
  nextRestartDelay,
  shouldRestart,
} from "./restart.ts";

describe("checkRestartPolicy", () => {
  it("reads what the docker CLI sends for each --restart", () => {
    expect(checkRestartPolicy(undefined)).toEqual({ name: "no", maximumRetryCount: 0 });
    expect(checkRestartPolicy({ Name: "" })).toEqual({ name: "no", maximumRetryCount: 0 });
    expect(checkRestartPolicy({ Name: "always" })).toEqual({ name: "always", maximumRetryCount: 0 });
    expect(checkRestartPolicy({ Name: "unless-stopped", MaximumRetryCount: 0 }).name).toBe("unless-stopped");
    expect(checkRestartPolicy({ Name: "on-failure", MaximumRetryCount: 3 })).toEqual({
      name: "on-failure",
      maximumRetryCount: 3,
    });
  });

  it("refuses an unknown policy, a negative count, and a count without on-failure, with dockerd's words", () => {
    expect(() => checkRestartPolicy({ Name: "sometimes" })).toThrow(
      "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
    );
    expect(() => checkRestartPolicy({ Name: "on-failure", MaximumRetryCount: -1 })).toThrow(
      "maximum retry count cannot be negative",
    );
    expect(() => checkRestartPolicy({ Name: "always", MaximumRetryCount: 2 })).toThrow(
      "maximum retry count can only be used with 'on-failure'",
    );
    expect(() => checkRestartPolicy({ Name: "on-failure", MaximumRetryCount: "2" })).toThrow("whole number");
  });
});

describe("shouldRestart", () => {
  const failed = { exitCode: 1, stoppedByUser: false, restartCount: 0 };
  const succeeded = { exitCode: 0, stoppedByUser: false, restartCount: 0 };
  const stopped = { exitCode: 137, stoppedByUser: true, restartCount: 0 };

  it("no never restarts", () => {
    expect(shouldRestart({ name: "no", maximumRetryCount: 0 }, failed, "exit")).toBe(false);
    expect(shouldRestart({ name: "no", maximumRetryCount: 0 }, failed, "engine-start")).toBe(false);
  });

  it("always restarts whatever the code; a stop by hand holds until the engine starts again", () => {
    const always = { name: "always", maximumRetryCount: 0 } as const;
    expect(shouldRestart(always, succeeded, "exit")).toBe(true);
    expect(shouldRestart(always, failed, "exit")).toBe(true);
    expect(shouldRestart(always, stopped, "exit")).toBe(false);
    expect(shouldRestart(always, stopped, "engine-start")).toBe(true);
  });

  it("unless-stopped is always, except that a stop by hand holds across engine starts", () => {
    const policy = { name: "unless-stopped", maximumRetryCount: 0 } as const;
    expect(shouldRestart(policy, succeeded, "exit")).toBe(true);
    expect(shouldRestart(policy, stopped, "exit")).toBe(false);
    expect(shouldRestart(policy, stopped, "engine-start")).toBe(false);
    expect(shouldRestart(policy, failed, "engine-start")).toBe(true);
  });

  it("on-failure restarts a non-zero exit, up to its count in a row", () => {
    const policy = { name: "on-failure", maximumRetryCount: 2 } as const;
    expect(shouldRestart(policy, succeeded, "exit")).toBe(false);
    expect(shouldRestart(policy, failed, "exit")).toBe(true);
    expect(shouldRestart(policy, { ...failed, restartCount: 1 }, "exit")).toBe(true);
    expect(shouldRestart(policy, { ...failed, restartCount: 2 }, "exit")).toBe(false);
    expect(shouldRestart({ name: "on-failure", maximumRetryCount: 0 }, { ...failed, restartCount: 99 }, "exit")).toBe(
      true,
    );
    // A task lost with its guest exited 255: a failure, restarted when the next engine starts.
    expect(shouldRestart(policy, { ...failed, exitCode: 255 }, "engine-start")).toBe(true);
  });
});

describe("nextRestartDelay", () => {
  it("starts at the first delay, doubles for each restart in a row, and stops at a minute", () => {
    expect(nextRestartDelay(undefined, 50)).toBe(FIRST_RESTART_DELAY_MS);
    expect(nextRestartDelay(100, 50)).toBe(200);
    expect(nextRestartDelay(51_200, 50)).toBe(LONGEST_RESTART_DELAY_MS);
    expect(nextRestartDelay(LONGEST_RESTART_DELAY_MS, 50)).toBe(LONGEST_RESTART_DELAY_MS);
  });

  it("starts over once a run lasted ten seconds", () => {
    expect(nextRestartDelay(6_400, 10_000)).toBe(FIRST_RESTART_DELAY_MS);
  });
});

describe("validateRunOptions with a restart policy", () => {
  it("keeps the policy, and refuses it with --rm as dockerd does", () => {
    const policy = { name: "always", maximumRetryCount: 0 } as const;
    expect(validateRunOptions({ restartPolicy: policy }).restartPolicy).toEqual(policy);
    expect(validateRunOptions({ restartPolicy: { name: "no", maximumRetryCount: 0 } }).restartPolicy).toBeUndefined();
    expect(() => validateRunOptions({ rm: true, restartPolicy: policy })).toThrow(
      "can't create 'AutoRemove' container with restart policy",
    );
  });
});
