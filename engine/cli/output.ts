// Text and bytes to one of the CLI's output streams, through one writer held for the whole command.
import { CommandStopped } from "./errors.ts";

const encoder = new TextEncoder();

/** 128 + SIGPIPE: what a shell reports for docker when its reader went away (`docker logs -f web | head -1`). */
const EXIT_BROKEN_PIPE = 141;

/**
 * Whatever read this output is gone (a closed pipe, the guest's docker ended). docker dies of SIGPIPE there:
 * no message, exit 141; the command stops instead of producing output nobody reads.
 * @example
 * throw new OutputClosed(cause);
 */
export class OutputClosed extends CommandStopped {
  constructor(cause: unknown) {
    super(EXIT_BROKEN_PIPE, cause);
  }
}

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

  /** Writes text (UTF-8) or bytes; resolves once the stream has taken them, throws {@link OutputClosed} if it cannot. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (bytes.length === 0) return;
    try {
      await this.writer.write(bytes);
    } catch (error) {
      throw new OutputClosed(error);
    }
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
