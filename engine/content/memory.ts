// A content store held in memory: for tests, and for a page that wants nothing persisted.
import { EngineError } from "../errors.ts";
import {
  type Digest,
  type DigestAlgorithm,
  defaultHasherFactory,
  digestAlgorithm,
  type HasherFactory,
  type StreamHasher,
  streamHasher,
} from "../oci/index.ts";
import {
  blobNotFound,
  type ContentStore,
  type ContentWriter,
  checkNotTooLong,
  checkSameExpectation,
  checkWrite,
  clampRange,
  type Expected,
  type Info,
  type ReadRange,
  type Usage,
  type WriterOptions,
  writerClosed,
} from "./store.ts";

interface Blob {
  info: Info;
  bytes: Uint8Array;
}

export interface MemoryContentStoreOptions {
  hashers?: HasherFactory;
}

export class MemoryContentStore implements ContentStore {
  readonly #blobs = new Map<Digest, Blob>();
  readonly #hashers: HasherFactory;

  constructor(options: MemoryContentStoreOptions = {}) {
    this.#hashers = options.hashers ?? defaultHasherFactory;
  }

  async info(digest: Digest): Promise<Info> {
    return { ...this.#get(digest).info };
  }

  async readBytes(digest: Digest, range?: ReadRange): Promise<Uint8Array> {
    const { bytes } = this.#get(digest);
    const { start, end } = clampRange(bytes.byteLength, range, digest);
    // A copy: callers may keep or change what they get without touching the stored blob.
    return bytes.slice(start, end);
  }

  async read(digest: Digest, range?: ReadRange): Promise<ReadableStream<Uint8Array>> {
    const bytes = await this.readBytes(digest, range);
    const chunkSize = 64 * 1024;
    let position = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (position >= bytes.byteLength) return controller.close();
        controller.enqueue(bytes.subarray(position, position + chunkSize));
        position += chunkSize;
      },
    });
  }

  async writer(options: WriterOptions = {}): Promise<ContentWriter> {
    return new MemoryWriter(this.#blobs, this.#hashers, options.expected);
  }

  async *list(): AsyncIterable<Info> {
    for (const blob of [...this.#blobs.values()]) yield { ...blob.info };
  }

  async delete(digest: Digest): Promise<void> {
    if (!this.#blobs.delete(digest)) throw blobNotFound(digest);
  }

  async usage(): Promise<Usage> {
    let size = 0;
    for (const blob of this.#blobs.values()) size += blob.info.size;
    return { count: this.#blobs.size, size };
  }

  #get(digest: Digest): Blob {
    const blob = this.#blobs.get(digest);
    if (blob === undefined) throw blobNotFound(digest);
    return blob;
  }
}

class MemoryWriter implements ContentWriter {
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #closed = false;
  #hasher: StreamHasher;
  #algorithm: DigestAlgorithm;
  #digest: Promise<Digest> | undefined;

  constructor(
    private readonly blobs: Map<Digest, Blob>,
    hashers: HasherFactory,
    private readonly expected: Expected | undefined,
  ) {
    this.#algorithm = expected ? digestAlgorithm(expected.digest) : "sha256";
    this.#hasher = streamHasher(hashers, this.#algorithm);
  }

  get offset(): number {
    return this.#offset;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#closed || this.#digest !== undefined) throw writerClosed();
    checkNotTooLong(this.#offset + bytes.byteLength, this.expected);
    // Copied, because a stream may reuse the buffer it handed us.
    this.#chunks.push(bytes.slice());
    this.#offset += bytes.byteLength;
    await this.#hasher.update(bytes);
  }

  digest(): Promise<Digest> {
    this.#digest ??= this.#hasher.digest();
    return this.#digest;
  }

  async commit(expected: Expected): Promise<Info> {
    if (this.#closed) throw writerClosed();
    try {
      checkSameExpectation(this.expected, expected);
      if (digestAlgorithm(expected.digest) !== this.#algorithm) {
        throw new EngineError("invalidArgument", `open the writer with the expected ${expected.digest} to hash it`);
      }
      await checkWrite(this.#offset, expected, () => this.digest());
      const existing = this.blobs.get(expected.digest);
      if (existing) return { ...existing.info };
      const bytes = new Uint8Array(this.#offset);
      let position = 0;
      for (const chunk of this.#chunks) {
        bytes.set(chunk, position);
        position += chunk.byteLength;
      }
      const info: Info = { digest: expected.digest, size: this.#offset, createdAt: new Date() };
      this.blobs.set(expected.digest, { info, bytes });
      return { ...info };
    } finally {
      this.#close();
    }
  }

  async abort(): Promise<void> {
    this.#close();
  }

  #close(): void {
    this.#hasher.cancel();
    this.#closed = true;
    this.#chunks = [];
  }
}
