// Byte streams over the agent link with credit-based flow control, one per direction of a process or connection.
import { Channel, MAX_PAYLOAD, STREAM_WINDOW } from "./protocol.ts";

/**
 * Bytes from the guest (a process's stdout or stderr, or a forwarded connection). The agent may send at most the
 * credit it holds; credit goes back as the consumer reads, so a slow reader stops the guest process instead of
 * filling memory.
 */
export class IncomingStream {
  readonly readable: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #received = 0;
  #credited = 0;
  #discarding = false;
  #closed = false;

  constructor(
    private readonly channel: number,
    private readonly grant: (channel: number, bytes: number) => void,
  ) {
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#grantConsumed(),
        cancel: () => {
          // Nobody reads any more: keep the process running by crediting everything that arrives.
          this.#discarding = true;
          this.#grantConsumed();
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: STREAM_WINDOW }),
    );
  }

  #grantConsumed(): void {
    if (this.#closed) return;
    const queued = this.#discarding ? 0 : STREAM_WINDOW - (this.#controller.desiredSize ?? 0);
    const consumed = this.#received - Math.max(0, queued);
    const owed = consumed - this.#credited;
    // Grant in reasonable pieces, but never leave the agent without credit when the queue is empty.
    if (owed >= 8192 || (owed > 0 && queued <= 0)) {
      this.#credited += owed;
      this.grant(this.channel, owed);
    }
  }

  push(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#received += bytes.length;
    if (this.#discarding) this.#grantConsumed();
    else this.#controller.enqueue(bytes);
  }

  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#discarding) this.#controller.close();
  }

  fail(error: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#discarding) this.#controller.error(error);
  }
}

/** Bytes to the guest (a process's stdin or a connection). Writes wait for credit from the agent. */
export class OutgoingStream {
  readonly writable: WritableStream<Uint8Array>;
  #credit = STREAM_WINDOW;
  #waiting: (() => void) | undefined;
  #failed: Error | undefined;
  #ended = false;

  constructor(private readonly send: (bytes: Uint8Array) => void) {
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        for (let at = 0; at < chunk.length; ) {
          await this.#creditAvailable();
          const size = Math.min(chunk.length - at, this.#credit, MAX_PAYLOAD);
          this.#credit -= size;
          this.send(chunk.subarray(at, at + size));
          at += size;
        }
      },
      close: () => this.end(),
      abort: () => this.end(),
    });
  }

  async #creditAvailable(): Promise<void> {
    while (this.#credit === 0 || this.#failed) {
      if (this.#failed) throw this.#failed;
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
      });
    }
  }

  addCredit(bytes: number): void {
    this.#credit += bytes;
    this.#wake();
  }

  /** Tells the guest there is no more input (an empty INPUT message). */
  end(): void {
    if (this.#ended || this.#failed) return;
    this.#ended = true;
    this.send(new Uint8Array(0));
  }

  fail(error: Error): void {
    this.#failed = error;
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }
}

export { Channel };
