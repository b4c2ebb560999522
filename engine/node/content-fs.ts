// Content and metadata stores on the Node file system. Layout under the root directory: blobs/<algorithm>/<hex>
// for committed blobs, ingest/<random> for writes in progress (renamed into blobs/ on commit, which is atomic, so a
// blob appears whole or not at all), metadata/<name> for documents (replaced by rename too).
import { randomUUID } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  BLOB_ALGORITHMS,
  blobNotFound,
  type ContentStore,
  type ContentWriter,
  checkDocumentName,
  checkNotTooLong,
  checkSameExpectation,
  checkWrite,
  clampRange,
  type Expected,
  type Info,
  listBlobFiles,
  type MetadataStore,
  type ReadRange,
  sumUsage,
  type Usage,
  type WriterOptions,
  writerClosed,
} from "../content/index.ts";
import { EngineError } from "../errors.ts";
import {
  type Digest,
  type DigestAlgorithm,
  digestAlgorithm,
  digestHex,
  type Hasher,
  type HasherFactory,
} from "../oci/index.ts";
import { nodeHasherFactory } from "./hash.ts";

const STALE_INGEST_MS = 60 * 60 * 1000;
const READ_CHUNK = 256 * 1024;
const WRITE_BATCH = 1024 * 1024;

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

export interface FsContentStoreOptions {
  hashers?: HasherFactory;
}

export class FsContentStore implements ContentStore {
  private constructor(
    readonly root: string,
    private readonly hashers: HasherFactory,
  ) {}

  /**
   * Opens (creating if needed) a store in `root`, and removes writes a crashed process left behind.
   * @example
   * const store = await FsContentStore.open("/var/lib/drydock/content");
   */
  static async open(root: string, options: FsContentStoreOptions = {}): Promise<FsContentStore> {
    for (const algorithm of BLOB_ALGORITHMS) await mkdir(join(root, "blobs", algorithm), { recursive: true });
    const ingest = join(root, "ingest");
    await mkdir(ingest, { recursive: true });
    // Only old ones: a younger ingest file may belong to another process writing into the same store.
    const staleBefore = Date.now() - STALE_INGEST_MS;
    for (const name of await readdir(ingest)) {
      const path = join(ingest, name);
      const stats = await stat(path).catch(() => undefined);
      if (stats && stats.mtimeMs < staleBefore) await rm(path, { force: true });
    }
    return new FsContentStore(root, options.hashers ?? nodeHasherFactory);
  }

  blobPath(digest: Digest): string {
    return join(this.root, "blobs", digestAlgorithm(digest), digestHex(digest));
  }

  async info(digest: Digest): Promise<Info> {
    try {
      const stats = await stat(this.blobPath(digest));
      return { digest, size: stats.size, createdAt: stats.mtime };
    } catch (error) {
      if (isErrno(error, "ENOENT")) throw blobNotFound(digest);
      throw error;
    }
  }

  async #open(digest: Digest): Promise<FileHandle> {
    try {
      return await open(this.blobPath(digest), "r");
    } catch (error) {
      if (isErrno(error, "ENOENT")) throw blobNotFound(digest);
      throw error;
    }
  }

  async readBytes(digest: Digest, range?: ReadRange): Promise<Uint8Array> {
    const handle = await this.#open(digest);
    try {
      const { size } = await handle.stat();
      const { start, end } = clampRange(size, range, digest);
      const bytes = new Uint8Array(end - start);
      let filled = 0;
      while (filled < bytes.byteLength) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.byteLength - filled, start + filled);
        if (bytesRead === 0) throw new EngineError("dataLoss", `content ${digest} shrank while it was read`);
        filled += bytesRead;
      }
      return bytes;
    } finally {
      await handle.close();
    }
  }

  async read(digest: Digest, range?: ReadRange): Promise<ReadableStream<Uint8Array>> {
    const handle = await this.#open(digest);
    let position: number;
    let end: number;
    try {
      const { size } = await handle.stat();
      ({ start: position, end } = clampRange(size, range, digest));
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          if (position >= end) {
            await handle.close();
            controller.close();
            return;
          }
          const chunk = new Uint8Array(Math.min(READ_CHUNK, end - position));
          const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, position);
          if (bytesRead === 0) throw new EngineError("dataLoss", `content ${digest} shrank while it was read`);
          position += bytesRead;
          controller.enqueue(chunk.subarray(0, bytesRead));
        } catch (error) {
          await handle.close().catch(() => {});
          controller.error(error);
        }
      },
      async cancel() {
        await handle.close();
      },
    });
  }

  async writer(options: WriterOptions = {}): Promise<ContentWriter> {
    const path = join(this.root, "ingest", randomUUID());
    const handle = await open(path, "wx");
    const algorithm = options.expected ? digestAlgorithm(options.expected.digest) : "sha256";
    return new FsWriter(this, path, handle, algorithm, this.hashers(algorithm), options.expected);
  }

  list(): AsyncIterable<Info> {
    return listBlobFiles(
      (algorithm) => readdir(join(this.root, "blobs", algorithm)),
      (digest) => this.info(digest),
    );
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await rm(this.blobPath(digest));
    } catch (error) {
      if (isErrno(error, "ENOENT")) throw blobNotFound(digest);
      throw error;
    }
  }

  usage(): Promise<Usage> {
    return sumUsage(this.list());
  }
}

