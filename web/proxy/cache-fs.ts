// A BlobCache in a directory, for the proxy under Node: it survives restarts, so a classroom server warmed the day
// before starts with every layer already local. Node-only (node:fs, node:crypto); edge deployments use the memory
// cache or write their own BlobCache over the platform's storage.
//
// Layout: `<dir>/blobs/<algorithm>/<hex>` holds the bytes and `<hex>.json` the metadata; `<dir>/ingest/` holds writes
// in progress. The data file is renamed into place before the metadata, and the metadata is what makes a blob
// visible, so a crash never exposes a partial or unverified blob.

import { createHash } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type BlobCache,
  type BlobWriter,
  type ByteRange,
  type CachedBlob,
  type CachedBlobInfo,
  CacheFullError,
  DigestMismatchError,
  type IngestRequest,
  parseDigest,
} from "./cache.ts";

export interface FsBlobCacheOptions {
  readonly dir: string;
  /** Total bytes kept; least recently used blobs are deleted beyond it. Default 10 GiB. */
  readonly maxBytes?: number;
  /** Largest single blob kept. Default a quarter of `maxBytes`. */
  readonly maxEntryBytes?: number;
}

const READ_CHUNK = 256 * 1024;
/** Bytes gathered before each write to the ingest file. */
const WRITE_BATCH = 1024 * 1024;

