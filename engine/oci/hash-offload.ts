// SHA-2 of long streams on a second thread. A pull in the page does everything on the engine's worker: read the
// blob, hash it, gunzip it, hash the tar, parse it, hash and write every file. The three hashes are most of that
// work, and each is independent of the rest until its digest is asked for, so the engine sends the bytes to a
// hashing worker in batches and awaits only the digests: hashing runs on the other core while this one inflates and
// writes. Nothing is checked less: a digest is still computed over every byte, and a writer still compares it with
// the one expected before it commits anything.
//
// The engine side ({@link offloadHashing}) makes a HasherFactory whose `stream` hashers gather bytes into batches
// (copies: the caller's buffers go on to the store and the decompressor) and transfer each batch to the worker. A
// stream that ends before its first batch is full is hashed here: for a small file a round trip costs more than the
// hash. The worker side ({@link serveHashing}) keeps a hasher per stream, acknowledges each batch, and answers each
// digest; the engine waits in `update` while more than a window of bytes is sent and not yet hashed.
import { EngineError } from "../errors.ts";
import type { Digest, DigestAlgorithm, Hasher, HasherFactory, StreamHasher } from "./digest.ts";

/** What each side needs of the other's end: a Worker, the worker's global scope, or a MessagePort, adapted. */
export interface HashPort {
  postMessage(message: HashMessage, transfer: ArrayBuffer[]): void;
  onMessage(listener: (message: unknown) => void): void;
  /** The other side failed (the engine's side: the worker could not start, or threw). */
  onError?(listener: (error: Error) => void): void;
}

/** Engine → worker. */
type HashRequest =
  | { kind: "update"; id: number; algorithm: DigestAlgorithm; bytes: Uint8Array }
  | { kind: "digest"; id: number }
  | { kind: "cancel"; id: number };

/** Worker → engine. */
type HashAnswer =
  | { kind: "hashed"; bytes: number }
  | { kind: "digest"; id: number; digest: Digest }
  | { kind: "error"; id: number; message: string };

export type HashMessage = HashRequest | HashAnswer;

export interface OffloadOptions {
  /**
   * Bytes gathered before they are sent (default 1 MiB). A stream that ends with fewer is hashed on this thread.
   */
  batchBytes?: number;
  /** Bytes sent and not yet hashed beyond which `update` makes its caller wait (default 16 MiB). */
  windowBytes?: number;
}

function hashingStopped(why: Error): EngineError {
  return new EngineError("unavailable", `the hashing worker stopped: ${why.message}`, { cause: why });
}

/**
 * A HasherFactory whose plain hashers are `local`'s and whose stream hashers hash in the worker `connect` starts
 * (at the first stream long enough to need it). Where the worker cannot start, streams are hashed here; a stream
 * whose bytes were in a worker that failed gives an error at its digest, never a digest.
 * @example
 * const hashers = offloadHashing(() => adapt(new Worker(url, { type: "module" })), await loadWasmHashers());
 */