class FsWriter implements ContentWriter {
  #offset = 0;
  #closed = false;
  #digest: Digest | undefined;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  constructor(
    private readonly store: FsContentStore,
    private readonly path: string,
    private readonly handle: FileHandle,
    private readonly algorithm: DigestAlgorithm,
    private readonly hasher: Hasher,
    private readonly expected: Expected | undefined,
  ) {}

  get offset(): number {
    return this.#offset;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#closed || this.#digest !== undefined) throw writerClosed();
    checkNotTooLong(this.#offset + bytes.byteLength, this.expected);
    this.hasher.update(bytes);
    this.#offset += bytes.byteLength;
    // Streams hand over chunks of a few KiB; gathering them into one write per MiB saves most system calls.
    // Copied, because the stream may reuse the buffer it handed us.
    this.#pending.push(bytes.slice());
    this.#pendingBytes += bytes.byteLength;
    if (this.#pendingBytes >= WRITE_BATCH) await this.#flush();
  }

  async #flush(): Promise<void> {
    const buffers = this.#pending;
    let remaining = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    while (remaining > 0) {
      const { bytesWritten } = await this.handle.writev(buffers);
      remaining -= bytesWritten;
      // A short writev (rare) leaves the rest: drop what was written and go again.
      let skip = bytesWritten;
      while (skip > 0 && buffers.length > 0) {
        const first = buffers[0]!;
        if (first.byteLength <= skip) {
          skip -= first.byteLength;
          buffers.shift();
        } else {
          buffers[0] = first.subarray(skip);
          skip = 0;
        }
      }
    }
  }

  async digest(): Promise<Digest> {
    this.#digest ??= this.hasher.digest();
    return this.#digest;
  }

  async commit(expected: Expected): Promise<Info> {
    if (this.#closed) throw writerClosed();
    this.#closed = true;
    try {
      checkSameExpectation(this.expected, expected);
      if (digestAlgorithm(expected.digest) !== this.algorithm) {
        throw new EngineError("invalidArgument", `open the writer with the expected ${expected.digest} to hash it`);
      }
      await checkWrite(this.#offset, expected, () => this.digest());
      await this.#flush();
      await this.handle.close();
      // Renaming over an existing blob is fine: it has the same bytes, and rename is atomic for readers.
      await rename(this.path, this.store.blobPath(expected.digest));
      return await this.store.info(expected.digest);
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
    await this.handle.close().catch(() => {});
    await rm(this.path, { force: true });
  }
}

/** Metadata documents as files; each write goes to a temporary file first and is renamed into place. */
export class FsMetadataStore implements MetadataStore {
  private constructor(private readonly directory: string) {}

  static async open(directory: string): Promise<FsMetadataStore> {
    await mkdir(directory, { recursive: true });
    return new FsMetadataStore(directory);
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    const handle = await open(join(this.directory, checkDocumentName(name)), "r").catch((error: unknown) => {
      if (isErrno(error, "ENOENT")) return undefined;
      throw error;
    });
    if (handle === undefined) return undefined;
    try {
      return new Uint8Array(await handle.readFile());
    } finally {
      await handle.close();
    }
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    const path = join(this.directory, checkDocumentName(name));
    const temporary = `${path}.${randomUUID()}.tmp`;
    try {
      await writeFile(temporary, bytes);
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.directory, checkDocumentName(name)), { force: true });
  }
}