export class FsBlobCache implements BlobCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  // Recency order, least recently used first, rebuilt from file times at startup.
  readonly #index = new Map<string, CachedBlobInfo>();
  #bytes = 0;
  /** Bytes held by fills in progress: they count against `maxBytes` like stored blobs. */
  #reserved = 0;
  #ingestSeq = 0;
  readonly #ready: Promise<void>;

  constructor(options: FsBlobCacheOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? 10 * 1024 * 1024 * 1024;
    this.maxEntryBytes = Math.min(options.maxEntryBytes ?? Math.floor(this.maxBytes / 4), this.maxBytes);
    this.#ready = this.#load();
  }

  /** Resolves once the existing contents have been indexed (every method waits for it too). */
  ready(): Promise<void> {
    return this.#ready;
  }

  async #load(): Promise<void> {
    // Writes interrupted by a previous crash are never resumed.
    await rm(join(this.dir, "ingest"), { recursive: true, force: true });
    await mkdir(join(this.dir, "ingest"), { recursive: true });
    const found: Array<{ info: CachedBlobInfo; mtime: number }> = [];
    for (const algorithm of ["sha256", "sha512"]) {
      const dir = join(this.dir, "blobs", algorithm);
      await mkdir(dir, { recursive: true });
      for (const file of await readdir(dir)) {
        if (!file.endsWith(".json")) continue;
        const metaPath = join(dir, file);
        try {
          const info: unknown = JSON.parse(await readFile(metaPath, "utf8"));
          const hex = file.slice(0, -".json".length);
          const data = await stat(join(dir, hex));
          if (!isInfo(info) || info.digest !== `${algorithm}:${hex}` || data.size !== info.size) continue;
          found.push({ info, mtime: (await stat(metaPath)).mtimeMs });
        } catch {
          // An unreadable entry is simply not in the cache; the next fill of that digest replaces it.
        }
      }
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const { info } of found) {
      this.#index.set(info.digest, info);
      this.#bytes += info.size;
    }
    await this.#evict();
  }

  #paths(digest: string): { data: string; meta: string } | undefined {
    const parsed = parseDigest(digest);
    if (!parsed) return undefined;
    const data = join(this.dir, "blobs", parsed.algorithm, parsed.hex);
    return { data, meta: `${data}.json` };
  }

  async stat(digest: string): Promise<CachedBlobInfo | undefined> {
    await this.#ready;
    return this.#index.get(digest);
  }

  async open(digest: string, range?: ByteRange): Promise<CachedBlob | undefined> {
    await this.#ready;
    const info = this.#index.get(digest);
    const paths = this.#paths(digest);
    if (!info || !paths) return undefined;
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(paths.data, "r");
    } catch {
      this.#forget(digest);
      return undefined;
    }
    this.#index.delete(digest);
    this.#index.set(digest, info);
    // Recency survives a restart through the metadata file's mtime; failing to update it only costs LRU accuracy.
    const now = new Date();
    utimes(paths.meta, now, now).catch(() => {});
    // The open descriptor keeps the bytes readable even if eviction unlinks the file meanwhile.
    let position = range?.start ?? 0;
    const end = (range?.end ?? info.size - 1) + 1;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const length = Math.min(READ_CHUNK, end - position);
        if (length <= 0) {
          await handle.close();
          controller.close();
          return;
        }
        const { bytesRead, buffer } = await handle.read(new Uint8Array(length), 0, length, position);
        if (bytesRead === 0) {
          await handle.close();
          controller.error(new Error(`cached blob ${digest} is shorter than recorded`));
          return;
        }
        position += bytesRead;
        controller.enqueue(buffer.subarray(0, bytesRead));
      },
      async cancel() {
        await handle.close();
      },
    });
    return { info, body };
  }

  async ingest(request: IngestRequest): Promise<BlobWriter | undefined> {
    await this.#ready;
    const parsed = parseDigest(request.digest);
    const paths = this.#paths(request.digest);
    if (!parsed || !paths || (request.size ?? 0) > this.maxEntryBytes) return undefined;
    let reservation = 0;
    const reserve = async (bytes: number): Promise<boolean> => {
      if (!(await this.#reserve(bytes))) return false;
      reservation += bytes;
      return true;
    };
    const release = () => {
      this.#reserved -= reservation;
      reservation = 0;
    };
    if (request.size !== undefined && !(await reserve(request.size))) return undefined;
    let full = false;
    const tmp = join(this.dir, "ingest", `${parsed.hex}.${process.pid}.${++this.#ingestSeq}`);
    const file = await open(tmp, "w");
    const hash = createHash(parsed.algorithm);
    const batch = new Uint8Array(Math.min(WRITE_BATCH, Math.max(request.size ?? WRITE_BATCH, 64 * 1024)));
    let batched = 0;
    const flush = async () => {
      if (batched > 0) await file.write(batch, 0, batched);
      batched = 0;
    };
    let written = 0;
    let done = false;
    const discard = async () => {
      done = true;
      release();
      await file.close().catch(() => {});
      await rm(tmp, { force: true });
    };
    return {
      write: async (chunk) => {
        if (done) throw new Error("write after commit or abort");
        written += chunk.byteLength;
        // Commit will refuse these; stop spending disk on them.
        if (written > this.maxEntryBytes || (request.size !== undefined && written > request.size) || full) return;
        if (request.size === undefined && !(await reserve(chunk.byteLength))) {
          full = true;
          throw new CacheFullError(chunk.byteLength);
        }
        hash.update(chunk);
        // Network chunks are small (16-64 KiB); gathering them saves a system call and a thread-pool trip each.
        let offset = 0;
        while (offset < chunk.byteLength) {
          const n = Math.min(chunk.byteLength - offset, batch.byteLength - batched);
          batch.set(chunk.subarray(offset, offset + n), batched);
          batched += n;
          offset += n;
          if (batched === batch.byteLength) await flush();
        }
      },
      commit: async () => {
        if (done) throw new Error("commit after commit or abort");
        try {
          if (full) throw new CacheFullError(0);
          if (written > this.maxEntryBytes) throw new Error(`blob of ${written} bytes is larger than the cache allows`);
          if (request.size !== undefined && written !== request.size) {
            throw new Error(`size mismatch: expected ${request.size} bytes, got ${written}`);
          }
          const actual = `${parsed.algorithm}:${hash.digest("hex")}`;
          if (actual !== request.digest) throw new DigestMismatchError(request.digest, actual);
          await flush();
          await file.close();
          done = true;
          release();
          if (this.#index.has(request.digest)) {
            await rm(tmp, { force: true });
            return;
          }
          const info: CachedBlobInfo =
            request.mediaType === undefined
              ? { digest: request.digest, size: written }
              : { digest: request.digest, size: written, mediaType: request.mediaType };
          await rename(tmp, paths.data);
          await writeFile(`${tmp}.json`, JSON.stringify(info));
          await rename(`${tmp}.json`, paths.meta);
          this.#index.set(request.digest, info);
          this.#bytes += written;
          await this.#evict();
        } catch (error) {
          await discard();
          throw error;
        }
      },
      abort: discard,
    };
  }

  async usage(): Promise<{ bytes: number; count: number; reservedBytes: number }> {
    await this.#ready;
    return { bytes: this.#bytes, count: this.#index.size, reservedBytes: this.#reserved };
  }

  /** Claims `bytes` for a fill, evicting stored blobs for room; false when fills in progress already hold too much. */
  async #reserve(bytes: number): Promise<boolean> {
    if (this.#reserved + bytes > this.maxBytes) return false;
    this.#reserved += bytes;
    await this.#evict();
    return true;
  }

  #forget(digest: string): void {
    const info = this.#index.get(digest);
    if (!info) return;
    this.#index.delete(digest);
    this.#bytes -= info.size;
  }

  async #evict(): Promise<void> {
    for (const digest of [...this.#index.keys()]) {
      if (this.#bytes + this.#reserved <= this.maxBytes) break;
      const paths = this.#paths(digest)!;
      this.#forget(digest);
      // Metadata first: once it is gone the blob is invisible, whatever happens to the data file.
      await rm(paths.meta, { force: true });
      await rm(paths.data, { force: true });
    }
  }
}

function isInfo(value: unknown): value is CachedBlobInfo {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.digest === "string" &&
    typeof v.size === "number" &&
    (v.mediaType === undefined || typeof v.mediaType === "string")
  );
}
