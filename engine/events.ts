// A minimal typed event emitter (subscribing returns the function that unsubscribes), and the engine's own events:
// what happened to containers and images, as `docker events` reports it. The services emit; engine/api formats.

export type Listener<T> = (value: T) => void;

/**
 * A typed emitter.
 * @example
 * const exits = new Emitter<number>();
 * const off = exits.on((code) => console.log("exited", code));
 * exits.emit(0);
 * off();
 */
export class Emitter<T> {
  #listeners = new Set<Listener<T>>();

  on(listener: Listener<T>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(value: T): void {
    for (const listener of [...this.#listeners]) listener(value);
  }

  clear(): void {
    this.#listeners.clear();
  }
}

/** What can happen to a container, in dockerd's words. */
export type ContainerEventAction =
  | "create"
  | "start"
  | "die"
  | "stop"
  | "kill"
  | "pause"
  | "unpause"
  | "restart"
  | "destroy"
  | "attach"
  | "resize"
  | "exec_create"
  | "exec_start"
  | "exec_die"
  | "commit";

/** What can happen to an image, in dockerd's words. */
export type ImageEventAction = "pull" | "push" | "load" | "save" | "tag" | "untag" | "delete";

/** One thing that happened, as `docker events` shows it. */
export type EngineEvent = (
  | { type: "container"; action: ContainerEventAction }
  | { type: "image"; action: ImageEventAction }
) & {
  /** A container ID, or an image's name or ID. */
  id: string;
  /** Details shown beside it: `name`, `image`, `exitCode`, `signal`, `execID`… */
  attributes: Record<string, string>;
  /** Milliseconds since the epoch. */
  time: number;
};

/** How many past events an EventLog keeps for `docker events --since`. */
export const EVENT_HISTORY = 1024;

/**
 * The engine's events: a live emitter plus the last {@link EVENT_HISTORY} of them, so a client that asks for events
 * since a moment in the past gets them before the live ones.
 * @example
 * const events = new EventLog();
 * const off = events.on((event) => console.log(event.type, event.action, event.id));
 * events.emit({ type: "container", action: "start", id, attributes: { name: "web" } });
 * events.history(Date.now() - 60_000); // what happened in the last minute
 */
export class EventLog {
  readonly #emitter = new Emitter<EngineEvent>();
  readonly #history: EngineEvent[] = [];

  constructor(
    readonly limit = EVENT_HISTORY,
    readonly now: () => number = Date.now,
  ) {}

  /** Records an event (its time is now unless given) and tells every listener. */
  emit(event: Omit<EngineEvent, "time"> & { time?: number }): void {
    const full = { ...event, time: event.time ?? this.now() } as EngineEvent;
    this.#history.push(full);
    if (this.#history.length > this.limit) this.#history.shift();
    this.#emitter.emit(full);
  }

  /** Calls `listener` with each new event; returns the function that unsubscribes. */
  on(listener: Listener<EngineEvent>): () => void {
    return this.#emitter.on(listener);
  }

  /** The kept events at or after `since` (ms since the epoch), oldest first. */
  history(since = 0): EngineEvent[] {
    return this.#history.filter((event) => event.time >= since);
  }
}
