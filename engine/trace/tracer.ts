// The tracer every component reports its steps to; the facade hands one tracer to all of them, so a subscriber sees
// a pull, a snapshot and a container start as one ordered story.
import { Emitter } from "../events.ts";
import { commandOf, type TraceAction, type TraceEvent } from "./events.ts";

/**
 * Collects trace events and hands them to subscribers.
 * @example
 * const tracer = new Tracer();
 * const stop = tracer.subscribe((event) => console.log(event.command));
 * tracer.emit({ op: "mkdir", path: "/sys/fs/cgroup/drydock/3f2a" }, "3f2a");
 * stop();
 */
export class Tracer {
  readonly #emitter = new Emitter<TraceEvent>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Calls `listener` with every later event; returns the function that unsubscribes. */
  subscribe(listener: (event: TraceEvent) => void): () => void {
    return this.#emitter.on(listener);
  }

  /** Records one step; `subject` is the container or snapshot it was for. */
  emit(action: TraceAction, subject?: string): TraceEvent {
    const event: TraceEvent = { ...action, time: this.#now(), command: commandOf(action) };
    if (subject !== undefined) event.subject = subject;
    this.#emitter.emit(event);
    return event;
  }
}
