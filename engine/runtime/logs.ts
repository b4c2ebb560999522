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
/** How far an attached client may fall behind before the container's output waits for it. */
export const DEFAULT_ATTACH_WINDOW_BYTES = 256 * 1024;

export class LogBuffer {
  readonly #entries: LogEntry[] = [];
  /** The sequence number of `#entries[0]`: entries are numbered as they come, and dropping old ones moves this on. */
  #firstSeq = 0;
  #bytes = 0;
  /** Bytes ever appended; `#offsets[i]` is where `#entries[i]` starts in that count. */
  #appended = 0;
  readonly #offsets: number[] = [];
  /** Where each attached (live) reader is: the sequence number it reads next. */
  readonly #attached = new Set<{ next: number }>();
  #closed = false;
  /** Runs are numbered; a run ends at the sequence number of the entry that would have come next. */
  #run = 0;
  readonly #ends: Array<{ run: number; seq: number }> = [];
  readonly #changed = new Emitter<void>();

  constructor(
    readonly limitBytes = DEFAULT_LOG_LIMIT_BYTES,
    readonly now: () => number = Date.now,
    readonly attachWindowBytes = DEFAULT_ATTACH_WINDOW_BYTES,
  ) {}

  get #nextSeq(): number {
    return this.#firstSeq + this.#entries.length;
  }

  /** Keeps a chunk of output, at `time` (now unless given: an entry read back from the engine's storage). */
  append(stream: LogEntry["stream"], data: Uint8Array, time = this.now()): LogEntry {
    const entry = { time, stream, data };
    this.#entries.push(entry);
    this.#offsets.push(this.#appended);
    this.#appended += data.length;
    this.#bytes += data.length;
    while (this.#bytes > this.limitBytes && this.#entries.length > 1) {
      this.#bytes -= this.#entries.shift()!.data.length;
      this.#offsets.shift();
      this.#firstSeq++;
    }
    this.#changed.emit();
    return entry;
  }

  /** How many bytes the slowest attached client has still to read. */
  get #attachedBacklog(): number {
    let backlog = 0;
    for (const reader of this.#attached) {
      const index = reader.next - this.#firstSeq;
      const at = index <= 0 ? (this.#offsets[0] ?? this.#appended) : (this.#offsets[index] ?? this.#appended);
      backlog = Math.max(backlog, this.#appended - at);
    }
    return backlog;
  }

  /**
   * Resolves once every attached client is less than the attach window behind. Whoever feeds the buffer from a
   * process waits for it before reading more, so a slow `docker attach` slows the container's writes (as dockerd's
   * attach does) instead of losing output; `docker logs` readers never hold anything up.
   * @example
   * for await (const chunk of output) { logs.append("stdout", chunk); await logs.room(); }
   */
  async room(): Promise<void> {
    while (this.#attachedBacklog >= this.attachWindowBytes) {
      await new Promise<void>((resolve) => {
        const off = this.#changed.on(() => {
          off();
          resolve();
        });
      });
    }
  }

  /** No more output will come (the task exited); followers see the end. */
  close(): void {
    if (!this.#closed) {
      this.#ends.push({ run: this.#run, seq: this.#nextSeq });
      // Followers wait for one of the last runs' ends at most; older ones are history.
      if (this.#ends.length > 16) this.#ends.shift();
    }
    this.#closed = true;
    this.#changed.emit();
  }

  /** Output comes again (the container was restarted). */
  reopen(): void {
    if (this.#closed) this.#run++;
    this.#closed = false;
    this.#changed.emit();
  }

  /** Whether the current run has ended (no run has started counts as open: output may come). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Entries as a stream that reads the buffer as its consumer asks for them (one at a time), so a slow follower holds
   * no copy of the output: it reads behind the writer, and when it falls further behind than the buffer keeps, it
   * skips what was dropped, as a slow `docker logs -f` skips a rotated json-file log. A `live` (attached) reader is
   * different: the writer waits for it (`room`), so it loses nothing.
   */
  read(options: LogReadOptions = {}): ReadableStream<LogEntry> {
    let next: number;
    // Where the stream ends: a fixed point (a read without follow), or the end of a run (follow, attach).
    let stopAt: number | undefined;
    let untilRunEnds: number | undefined;
    if (options.live) {
      next = this.#nextSeq;
      untilRunEnds = this.#closed ? this.#run + 1 : this.#run;
    } else {
      let from = 0;
      if (options.since !== undefined) {
        const since = options.since;
        const index = this.#entries.findIndex((entry) => entry.time >= since);
        from = index < 0 ? this.#entries.length : index;
      }
      if (options.tail !== undefined) from = Math.max(from, this.#entries.length - Math.max(options.tail, 0));
      next = this.#firstSeq + from;
      if (!options.follow || this.#closed) stopAt = this.#nextSeq;
      else untilRunEnds = this.#run;
    }
    let stopWaiting: (() => void) | undefined;
    const changed = () =>
      new Promise<void>((resolve) => {
        const off = this.#changed.on(() => {
          off();
          resolve();
        });
        stopWaiting = () => {
          off();
          resolve();
        };
      });
    let cancelled = false;
    // An attached reader's place is known to the writer (see `room`); it leaves when its stream ends.
    const place = { next };
    if (options.live) this.#attached.add(place);
    const leave = () => {
      if (this.#attached.delete(place)) this.#changed.emit();
    };
    return new ReadableStream<LogEntry>(
      {
        pull: async (controller) => {
          for (;;) {
            if (cancelled) return;
            next = Math.max(next, this.#firstSeq);
            place.next = next;
            const end = this.#ends.find((e) => e.run === untilRunEnds);
            if ((stopAt !== undefined && next >= stopAt) || (end !== undefined && next >= end.seq)) {
              leave();
              controller.close();
              return;
            }
            if (next < this.#nextSeq) {
              controller.enqueue(this.#entries[next - this.#firstSeq]!);
              next++;
              place.next = next;
              // The writer may be waiting for this reader to catch up.
              if (options.live) this.#changed.emit();
              return;
            }
            await changed();
          }
        },
        cancel: () => {
          cancelled = true;
          leave();
          stopWaiting?.();
        },
      },
      { highWaterMark: 0 },
    );
  }
}

/** Docker's `--timestamps` form: RFC 3339 with nanoseconds, a space, then the line. */
export function formatLogLine(entry: LogEntry, text: string): string {
  return `${new Date(entry.time).toISOString().replace("Z", "000000Z")} ${text}`;
}
