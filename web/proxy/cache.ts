// The proxy's content-addressed cache: blobs and manifests by digest, so a classroom pulling the same image fetches
// each layer from upstream once. Like containerd's content store, a write becomes visible only when `commit()` has
// checked the bytes against the digest they were requested by, so nothing unverified is ever served. Storage is
// pluggable: `MemoryBlobCache` here (any runtime), `FsBlobCache` in cache-fs.ts (Node).

/** What the cache knows about one stored blob. */
export interface CachedBlobInfo {
  readonly digest: string;
  readonly size: number;
  /** The Content-Type it was served with; manifests need it to be served again. */
  readonly mediaType?: string;
}

/** An inclusive byte range, as in `Range: bytes=start-end`. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface CachedBlob {
  readonly info: CachedBlobInfo;
  /** The blob's bytes, or only those of the requested range. */
  readonly body: ReadableStream<Uint8Array>;
}

export interface BlobWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the blob visible if its bytes match the expected digest (and size, when given); otherwise throws. */
  commit(): Promise<void>;
  /** Discards what was written. */
  abort(): Promise<void>;
}

export interface IngestRequest {
  readonly digest: string;
  readonly size?: number;
  readonly mediaType?: string;
}

/** A size-bounded, content-addressed store of blobs. */
export interface BlobCache {
  stat(digest: string): Promise<CachedBlobInfo | undefined>;
  /** Opens a blob for reading, and counts as a use for eviction. */
  open(digest: string, range?: ByteRange): Promise<CachedBlob | undefined>;
  /** Starts writing a blob, or answers undefined when it will not be cached (too large, unsupported digest). */
  ingest(request: IngestRequest): Promise<BlobWriter | undefined>;
  /**
   * `bytes` stored and `count` blobs; `reservedBytes` held by fills in progress, which count against the size bound
   * like stored blobs do (so `bytes + reservedBytes` never exceeds it).
   */
  usage(): Promise<{ readonly bytes: number; readonly count: number; readonly reservedBytes: number }>;
}

/** What a fill's write fails with when the cache has no room left for it (other fills hold the rest). */
export class CacheFullError extends Error {
  constructor(bytes: number) {
    super(`no room in the cache for ${bytes} more bytes: fills in progress hold the rest`);
    this.name = "CacheFullError";
  }
}

/** Thrown by `commit()` when the bytes written are not the blob that was asked for. */
export class DigestMismatchError extends Error {
  constructor(expected: string, actual: string) {
    super(`digest mismatch: expected ${expected}, got ${actual}`);
    this.name = "DigestMismatchError";
  }
}

const ALGORITHMS = {
  sha256: { webCrypto: "SHA-256", hexLength: 64 },
  sha512: { webCrypto: "SHA-512", hexLength: 128 },
};

export type DigestAlgorithm = keyof typeof ALGORITHMS;

/** Splits a digest the cache can verify into its algorithm and hex; undefined for anything else. */
export function parseDigest(digest: string): { algorithm: DigestAlgorithm; hex: string } | undefined {
  const m = /^(sha256|sha512):([0-9a-f]+)$/.exec(digest);
  if (!m) return undefined;
  const algorithm = m[1] as DigestAlgorithm;
  return m[2]!.length === ALGORITHMS[algorithm].hexLength ? { algorithm, hex: m[2]! } : undefined;
}

export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** The digest of `bytes` with WebCrypto, available in browsers, Node and edge runtimes alike. */
export async function digestOf(bytes: Uint8Array<ArrayBuffer>, algorithm: DigestAlgorithm): Promise<string> {
  const hash = await crypto.subtle.digest(ALGORITHMS[algorithm].webCrypto, bytes);
  return `${algorithm}:${toHex(new Uint8Array(hash))}`;
}

/**
 * Parses a `Range` header against a blob of `size` bytes. Only a single range is honoured; several ranges give
 * undefined and the whole blob is served, which RFC 9110 allows.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

export interface MemoryBlobCacheOptions {
  /** Total bytes kept; least recently used blobs are evicted beyond it. Default 512 MiB. */
  readonly maxBytes?: number;
  /** Largest single blob kept. Default a quarter of `maxBytes`. */
  readonly maxEntryBytes?: number;
  /**
   * An incremental hash, so blobs are digested as their bytes arrive instead of all at once at commit (node.ts passes
   * node:crypto's). Default: WebCrypto at commit, which every runtime has but which copies the whole blob once more.
   */
  readonly createHash?: (algorithm: DigestAlgorithm) => IncrementalHash;
}

/** A hash fed chunk by chunk, such as node:crypto's `createHash`. */
export interface IncrementalHash {
  update(chunk: Uint8Array): void;
  /** The digest's lowercase hex. */
  digest(): string;
}

interface MemoryEntry {
  readonly info: CachedBlobInfo;
  readonly bytes: Uint8Array;
}

/** Blobs in memory, evicted least recently used first. Works in every runtime; lost on restart. */
export class MemoryBlobCache implements BlobCache {
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  readonly #createHash: ((algorithm: DigestAlgorithm) => IncrementalHash) | undefined;
  // A Map iterates in insertion order; re-inserting on every use keeps the least recently used entry first.
  readonly #entries = new Map<string, MemoryEntry>();
  #bytes = 0;
  #reserved = 0;

