// Text and bytes to one of the CLI's output streams, through one writer held for the whole command.

const encoder = new TextEncoder();

/**
 * A locked writer over stdout or stderr that takes strings or bytes.
 * @example
 * const out = new Output(io.stdout, io.isTTY.stdout);
 * await out.write("hello\n");
 */
export class Output {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(
    stream: WritableStream<Uint8Array>,
    /** Whether this stream is a terminal. */
    readonly isTerminal: boolean,
  ) {
    this.writer = stream.getWriter();
  }

  /** Writes text (UTF-8) or bytes; resolves once the stream has taken them. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (bytes.length === 0) return;
    await this.writer.write(bytes);
  }

  /** Writes `text` and a newline. */
  line(text = ""): Promise<void> {
    return this.write(`${text}\n`);
  }

  /** Gives the stream back to its owner (the CLI does not close stdio it did not open). */
  release(): void {
    this.writer.releaseLock();
  }
}
