// Restart policies (`docker run --restart`), decided as dockerd's restart manager decides them: when a container's
// task ends, and again when the engine starts (a page reload, a daemon restart, a fresh guest after a fault).
import { EngineError } from "../errors.ts";

export type RestartPolicyName = "no" | "always" | "unless-stopped" | "on-failure";

export interface RestartPolicy {
  name: RestartPolicyName;
  /** `on-failure:N`: at most N restarts in a row (0: no limit). */
  maximumRetryCount: number;
}

export const NO_RESTART: RestartPolicy = { name: "no", maximumRetryCount: 0 };

const NAMES: readonly string[] = ["no", "always", "unless-stopped", "on-failure"];

/** The first wait before a restart, doubled at each restart in a row up to the longest. */
export const FIRST_RESTART_DELAY_MS = 100;
export const LONGEST_RESTART_DELAY_MS = 60_000;
/** A task that ran this long was healthy: the wait before its restart starts again from the first. */
export const HEALTHY_RUN_MS = 10_000;

/**
 * Checks a policy as the API receives it (`HostConfig.RestartPolicy`): an unknown name, a negative count or a count
 * with a policy other than on-failure are refused with dockerd's words.
 * @example
 * checkRestartPolicy({ Name: "on-failure", MaximumRetryCount: 3 }); // { name: "on-failure", maximumRetryCount: 3 }
 */
export function checkRestartPolicy(given: { Name?: unknown; MaximumRetryCount?: unknown } | undefined): RestartPolicy {
  const name = given?.Name ?? "";
  const count = given?.MaximumRetryCount ?? 0;
  if (typeof name !== "string" || !(name === "" || NAMES.includes(name))) {
    throw new EngineError(
      "invalidArgument",
      `invalid restart policy: unknown policy '${String(name)}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
    );
  }
  if (typeof count !== "number" || !Number.isSafeInteger(count)) {
    throw new EngineError("invalidArgument", "invalid restart policy: MaximumRetryCount must be a whole number");
  }
  if (count < 0)
    throw new EngineError("invalidArgument", "invalid restart policy: maximum retry count cannot be negative");
  const policy: RestartPolicy = { name: (name || "no") as RestartPolicyName, maximumRetryCount: count };
  if (count > 0 && policy.name !== "on-failure") {
    throw new EngineError(
      "invalidArgument",
      `invalid restart policy: maximum retry count can only be used with 'on-failure'`,
    );
  }
  return policy;
}

/** What the decision needs to know of a container and its last run. */
export interface LastRun {
  exitCode: number;
  /** `docker stop` or `docker kill` ended it. */
  stoppedByUser: boolean;
  /** Restarts by the policy since it was last started by hand. */
  restartCount: number;
}

/**
 * Whether the policy starts the container again. When its task ends a stop by hand always wins (dockerd cancels the
 * restart); when the engine starts, `always` brings back even a container stopped by hand, `unless-stopped` does not.
 * @example
 * shouldRestart({ name: "on-failure", maximumRetryCount: 2 }, { exitCode: 1, stoppedByUser: false, restartCount: 2 }, "exit"); // false
 */
export function shouldRestart(policy: RestartPolicy, last: LastRun, when: "exit" | "engine-start"): boolean {
  if (when === "exit" && last.stoppedByUser) return false;
  switch (policy.name) {
    case "always":
      return true;
    case "unless-stopped":
      return !last.stoppedByUser;
    case "on-failure":
      return last.exitCode !== 0 && (policy.maximumRetryCount === 0 || last.restartCount < policy.maximumRetryCount);
    default:
      return false;
  }
}

/**
 * How long to wait before the next restart: the first delay, doubled for each restart in a row up to a minute, and
 * the first again once a run lasted ten seconds.
 * @example
 * nextRestartDelay(400, 2_000); // 800
 */
export function nextRestartDelay(previousMs: number | undefined, ranMs: number): number {
  if (previousMs === undefined || ranMs >= HEALTHY_RUN_MS) return FIRST_RESTART_DELAY_MS;
  return Math.min(previousMs * 2, LONGEST_RESTART_DELAY_MS);
}
