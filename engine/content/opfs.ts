// Content and metadata stores in the browser's origin private file system (OPFS), for the engine's Web Worker.
// Layout under the root directory: blobs/<algorithm>/<hex> for committed blobs, ingest/<random> for writes in
// progress (moved into blobs/ on commit, so a blob appears whole or not at all), metadata/<name> for documents.
import { EngineError } from "../errors.ts";
import {
  type Digest,
  type DigestAlgorithm,
  defaultHasherFactory,
  digestAlgorithm,
  digestHex,
  type HasherFactory,
  type StreamHasher,
  streamHasher,
} from "../oci/index.ts";
import { engineDirectory, type OpfsDirectory, type OpfsFile, type OpfsSyncAccess, type OpfsWritable } from "../opfs.ts";
import { checkDocumentName, type MetadataStore } from "./metadata.ts";
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
  listBlobFiles,
  type ReadRange,
  sumUsage,
  type Usage,
  type WriterOptions,
  writerClosed,
} from "./store.ts";

export type { OpfsDirectory };

/** Where an ingest file's bytes go: written in place, or through a writable stream in large batches. */
interface IngestSink {
  write(bytes: Uint8Array): Promise<void> | undefined;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * A sync access handle (in a worker): each write is a plain file write in the worker's own thread, where a writable
 * stream's is a round trip to the browser's process and a copy into a swap file that close() then moves in place.
 */
function syncSink(access: OpfsSyncAccess): IngestSink {
  let at = 0;
  return {
    write(bytes) {
      const written = access.write(bytes, { at });
      at += written;
      if (written !== bytes.byteLength) {
        throw new EngineError(
          "unavailable",
          `the browser's storage took ${written} of ${bytes.byteLength} bytes: is it full?`,
        );
      }
      return undefined;
    },
    async close() {
      access.flush();
      access.close();
    },
    async abort() {
      access.close();
    },
  };
}

/** Writes are gathered into batches of this size: a network stream's chunks are 16–64 KiB. */
const WRITE_BATCH = 1 << 20;

/** A writable stream (where sync access handles are missing: the main thread), fed in batches of WRITE_BATCH. */
function batchedSink(stream: OpfsWritable): IngestSink {
  let batch = new Uint8Array(WRITE_BATCH);
  let used = 0;
  const flush = async () => {
    if (used === 0) return;
    const full = batch.subarray(0, used);
    batch = new Uint8Array(WRITE_BATCH);
    used = 0;
    await stream.write(full);
  };
  return {
    write(bytes) {
      if (bytes.byteLength >= WRITE_BATCH) return flush().then(() => stream.write(bytes));
      if (used + bytes.byteLength > WRITE_BATCH) {
        const flushed = flush();
        batch.set(bytes, 0);
        used = bytes.byteLength;
        return flushed;
      }
      // Copied now: the caller may reuse its buffer once this returns.
      batch.set(bytes, used);
      used += bytes.byteLength;
      return undefined;
    },
    async close() {
      await flush();
      await stream.close();
    },
    async abort() {
      await stream.abort();
    },
  };
}

async function openIngestSink(handle: OpfsFile, syncAccess: boolean): Promise<IngestSink> {
  if (syncAccess && typeof handle.createSyncAccessHandle === "function") {
    try {
      return syncSink(await handle.createSyncAccessHandle());
    } catch {
      // Not in a dedicated worker after all (or the browser refuses): the writable stream works everywhere.
    }
  }
  return batchedSink(await handle.createWritable());
}
const STALE_INGEST_MS = 60 * 60 * 1000;

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "NotFoundError" || name === "TypeMismatchError";
}

/**
 * Removes ingest files nobody has written to for an hour: left by a page that closed mid-download. Younger ones may
 * belong to another tab of the same origin that is still writing.
 */
