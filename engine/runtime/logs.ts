// A container's output, kept with the time each chunk arrived, readable from the start and followable. Bounded: a
// chatty container drops its oldest output rather than the page's memory.
import { Emitter } from "../events.ts";

export interface LogEntry {
  /** Milliseconds since the epoch. */
  time: number;
  stream: "stdout" | "stderr";
  data: Uint8Array;
}

export interface LogReadOptions {
  /** Keep the stream open and deliver new output until the container exits. */
  follow?: boolean;
  /** Only entries at or after this time (ms since the epoch). */
  since?: number;
  /** Only the last `tail` entries already kept. */
  tail?: number;
  /**
   * What an attached client sees: nothing kept, only output from now on, until the end of the current run or, when
   * no run is going on, of the next one (a client attaches before `start`).
   */
  live?: boolean;
}

export const DEFAULT_LOG_LIMIT_BYTES = 1024 * 1024;

export class LogBuffer {
  readonly #entries: LogEntry[] = [];
  #bytes = 0;
  #closed = false;
  readonly #emitter = new Emitter<LogEntry | "end" | "open">();

  constructor(
    readonly limitBytes = DEFAULT_LOG_LIMIT_BYTES,
    readonly now: () => number = Date.now,
  ) {}

  append(stream: LogEntry["stream"], data: Uint8Array): void {
    const entry = { time: this.now(), stream, data };
    this.#entries.push(entry);
    this.#bytes += data.length;
    while (this.#bytes > this.limitBytes && this.#entries.length > 1) this.#bytes -= this.#entries.shift()!.data.length;
    this.#emitter.emit(entry);
  }

  /** No more output will come (the task exited); followers see the end. */
  close(): void {
    this.#closed = true;
    this.#emitter.emit("end");
  }

  /** Output comes again (the container was restarted). */
  reopen(): void {
    this.#closed = false;
    this.#emitter.emit("open");
  }

  /** Whether the current run has ended (no run has started counts as open: output may come). */
  get closed(): boolean {
    return this.#closed;
  }

  read(options: LogReadOptions = {}): ReadableStream<LogEntry> {
    let unsubscribe: (() => void) | undefined;
    return new ReadableStream<LogEntry>({
      start: (controller) => {
        if (options.live) {
          let open = !this.#closed;
          unsubscribe = this.#emitter.on((entry) => {
            if (entry === "open") open = true;
            else if (entry !== "end") controller.enqueue(entry);
            else if (open) {
              unsubscribe?.();
              controller.close();
            }
          });
          return;
        }
        let kept = this.#entries.filter((entry) => options.since === undefined || entry.time >= options.since);
        if (options.tail !== undefined) kept = options.tail > 0 ? kept.slice(-options.tail) : [];
        for (const entry of kept) controller.enqueue(entry);
        if (!options.follow || this.#closed) {
          controller.close();
          return;
        }
        unsubscribe = this.#emitter.on((entry) => {
          if (entry === "end") {
            unsubscribe?.();
            controller.close();
          } else if (entry !== "open") {
            controller.enqueue(entry);
          }
        });
      },
      cancel: () => unsubscribe?.(),
    });
  }
}

/** Docker's `--timestamps` form: RFC 3339 with nanoseconds, a space, then the line. */
export function formatLogLine(entry: LogEntry, text: string): string {
  return `${new Date(entry.time).toISOString().replace("Z", "000000Z")} ${text}`;
}
