// Sequential read-ahead for file content. The kernel reads a file one Tread at a time and waits for each; reading
// the next range from the store while the guest digests this one turns the next Tread into a synchronous answer
// (no wait for the emulator to yield its time slice, no store latency).
import type { Digest } from "../oci/index.ts";

type Read = (content: Digest, offset: number, length: number) => Promise<Uint8Array>;

interface Chunk {
  offset: number;
  length: number;
  /** Set once the bytes are in; until then, `pending` (undefined if the read failed: read again, report that). */
  data?: Uint8Array;
  pending: Promise<Uint8Array | undefined>;
}

export interface ReadAheadOptions {
  /** Reads shorter than this are not followed by a read-ahead (they are stats of headers, not streams). */
  minLength?: number;
  /** Files read ahead at once; the least recently read loses its chunk. */
  maxFiles?: number;
}

export class ReadAhead {
  readonly #read: Read;
  readonly #minLength: number;
  readonly #maxFiles: number;
  /** One chunk per file content, in the order they were last read. */
  readonly #chunks = new Map<Digest, Chunk>();

  constructor(read: Read, options: ReadAheadOptions = {}) {
    this.#read = read;
    this.#minLength = options.minLength ?? 64 * 1024;
    this.#maxFiles = options.maxFiles ?? 8;
  }

  /**
   * `length` bytes of `content` (of `size` bytes) from `offset`: at once when read ahead, else a promise. Throws (or
   * rejects) when the source fails or gives a different number of bytes.
   */
  read(content: Digest, size: number, offset: number, length: number): Uint8Array | Promise<Uint8Array> {
    const chunk = this.#chunks.get(content);
    this.#chunks.delete(content);
    let result: Uint8Array | Promise<Uint8Array>;
    if (chunk && chunk.offset === offset && chunk.length >= length) {
      result = chunk.data
        ? chunk.data.subarray(0, length)
        : chunk.pending.then((data) => data?.subarray(0, length) ?? this.#fetch(content, offset, length));
    } else {
      result = this.#fetch(content, offset, length);
    }
    const next = offset + length;
    if (length >= this.#minLength && next < size) this.#ahead(content, next, Math.min(length, size - next));
    return result;
  }

  #ahead(content: Digest, offset: number, length: number): void {
    const chunk: Chunk = { offset, length, pending: Promise.resolve(undefined) };
    // A failed read-ahead is forgotten: the Tread that wanted it reads again and reports that failure.
    chunk.pending = this.#fetch(content, offset, length).then(
      (data) => {
        chunk.data = data;
        return data;
      },
      () => undefined,
    );
    this.#chunks.set(content, chunk);
    while (this.#chunks.size > this.#maxFiles) {
      const oldest = this.#chunks.keys().next().value;
      if (oldest === undefined) break;
      this.#chunks.delete(oldest);
    }
  }

  async #fetch(content: Digest, offset: number, length: number): Promise<Uint8Array> {
    const data = await this.#read(content, offset, length);
    if (data.byteLength !== length) {
      throw new Error(`content ${content} gave ${data.byteLength} bytes at ${offset}, not ${length}`);
    }
    return data;
  }
}
