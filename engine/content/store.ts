// The content store's interfaces, after containerd's: a Provider reads blobs by digest, an Ingester writes them,
// a Manager lists and deletes them. A blob becomes visible only when a writer commits it with the size and digest
// the caller expected and the bytes actually have, so nothing unverified is ever readable.
import { EngineError } from "../errors.ts";
import { type Digest, type DigestAlgorithm, tryParseDigest } from "../oci/index.ts";

/** What the store knows about a committed blob. */
export interface Info {
  digest: Digest;
  size: number;
  /** When it was committed (for `docker system df` style listings and garbage-collection grace periods). */
  createdAt: Date;
}

/** A byte range of a blob: `length` bytes from `offset`; without length, to the end. */
export interface ReadRange {
  offset?: number;
  length?: number;
}

export interface Provider {
  /** Size and commit time of a blob. Throws notFound. */
  info(digest: Digest): Promise<Info>;
  /** Streams a blob, or a range of it (the 9P server reads files this way). Throws notFound. */
  read(digest: Digest, range?: ReadRange): Promise<ReadableStream<Uint8Array>>;
  /** Reads a blob, or a range of it, into memory. Throws notFound. */
  readBytes(digest: Digest, range?: ReadRange): Promise<Uint8Array>;
}

/** What the caller expects to write, known up front: lets the writer stop early when too many bytes arrive. */
export interface Expected {
  digest: Digest;
  size: number;
}

export interface ContentWriter {
  /** Bytes written so far: where a resumed download continues. */
  readonly offset: number;
  write(bytes: Uint8Array): Promise<void>;
  /**
   * The digest of what was written. Writing ends here: for content whose digest is known only once it is all
   * written (a file inside a layer), which is then committed under it. Awaited: the hashing may be on another
   * thread.
   */
  digest(): Promise<Digest>;
  /**
   * Makes the blob visible under its digest, after checking that exactly `expected.size` bytes with digest
   * `expected.digest` were written. On a mismatch it throws dataLoss and leaves nothing behind. Committing content
   * that is already stored is not an error: the store keeps one copy.
   */
  commit(expected: Expected): Promise<Info>;
  /** Discards what was written. Safe to call after a failed commit, and twice. */
  abort(): Promise<void>;
}

export interface WriterOptions {
  /** The expected blob, when known before writing (always the case for registry downloads). */
  expected?: Expected;
}

export interface Ingester {
  writer(options?: WriterOptions): Promise<ContentWriter>;
}

export interface Usage {
  count: number;
  size: number;
}

export interface Manager {
  info(digest: Digest): Promise<Info>;
  list(): AsyncIterable<Info>;
  /** Removes a blob. Throws notFound when it is not there. */
  delete(digest: Digest): Promise<void>;
  /** How many blobs and bytes the store holds. */
  usage(): Promise<Usage>;
}

export interface ContentStore extends Provider, Ingester, Manager {}

/** The digest algorithms a store that keeps one file per blob has a folder for. */
export const BLOB_ALGORITHMS: readonly DigestAlgorithm[] = ["sha256", "sha512"];

/**
 * Lists a store that keeps one file per blob, named by the digest's hex in a folder per algorithm: names that are no
 * digest are skipped, and so are blobs deleted while the listing runs.
 */
export async function* listBlobFiles(
  names: (algorithm: DigestAlgorithm) => AsyncIterable<string> | Promise<Iterable<string>>,
  info: (digest: Digest) => Promise<Info>,
): AsyncIterable<Info> {
  for (const algorithm of BLOB_ALGORITHMS) {
    for await (const name of await names(algorithm)) {
      const digest = tryParseDigest(`${algorithm}:${name}`);
      if (digest === undefined) continue;
      try {
        yield await info(digest);
      } catch (error) {
        if (!(error instanceof EngineError && error.kind === "notFound")) throw error;
      }
    }
  }
}

/** Usage for stores that know it only by listing their blobs. */
export async function sumUsage(blobs: AsyncIterable<Info>): Promise<Usage> {
  const usage = { count: 0, size: 0 };
  for await (const info of blobs) {
    usage.count += 1;
    usage.size += info.size;
  }
  return usage;
}

export function blobNotFound(digest: Digest): EngineError {
  return new EngineError("notFound", `content ${digest} is not in the store`);
}

/** Whether a blob is in the store. */
export async function hasContent(provider: Pick<Provider, "info">, digest: Digest): Promise<boolean> {
  try {
    await provider.info(digest);
    return true;
  } catch (error) {
    if (error instanceof EngineError && error.kind === "notFound") return false;
    throw error;
  }
}

/** Writes bytes held in memory as one blob and commits it. */
export async function writeBlob(ingester: Ingester, bytes: Uint8Array, expected: Expected): Promise<Info> {
  const writer = await ingester.writer({ expected });
  try {
    await writer.write(bytes);
    return await writer.commit(expected);
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/** Resolves a range against a blob's size, refusing one that starts past the end. */
export function clampRange(size: number, range: ReadRange | undefined, digest: Digest): { start: number; end: number } {
  const start = range?.offset ?? 0;
  if (!Number.isSafeInteger(start) || start < 0 || start > size) {
    throw new EngineError("invalidArgument", `cannot read ${digest} from offset ${start}: it has ${size} bytes`);
  }
  const length = range?.length;
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new EngineError("invalidArgument", `cannot read ${length} bytes of ${digest}`);
  }
  return { start, end: length === undefined ? size : Math.min(size, start + length) };
}

/**
 * The checks every writer makes, in one place: too many bytes (fail as soon as they arrive), then size, then digest.
 * `actualDigest` is computed only when the size matches.
 */
export async function checkWrite(
  written: number,
  expected: Expected,
  actualDigest: () => Promise<Digest>,
): Promise<void> {
  if (written !== expected.size) {
    throw new EngineError(
      "dataLoss",
      `content ${expected.digest} should have ${expected.size} bytes but ${written} were written${written < expected.size ? " (truncated)" : ""}`,
    );
  }
  const actual = await actualDigest();
  if (actual !== expected.digest) {
    throw new EngineError("dataLoss", `content should have digest ${expected.digest} but has ${actual}`);
  }
}

export function checkNotTooLong(written: number, expected: Expected | undefined): void {
  if (expected !== undefined && written > expected.size) {
    throw new EngineError(
      "dataLoss",
      `content ${expected.digest} should have ${expected.size} bytes but more arrived (${written} so far)`,
    );
  }
}

export function checkSameExpectation(opened: Expected | undefined, committed: Expected): void {
  if (opened !== undefined && (opened.digest !== committed.digest || opened.size !== committed.size)) {
    throw new EngineError(
      "invalidArgument",
      `writer was opened for ${opened.digest} (${opened.size} bytes) but committed as ${committed.digest} (${committed.size} bytes)`,
    );
  }
}

export function writerClosed(): EngineError {
  return new EngineError("conflict", "this content writer was already committed or aborted");
}
