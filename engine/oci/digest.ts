// Digests as the OCI image spec defines them: `algorithm:encoded`. A Digest is a string that has been parsed, so
// code that holds one knows the algorithm is one the engine can verify and the hex has the right length.
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { EngineError } from "../errors.ts";

declare const digestBrand: unique symbol;

/** A validated `algorithm:hex` string, e.g. `sha256:2cf2…`. Create one with {@link parseDigest}. */
export type Digest = string & { readonly [digestBrand]: true };

export type DigestAlgorithm = "sha256" | "sha512";

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

// The spec's grammar: algorithm-component ([+._-] algorithm-component)* ":" [a-zA-Z0-9=_-]+
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Parses a digest, or returns undefined when the text is not a digest the engine can verify. */
export function tryParseDigest(text: string): Digest | undefined {
  if (!DIGEST_GRAMMAR.test(text)) return undefined;
  const colon = text.indexOf(":");
  const algorithm = text.slice(0, colon);
  const encoded = text.slice(colon + 1);
  if (algorithm !== "sha256" && algorithm !== "sha512") return undefined;
  if (encoded.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(encoded)) return undefined;
  return text as Digest;
}

/**
 * Parses a digest. Throws invalidArgument when it is malformed or uses an algorithm the engine cannot verify.
 * @example
 * const digest = parseDigest("sha256:" + "a".repeat(64));
 */
export function parseDigest(text: string, what = "digest"): Digest {
  const digest = tryParseDigest(text);
  if (digest !== undefined) return digest;
  const algorithm = text.includes(":") ? text.slice(0, text.indexOf(":")) : "";
  if (DIGEST_GRAMMAR.test(text) && algorithm !== "sha256" && algorithm !== "sha512") {
    throw new EngineError(
      "invalidArgument",
      `${what} "${text}" uses algorithm "${algorithm}"; only sha256 and sha512 are supported`,
    );
  }
  throw new EngineError(
    "invalidArgument",
    `${what} "${text}" is not a valid digest: expected sha256:<64 lowercase hex digits> or sha512:<128 lowercase hex digits>`,
  );
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(":")) as DigestAlgorithm;
}

/** The hex part of a digest: what Docker shows as an image ID, and what a store uses as a file name. */
export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(":") + 1);
}

/** Docker's short form: the first 12 hex digits. */
export function shortDigest(digest: Digest): string {
  return digestHex(digest).slice(0, 12);
}

/** An incremental hash: feed it bytes as they arrive, read the digest at the end. */
export interface Hasher {
  update(bytes: Uint8Array): void;
  digest(): Digest;
}

/**
 * A hasher for a long stream (a blob as it is written, a layer's tar as it is unpacked) whose work may be done on
 * another thread: `update` may ask the caller to wait (the other thread is behind), and the digest is awaited.
 */
export interface StreamHasher {
  update(bytes: Uint8Array): void | Promise<void>;
  digest(): Promise<Digest>;
  /** Drops what was hashed, when the stream is abandoned before its digest. */
  cancel(): void;
}

/**
 * Makes hashers. The default is pure TypeScript (works in a Web Worker, whose WebCrypto has no streaming digest);
 * Node passes one backed by node:crypto, which is an order of magnitude faster. A factory may also make
 * {@link StreamHasher}s (`stream`) that hash somewhere else than the caller's thread: a hashing worker in the page.
 */
export type HasherFactory = ((algorithm: DigestAlgorithm) => Hasher) & {
  stream?: (algorithm: DigestAlgorithm) => StreamHasher;
};

/**
 * A stream hasher from a factory: its own `stream` where it has one, else its plain hasher on this thread.
 * @example
 * const hasher = streamHasher(hashers, "sha256");
 * await hasher.update(bytes);
 * const digest = await hasher.digest();
 */
export function streamHasher(hashers: HasherFactory, algorithm: DigestAlgorithm): StreamHasher {
  if (hashers.stream) return hashers.stream(algorithm);
  const hasher = hashers(algorithm);
  return {
    update: (bytes) => hasher.update(bytes),
    digest: async () => hasher.digest(),
    cancel() {},
  };
}

export const defaultHasherFactory: HasherFactory = (algorithm) => {
  const state = algorithm === "sha256" ? sha256.create() : sha512.create();
  return {
    update(bytes) {
      state.update(bytes);
    },
    digest() {
      return `${algorithm}:${bytesToHex(state.digest())}` as Digest;
    },
  };
};

/** The digest of bytes held in memory. */
export function digestOf(
  bytes: Uint8Array,
  algorithm: DigestAlgorithm = "sha256",
  hashers: HasherFactory = defaultHasherFactory,
): Digest {
  const hasher = hashers(algorithm);
  hasher.update(bytes);
  return hasher.digest();
}

/**
 * Checks bytes against the digest (and size) a descriptor promised. Throws dataLoss when they differ: the bytes
 * were damaged or are not the content that was asked for.
 */
export function verifyBytes(
  bytes: Uint8Array,
  expected: { digest: Digest; size?: number },
  what = "content",
  hashers?: HasherFactory,
): void {
  if (expected.size !== undefined && bytes.byteLength !== expected.size) {
    throw new EngineError(
      "dataLoss",
      `${what} ${expected.digest} has ${bytes.byteLength} bytes, but ${expected.size} were expected`,
    );
  }
  const actual = digestOf(bytes, digestAlgorithm(expected.digest), hashers);
  if (actual !== expected.digest) {
    throw new EngineError("dataLoss", `${what} should have digest ${expected.digest} but has ${actual}`);
  }
}