export function offloadHashing(
  connect: () => HashPort,
  local: HasherFactory,
  options: OffloadOptions = {},
): HasherFactory {
  const batchBytes = Math.max(1, options.batchBytes ?? 1 << 20);
  const windowBytes = Math.max(batchBytes, options.windowBytes ?? 16 << 20);
  let port: HashPort | undefined;
  let failure: EngineError | undefined;
  let nextId = 1;
  let inFlight = 0;
  let waiting: (() => void)[] = [];
  const answers = new Map<number, { resolve(digest: Digest): void; reject(error: Error): void }>();

  const release = () => {
    const ready = waiting;
    waiting = [];
    for (const resume of ready) resume();
  };
  const fail = (error: Error) => {
    failure ??= hashingStopped(error);
    for (const answer of answers.values()) answer.reject(failure);
    answers.clear();
    inFlight = 0;
    release();
  };
  const onAnswer = (message: unknown) => {
    const answer = message as HashAnswer;
    if (answer.kind === "hashed") {
      inFlight -= answer.bytes;
      if (inFlight <= windowBytes / 2) release();
      return;
    }
    const pending = answers.get(answer.id);
    answers.delete(answer.id);
    if (answer.kind === "digest") pending?.resolve(answer.digest);
    else pending?.reject(new EngineError("internal", `the hashing worker failed: ${answer.message}`));
  };
  /** The worker's port, started at the first need; undefined once it failed (or could not start). */
  const connected = (): HashPort | undefined => {
    if (failure) return undefined;
    if (!port) {
      try {
        port = connect();
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
        return undefined;
      }
      port.onMessage(onAnswer);
      port.onError?.(fail);
    }
    return port;
  };

  const stream = (algorithm: DigestAlgorithm): StreamHasher => {
    /** Set when the stream's first batch goes to the worker. */
    let id: number | undefined;
    /** The stream's own failure: its bytes were in a worker that stopped. */
    let lost: EngineError | undefined;
    /** Hashing here: the worker could not be reached when the first batch was ready. */
    let inline: Hasher | undefined;
    /** Before the first batch: copies of what arrived, hashed here if the stream ends first. */
    let early: Uint8Array[] = [];
    let batch: Uint8Array | undefined;
    let used = 0;
    let finished = false;

    const send = (bytes: Uint8Array) => {
      const to = connected();
      if (to === undefined || id === undefined) {
        lost ??= failure ?? hashingStopped(new Error("it is not running"));
        return;
      }
      inFlight += bytes.byteLength;
      to.postMessage({ kind: "update", id, algorithm, bytes }, [bytes.buffer as ArrayBuffer]);
    };
    /** The first batch: to the worker if it runs, else every byte from now on is hashed here. */
    const start = () => {
      const first = new Uint8Array(used);
      let at = 0;
      for (const chunk of early) {
        first.set(chunk, at);
        at += chunk.byteLength;
      }
      early = [];
      used = 0;
      if (connected() === undefined) {
        inline = local(algorithm);
        inline.update(first);
        return;
      }
      id = nextId++;
      send(first);
    };
    const flushBatch = () => {
      if (batch === undefined || used === 0) return;
      const full = batch.subarray(0, used);
      batch = undefined;
      used = 0;
      send(full);
    };
    const check = () => {
      if (finished) throw new Error("this hasher has already given its digest");
    };

    return {
      update(bytes) {
        check();
        if (inline) {
          inline.update(bytes);
          return;
        }
        if (id === undefined) {
          early.push(bytes.slice());
          used += bytes.byteLength;
          if (used >= batchBytes) start();
        } else {
          let from = 0;
          while (from < bytes.byteLength) {
            batch ??= new Uint8Array(batchBytes);
            const take = Math.min(bytes.byteLength - from, batchBytes - used);
            batch.set(bytes.subarray(from, from + take), used);
            used += take;
            from += take;
            if (used === batchBytes) flushBatch();
          }
        }
        if (inFlight > windowBytes && !failure) return new Promise<void>((resume) => waiting.push(resume));
      },
      async digest() {
        check();
        finished = true;
        if (inline) return inline.digest();
        if (id === undefined) {
          // Ended before its first batch filled: hashed here.
          const hasher = local(algorithm);
          for (const chunk of early) hasher.update(chunk);
          early = [];
          return hasher.digest();
        }
        flushBatch();
        const to = connected();
        if (lost || to === undefined) throw lost ?? failure ?? hashingStopped(new Error("it is not running"));
        const stream = id;
        return new Promise<Digest>((resolve, reject) => {
          answers.set(stream, { resolve, reject });
          to.postMessage({ kind: "digest", id: stream }, []);
        });
      },
      cancel() {
        if (finished) return;
        finished = true;
        early = [];
        batch = undefined;
        if (id !== undefined && !failure) port?.postMessage({ kind: "cancel", id }, []);
      },
    };
  };

  return Object.assign((algorithm: DigestAlgorithm) => local(algorithm), { stream });
}

/**
 * The hashing worker's side: hashes each stream's batches in the order they come, with the hashers `hashers` makes
 * (the WebAssembly ones, once they load; batches that arrive before wait for them).
 * @example
 * serveHashing(selfPort, loadWasmHashers());
 */
export function serveHashing(port: HashPort, hashers: HasherFactory | Promise<HasherFactory>): void {
  const streams = new Map<number, Hasher>();
  /** Streams whose hasher threw: their digest is that error. */
  const broken = new Map<number, string>();
  let factory: HasherFactory | undefined;
  let early: HashRequest[] | undefined = [];

  const handle = (request: HashRequest, make: HasherFactory) => {
    if (request.kind === "update") {
      if (!broken.has(request.id)) {
        try {
          let hasher = streams.get(request.id);
          if (hasher === undefined) {
            hasher = make(request.algorithm);
            streams.set(request.id, hasher);
          }
          hasher.update(request.bytes);
        } catch (error) {
          streams.delete(request.id);
          broken.set(request.id, error instanceof Error ? error.message : String(error));
        }
      }
      port.postMessage({ kind: "hashed", bytes: request.bytes.byteLength }, []);
    } else if (request.kind === "digest") {
      const hasher = streams.get(request.id);
      const why = broken.get(request.id) ?? (hasher ? undefined : `no bytes arrived for stream ${request.id}`);
      streams.delete(request.id);
      broken.delete(request.id);
      if (why !== undefined || hasher === undefined) {
        port.postMessage({ kind: "error", id: request.id, message: why ?? "unknown stream" }, []);
        return;
      }
      try {
        port.postMessage({ kind: "digest", id: request.id, digest: hasher.digest() }, []);
      } catch (error) {
        port.postMessage({ kind: "error", id: request.id, message: String(error) }, []);
      }
    } else if (request.kind === "cancel") {
      streams.delete(request.id);
      broken.delete(request.id);
    }
  };

  port.onMessage((message) => {
    const request = message as HashRequest;
    if (factory) handle(request, factory);
    else early?.push(request);
  });
  const ready = (made: HasherFactory) => {
    factory = made;
    const queued = early ?? [];
    early = undefined;
    for (const request of queued) handle(request, made);
  };
  if (typeof hashers === "function") ready(hashers);
  else
    hashers.then(ready, (error: unknown) => {
      // Without its hashers the worker can only refuse: every stream's digest is this error.
      const message = `its hashers did not load: ${error instanceof Error ? error.message : String(error)}`;
      ready(() => {
        throw new Error(message);
      });
    });
}