async function removeStaleIngests(ingest: OpfsDirectory): Promise<void> {
  const staleBefore = Date.now() - STALE_INGEST_MS;
  for await (const name of ingest.keys()) {
    try {
      const file = await (await ingest.getFileHandle(name)).getFile();
      if (file.lastModified < staleBefore) await ingest.removeEntry(name);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

export interface OpfsContentStoreOptions {
  /** The directory to keep blobs in; defaults to `drydock/content` in the origin's OPFS. */
  root?: OpfsDirectory;
  hashers?: HasherFactory;
  /**
   * Write blobs through sync access handles where the runtime has them (dedicated workers); default true. False
   * writes through writable streams, as on the main thread.
   */
  syncAccess?: boolean;
}

export class OpfsContentStore implements ContentStore {
  private constructor(
    private readonly blobs: Record<DigestAlgorithm, OpfsDirectory>,
    private readonly ingest: OpfsDirectory,
    private readonly hashers: HasherFactory,
    private readonly syncAccess: boolean,
  ) {}

  /**
   * Opens (creating if needed) the store, and removes writes a previous page left half done.
   * @example
   * const store = await OpfsContentStore.open();
   */
  static async open(options: OpfsContentStoreOptions = {}): Promise<OpfsContentStore> {
    const root = options.root ?? (await (await engineDirectory()).getDirectoryHandle("content", { create: true }));
    const blobsDir = await root.getDirectoryHandle("blobs", { create: true });
    const blobs = {
      sha256: await blobsDir.getDirectoryHandle("sha256", { create: true }),
      sha512: await blobsDir.getDirectoryHandle("sha512", { create: true }),
    };
    const ingest = await root.getDirectoryHandle("ingest", { create: true });
    await removeStaleIngests(ingest);
    return new OpfsContentStore(blobs, ingest, options.hashers ?? defaultHasherFactory, options.syncAccess ?? true);
  }

  async #file(digest: Digest): Promise<Blob & { lastModified: number }> {
    try {
      const handle = await this.blobs[digestAlgorithm(digest)].getFileHandle(digestHex(digest));
      return await handle.getFile();
    } catch (error) {
      if (isNotFound(error)) throw blobNotFound(digest);
      throw error;
    }
  }

  async info(digest: Digest): Promise<Info> {
    const file = await this.#file(digest);
    return { digest, size: file.size, createdAt: new Date(file.lastModified) };
  }

  async read(digest: Digest, range?: ReadRange): Promise<ReadableStream<Uint8Array>> {
    const file = await this.#file(digest);
    const { start, end } = clampRange(file.size, range, digest);
    return file.slice(start, end).stream();
  }

  async readBytes(digest: Digest, range?: ReadRange): Promise<Uint8Array> {
    const file = await this.#file(digest);
    const { start, end } = clampRange(file.size, range, digest);
    return new Uint8Array(await file.slice(start, end).arrayBuffer());
  }

  async writer(options: WriterOptions = {}): Promise<ContentWriter> {
    const name = crypto.randomUUID();
    const handle = await this.ingest.getFileHandle(name, { create: true });
    const sink = await openIngestSink(handle, this.syncAccess);
    return new OpfsWriter(this, name, handle, sink, this.hashers, options.expected);
  }

  /** Moves a finished ingest file into blobs/ (or drops it if that content is already there). */
  async adopt(handle: OpfsFile, name: string, digest: Digest): Promise<Info> {
    // OPFS refuses a move onto a destination another move is still writing: commits of one digest take turns.
    const previous = this.#adopting.get(digest) ?? Promise.resolve();
    const current = previous.catch(() => {}).then(() => this.#adopt(handle, name, digest));
    this.#adopting.set(digest, current);
    try {
      return await current;
    } finally {
      if (this.#adopting.get(digest) === current) this.#adopting.delete(digest);
    }
  }

  readonly #adopting = new Map<Digest, Promise<Info>>();

  async #adopt(handle: OpfsFile, name: string, digest: Digest): Promise<Info> {
    const directory = this.blobs[digestAlgorithm(digest)];
    const exists = () =>
      directory.getFileHandle(digestHex(digest)).then(
        () => true,
        (error: unknown) => {
          if (isNotFound(error)) return false;
          throw error;
        },
      );
    if (await exists()) {
      await this.discard(name);
    } else {
      try {
        await handle.move(directory, digestHex(digest));
      } catch (error) {
        // Another tab committed the same bytes first: theirs is as good as ours.
        if (!(await exists())) throw error;
        await this.discard(name);
      }
    }
    return this.info(digest);
  }

  async discard(name: string): Promise<void> {
    await this.ingest.removeEntry(name).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }

  list(): AsyncIterable<Info> {
    return listBlobFiles(
      (algorithm) => this.blobs[algorithm].keys(),
      (digest) => this.info(digest),
    );
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await this.blobs[digestAlgorithm(digest)].removeEntry(digestHex(digest));
    } catch (error) {
      if (isNotFound(error)) throw blobNotFound(digest);
      throw error;
    }
  }

  usage(): Promise<Usage> {
    return sumUsage(this.list());
  }
}

class OpfsWriter implements ContentWriter {
  #offset = 0;
  #closed = false;
  #hasher: StreamHasher;
  #algorithm: DigestAlgorithm;
  #digest: Promise<Digest> | undefined;

  constructor(
    private readonly store: OpfsContentStore,
    private readonly name: string,
    private readonly handle: OpfsFile,
    private readonly sink: IngestSink,
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
    const hashed = this.#hasher.update(bytes);
    this.#offset += bytes.byteLength;
    await this.sink.write(bytes);
    await hashed;
  }

  digest(): Promise<Digest> {
    this.#digest ??= this.#hasher.digest();
    return this.#digest;
  }

  async commit(expected: Expected): Promise<Info> {
    if (this.#closed) throw writerClosed();
    this.#closed = true;
    try {
      checkSameExpectation(this.expected, expected);
      if (digestAlgorithm(expected.digest) !== this.#algorithm) {
        throw new EngineError("invalidArgument", `open the writer with the expected ${expected.digest} to hash it`);
      }
      await checkWrite(this.#offset, expected, () => this.digest());
      await this.sink.close();
      return await this.store.adopt(this.handle, this.name, expected.digest);
    } catch (error) {
      await this.#discard();
      throw error;
    }
  }

  async abort(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#discard();
  }

  async #discard(): Promise<void> {
    this.#hasher.cancel();
    await this.sink.abort().catch(() => {});
    await this.store.discard(this.name);
  }
}

/** Metadata documents as files in OPFS; createWritable writes to a swap file that replaces the old one on close. */
export class OpfsMetadataStore implements MetadataStore {
  private constructor(private readonly directory: OpfsDirectory) {}

  static async open(root?: OpfsDirectory): Promise<OpfsMetadataStore> {
    const directory = root ?? (await (await engineDirectory()).getDirectoryHandle("metadata", { create: true }));
    return new OpfsMetadataStore(directory);
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    try {
      const file = await (await this.directory.getFileHandle(checkDocumentName(name))).getFile();
      return new Uint8Array(await file.arrayBuffer());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    const handle = await this.directory.getFileHandle(checkDocumentName(name), { create: true });
    const stream = await handle.createWritable();
    await stream.write(bytes);
    await stream.close();
  }

  async remove(name: string): Promise<void> {
    try {
      await this.directory.removeEntry(checkDocumentName(name));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
