// A container's status as an explicit state machine. Every change goes through `transition`, so an illegal one
// fails the same way everywhere: a conflict naming the container and the state it is in.
import { EngineError } from "../errors.ts";

export type ContainerStatus = "created" | "running" | "paused" | "exited" | "removed";

/** What can happen to a container, and from which states. */
const TRANSITIONS = {
  start: { from: ["created", "exited"], to: "running" },
  pause: { from: ["running"], to: "paused" },
  unpause: { from: ["paused"], to: "running" },
  exit: { from: ["running", "paused"], to: "exited" },
  remove: { from: ["created", "exited"], to: "removed" },
} as const satisfies Record<string, { from: readonly ContainerStatus[]; to: ContainerStatus }>;

export type ContainerAction = keyof typeof TRANSITIONS;

/** Actions that need a running (or paused) task but change no state themselves. */
const NEEDS_TASK = { kill: ["running", "paused"], stop: ["running", "paused"], exec: ["running"] } as const;

export type TaskAction = keyof typeof NEEDS_TASK;

function conflict(action: string, id: string, status: ContainerStatus): EngineError {
  return new EngineError("conflict", `cannot ${action} container ${id.slice(0, 12)}: it is ${status}`);
}

/**
 * The state after `action`, or a conflict error naming the current state.
 * @example
 * transition("running", "start", id); // throws "cannot start container 3f2a…: it is running"
 */
export function transition(status: ContainerStatus, action: ContainerAction, id: string): ContainerStatus {
  const rule = TRANSITIONS[action];
  if (!(rule.from as readonly ContainerStatus[]).includes(status)) throw conflict(action, id, status);
  return rule.to;
}

/** Throws a conflict unless the container is in a state where `action` makes sense. */
export function requireTask(status: ContainerStatus, action: TaskAction, id: string): void {
  if (!(NEEDS_TASK[action] as readonly ContainerStatus[]).includes(status)) throw conflict(action, id, status);
}
