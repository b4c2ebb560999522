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
   * Throws when a line grows past `limit` bytes or the stream ends inside a line.
   */
  async line(limit: number): Promise<string | undefined> {
    let searched = 0;
    for (;;) {
      const at = this.#buffer.indexOf(10, searched);
      if (at >= 0) {
        const bytes = this.#take(at + 1);
        const end = at > 0 && bytes[at - 1] === 13 ? at - 1 : at;
        return latin1(bytes.subarray(0, end));
      }
      if (this.#buffer.length > limit) throw new HttpParseError(431, "request header too large");
      searched = this.#buffer.length;
      if (!(await this.#fill())) {
        if (this.#buffer.length === 0) return undefined;
        throw new HttpParseError(400, "the connection ended inside a line");
      }
    }
  }

  /** Up to `max` bytes, waiting for at least one; undefined at the end of the stream. */
  async some(max: number): Promise<Uint8Array | undefined> {
    if (this.#buffer.length === 0 && !(await this.#fill())) return undefined;
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
