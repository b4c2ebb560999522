// Sequential read-ahead for file content. The kernel reads a file one Tread at a time, in growing sizes, and waits
// for each; keeping a window of the file's next bytes in flight while the guest digests this read turns the next
// Tread into a synchronous answer (no store latency, no wait for the emulator to yield its time slice).
import type { Digest } from "../oci/index.ts";

type Read = (content: Digest, offset: number, length: number) => Promise<Uint8Array>;

interface Chunk {
  offset: number;
  length: number;
  /** Set once the bytes are in. */
  data?: Uint8Array;
  /** Resolves to the bytes, or to undefined when the read failed (the Tread that wanted them reads again). */
  pending: Promise<Uint8Array | undefined>;
  failed?: boolean;
}

export interface ReadAheadOptions {
  /** Reads shorter than this start no read-ahead (a header read by `file`, not a stream). */
  minLength?: number;
  /** Bytes kept in flight past the end of the last read. */
  window?: number;
  /** Size of one read-ahead request to the store. */
  chunk?: number;
  /** Files read ahead at once; the least recently read loses its window. */
  maxFiles?: number;
}

export class ReadAhead {
  readonly #read: Read;
  readonly #minLength: number;
  readonly #window: number;
  readonly #chunk: number;
  readonly #maxFiles: number;
  /** Each file's chunks in flight or read, in file order; files in the order they were last read. */
  readonly #files = new Map<Digest, Chunk[]>();

  constructor(read: Read, options: ReadAheadOptions = {}) {
    this.#read = read;
    this.#minLength = options.minLength ?? 64 * 1024;
    this.#window = options.window ?? 1024 * 1024;
    this.#chunk = options.chunk ?? 256 * 1024;
    this.#maxFiles = options.maxFiles ?? 8;
  }

  /**
   * `length` bytes of `content` (of `size` bytes) from `offset`: at once when read ahead, else a promise. Throws (or
   * rejects) when the store fails or gives a different number of bytes.
   */
  read(content: Digest, size: number, offset: number, length: number): Uint8Array | Promise<Uint8Array> {
    const end = offset + length;
    const chunks = this.#files.get(content) ?? [];
    this.#files.delete(content);
    const result = this.#fromChunks(content, chunks, offset, end) ?? this.#fetch(content, offset, length);
    if (length >= this.#minLength) {
      // Keep the chunks that still hold bytes past this read, if they follow on from it (not after a seek), and
      // top the window up.
      let kept = chunks.filter((chunk) => chunk.offset + chunk.length > end && !chunk.failed);
      if (kept.length > 0 && kept[0]!.offset > end) kept = [];
      const last = kept.at(-1);
      let next = last ? last.offset + last.length : end;
      while (next < size && next < end + this.#window) {
        const chunkLength = Math.min(this.#chunk, size - next);
        kept.push(this.#ahead(content, next, chunkLength));
        next += chunkLength;
      }
      if (kept.length > 0) this.#files.set(content, kept);
      while (this.#files.size > this.#maxFiles) {
        const oldest = this.#files.keys().next().value;
        if (oldest === undefined) break;
        this.#files.delete(oldest);
      }
    }
    return result;
  }

  /** The bytes of [offset, end) when read-ahead chunks cover all of them; undefined when they do not. */
  #fromChunks(
    content: Digest,
    chunks: readonly Chunk[],
    offset: number,
    end: number,
  ): Uint8Array | Promise<Uint8Array> | undefined {
    const first = chunks.findIndex((chunk) => chunk.offset <= offset && offset < chunk.offset + chunk.length);
    if (first === -1) return undefined;
    const covering: Chunk[] = [];
    for (let i = first, at = offset; at < end; i++) {
      const chunk = chunks[i];
      if (!chunk || chunk.offset > at) return undefined;
      covering.push(chunk);
      at = chunk.offset + chunk.length;
    }
    const assemble = (parts: (Uint8Array | undefined)[]): Uint8Array | undefined => {
      if (parts.some((part) => part === undefined)) return undefined;
      if (parts.length === 1) return parts[0]!.subarray(offset - covering[0]!.offset, end - covering[0]!.offset);
      const bytes = new Uint8Array(end - offset);
      covering.forEach((chunk, i) => {
        const from = Math.max(offset, chunk.offset);
        const to = Math.min(end, chunk.offset + chunk.length);
        bytes.set(parts[i]!.subarray(from - chunk.offset, to - chunk.offset), from - offset);
      });
      return bytes;
    };
    if (covering.every((chunk) => chunk.data)) return assemble(covering.map((chunk) => chunk.data));
    return Promise.all(covering.map((chunk) => chunk.pending)).then(
      (parts) => assemble(parts) ?? this.#fetch(content, offset, end - offset),
    );
  }

  #ahead(content: Digest, offset: number, length: number): Chunk {
    const chunk: Chunk = { offset, length, pending: Promise.resolve(undefined) };
    chunk.pending = this.#fetch(content, offset, length).then(
      (data) => {
        chunk.data = data;
        return data;
      },
      () => {
        chunk.failed = true;
        return undefined;
      },
    );
    return chunk;
  }

  async #fetch(content: Digest, offset: number, length: number): Promise<Uint8Array> {
    const data = await this.#read(content, offset, length);
    if (data.byteLength !== length) {
      throw new Error(`content ${content} gave ${data.byteLength} bytes at ${offset}, not ${length}`);
    }
    return data;
  }
}