  constructor(options: MemoryBlobCacheOptions = {}) {
    this.maxBytes = options.maxBytes ?? 512 * 1024 * 1024;
    this.maxEntryBytes = Math.min(options.maxEntryBytes ?? Math.floor(this.maxBytes / 4), this.maxBytes);
    this.#createHash = options.createHash;
  }

  async stat(digest: string): Promise<CachedBlobInfo | undefined> {
    return this.#entries.get(digest)?.info;
  }

  async open(digest: string, range?: ByteRange): Promise<CachedBlob | undefined> {
    const entry = this.#entries.get(digest);
    if (!entry) return undefined;
    this.#entries.delete(digest);
    this.#entries.set(digest, entry);
    const bytes = range ? entry.bytes.subarray(range.start, range.end + 1) : entry.bytes;
    return { info: entry.info, body: chunkedStream(bytes) };
  }

  async ingest(request: IngestRequest): Promise<BlobWriter | undefined> {
    const parsed = parseDigest(request.digest);
    if (!parsed || (request.size ?? 0) > this.maxEntryBytes) return undefined;
    // A fill of known size holds its room from the start (its buffer is allocated at once); one of unknown size
    // claims room as its bytes come.
    let reservation = 0;
    const reserve = (bytes: number): boolean => {
      if (!this.#makeRoom(bytes)) return false;
      this.#reserved += bytes;
      reservation += bytes;
      return true;
    };
    const release = () => {
      this.#reserved -= reservation;
      reservation = 0;
    };
    if (request.size !== undefined && !reserve(request.size)) return undefined;
    let full = false;
    // The bytes go straight into one buffer, allocated at the announced size (or grown by doubling when no size was
    // announced), so a fill costs one copy of each chunk and no concatenation at the end.
    let buffer = new Uint8Array(Math.min(request.size ?? INITIAL_CAPACITY, this.maxEntryBytes));
    const hash = this.#createHash?.(parsed.algorithm);
    let written = 0;
    let done = false;
    return {
      write: async (chunk) => {
        if (done) throw new Error("write after commit or abort");
        const end = written + chunk.byteLength;
        written = end;
        // Past either limit the bytes are dropped at once rather than held until commit fails. Chunks are copied
        // because a caller may reuse its buffer once write() resolves.
        if (end > this.maxEntryBytes || (request.size !== undefined && end > request.size) || full) {
          buffer = EMPTY;
          return;
        }
        if (request.size === undefined && !reserve(chunk.byteLength)) {
          full = true;
          buffer = EMPTY;
          release();
          throw new CacheFullError(chunk.byteLength);
        }
        if (end > buffer.byteLength) {
          const grown = new Uint8Array(Math.min(Math.max(end, buffer.byteLength * 2), this.maxEntryBytes));
          grown.set(buffer.subarray(0, end - chunk.byteLength));
          buffer = grown;
        }
        buffer.set(chunk, end - chunk.byteLength);
        hash?.update(chunk);
      },
      commit: async () => {
        if (done) throw new Error("commit after commit or abort");
        done = true;
        release();
        if (full) throw new CacheFullError(0);
        if (written > this.maxEntryBytes) throw new Error(`blob of ${written} bytes is larger than the cache allows`);
        if (request.size !== undefined && written !== request.size) {
          throw new Error(`size mismatch: expected ${request.size} bytes, got ${written}`);
        }
        // Kept at its exact length: a grown buffer's spare capacity would be memory the size bound does not count.
        const bytes = written === buffer.byteLength ? buffer : buffer.slice(0, written);
        buffer = EMPTY;
        const actual = hash ? `${parsed.algorithm}:${hash.digest()}` : await digestOf(bytes, parsed.algorithm);
        if (actual !== request.digest) throw new DigestMismatchError(request.digest, actual);
        if (this.#entries.has(request.digest)) return;
        const info: CachedBlobInfo =
          request.mediaType === undefined
            ? { digest: request.digest, size: written }
            : { digest: request.digest, size: written, mediaType: request.mediaType };
        this.#entries.set(request.digest, { info, bytes });
        this.#bytes += written;
        this.#evict();
      },
      abort: async () => {
        done = true;
        buffer = EMPTY;
        release();
      },
    };
  }

  async usage(): Promise<{ bytes: number; count: number; reservedBytes: number }> {
    return { bytes: this.#bytes, count: this.#entries.size, reservedBytes: this.#reserved };
  }

  /** Evicts until `extra` more bytes fit beside what is stored and reserved; false when even an empty store cannot. */
  #makeRoom(extra: number): boolean {
    if (this.#reserved + extra > this.maxBytes) return false;
    for (const [digest, entry] of this.#entries) {
      if (this.#bytes + this.#reserved + extra <= this.maxBytes) break;
      this.#entries.delete(digest);
      this.#bytes -= entry.info.size;
    }
    return true;
  }

  #evict(): void {
    this.#makeRoom(0);
  }
}

/** Where a fill of unknown size starts; it doubles from there. */
const INITIAL_CAPACITY = 64 * 1024;
const EMPTY = new Uint8Array(0);

// Enqueueing a whole layer as one chunk would hand the HTTP layer one huge write; 256 KiB slices keep backpressure.
function chunkedStream(bytes: Uint8Array, chunkSize = 256 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}
