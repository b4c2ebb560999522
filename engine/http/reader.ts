// A buffered reader over a byte stream: lines for the request head, exact counts and "whatever is there" for bodies,
// and the rest of the stream as a stream of its own once a connection is hijacked.

export class ByteReader {
  #buffer: Uint8Array = new Uint8Array(0);
  #ended = false;
  #pending: Promise<boolean> | undefined;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Bytes buffered and not yet consumed. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** True once the stream ended and the buffer is empty. */
  get done(): boolean {
    return this.#ended && this.#buffer.length === 0;
  }

  /**
   * Reads more from the stream into the buffer; false at its end. One read at a time: a caller that comes while one
   * is under way (the watch for a vanished client, then the next request's head) waits for that same read.
   */
  #fill(): Promise<boolean> {
    this.#pending ??= this.#read().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /**
   * `#fill`, given up after `ms` (undefined: wait as long as it takes) with `HttpParseError(408, message)`. The read
   * itself stays pending: the connection is about to close, which ends it.
   */
  async #fillWithin(ms: number | undefined, message: string): Promise<boolean> {
    if (ms === undefined) return this.#fill();
    if (ms <= 0) throw new HttpParseError(408, message);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HttpParseError(408, message)), ms);
    });
    try {
      return await Promise.race([this.#fill(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits up to `ms` for a byte: "data" once one is buffered, "end" when the stream ends, "timeout" otherwise. */
  async waitForBytes(ms: number): Promise<"data" | "end" | "timeout"> {
    try {
      while (this.#buffer.length === 0) if (!(await this.#fillWithin(ms, "idle"))) return "end";
      return "data";
    } catch (error) {
      if (error instanceof HttpParseError) return "timeout";
      throw error;
    }
  }

  async #read(): Promise<boolean> {
    if (this.#ended) return false;
    const { done, value } = await this.#reader.read();
    if (done) {
      this.#ended = true;
      return false;
    }
    if (this.#buffer.length === 0) this.#buffer = value;
    else {
      const joined = new Uint8Array(this.#buffer.length + value.length);
      joined.set(this.#buffer);
      joined.set(value, this.#buffer.length);
      this.#buffer = joined;
    }
    return true;
  }

  #take(count: number): Uint8Array {
    const taken = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return taken;
  }

  /**
   * The next line without its CRLF (or LF), as latin1 text; undefined at the end of the stream before any byte.
   * Throws (431) when a line grows past `limit` bytes, (400) when the stream ends inside a line, and (408) when it has
   * not come by `deadline` (a `Date.now()` time).
   */
  async line(limit: number, deadline?: number): Promise<string | undefined> {
    let searched = 0;
    for (;;) {
      const at = this.#buffer.indexOf(10, searched);
      if (at >= 0) {
        const bytes = this.#take(at + 1);
        const end = at > 0 && bytes[at - 1] === 13 ? at - 1 : at;
        if (end > limit) throw new HttpParseError(431, "request header too large");
        return latin1(bytes.subarray(0, end));
      }
      if (this.#buffer.length > limit) throw new HttpParseError(431, "request header too large");
      searched = this.#buffer.length;
      const wait = deadline === undefined ? undefined : deadline - Date.now();
      if (!(await this.#fillWithin(wait, "the request head did not arrive in time"))) {
        if (this.#buffer.length === 0) return undefined;
        throw new HttpParseError(400, "the connection ended inside a line");
      }
    }
  }

  /**
   * Up to `max` bytes, waiting for at least one; undefined at the end of the stream. Throws (408) when none comes
   * within `idleMs`.
   */
  async some(max: number, idleMs?: number): Promise<Uint8Array | undefined> {
    if (this.#buffer.length === 0 && !(await this.#fillWithin(idleMs, "the request body stalled"))) return undefined;
    // Copied: the buffer's memory is reused by later reads.
    return this.#take(Math.min(max, this.#buffer.length)).slice();
  }

  /** Exactly `count` bytes; throws when the stream ends first. */
  async exactly(count: number): Promise<Uint8Array> {
    while (this.#buffer.length < count) {
      if (!(await this.#fill())) throw new HttpParseError(400, "the connection ended inside a body");
    }
    return this.#take(count).slice();
  }

  /**
   * Waits for the stream to say something: true when it ends before any more bytes come, false when bytes arrive
   * (they stay buffered for the next read).
   */
  async endsBeforeMore(): Promise<boolean> {
    if (this.#buffer.length > 0) return false;
    return !(await this.#fill()) && this.#buffer.length === 0;
  }

  /** Everything from here to the end of the stream, as a stream (a hijacked connection's input). */
  rest(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const bytes = await this.some(65536);
          if (bytes) controller.enqueue(bytes);
          else controller.close();
        },
        cancel: () => this.cancel(),
      },
      { highWaterMark: 0 },
    );
  }

  /** Stops reading the stream. */
  async cancel(): Promise<void> {
    this.#ended = true;
    this.#buffer = new Uint8Array(0);
    await this.#reader.cancel().catch(() => {});
  }
}

/** A request that cannot be parsed: answered with `status` and the connection closed. */
export class HttpParseError extends Error {
  override readonly name = "HttpParseError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return text;
}
