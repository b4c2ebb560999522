import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { defaultHasherFactory, digestOf, type HasherFactory, streamHasher } from "./digest.ts";
import { type HashPort, offloadHashing, serveHashing } from "./hash-offload.ts";

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 17 + (i >> 7)) & 0xff);
}

/** One end of a channel as a HashPort, counting what it sends. */
function portOf(port: MessagePort, sent: { count: number } = { count: 0 }): HashPort {
  return {
    postMessage: (message, transfer) => {
      sent.count++;
      port.postMessage(message, transfer);
    },
    onMessage: (listener) => port.on("message", listener),
  };
}

const open: MessagePort[] = [];
afterEach(() => {
  for (const port of open.splice(0)) port.close();
});

/** A hashing "worker" on the other end of a channel in this thread: the protocol, without the second thread. */
function channel(hashers: HasherFactory | Promise<HasherFactory> = defaultHasherFactory) {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  serveHashing(portOf(port2), hashers);
  const sent = { count: 0 };
  let errorListener: ((error: Error) => void) | undefined;
  let connects = 0;
  const connect = (): HashPort => {
    connects++;
    return { ...portOf(port1, sent), onError: (listener) => (errorListener = listener) };
  };
  return { connect, sent, crash: (error: Error) => errorListener?.(error), connects: () => connects };
}

async function hashInPieces(hashers: HasherFactory, data: Uint8Array, piece: number, algorithm: "sha256" | "sha512") {
  const hasher = streamHasher(hashers, algorithm);
  for (let at = 0; at < data.byteLength; at += piece) await hasher.update(data.subarray(at, at + piece));
  return hasher.digest();
}

describe("offloadHashing", () => {
  it("gives the digests of hashing here, for streams fed by turns, of both algorithms", async () => {
    const worker = channel();
    const hashers = offloadHashing(worker.connect, defaultHasherFactory, { batchBytes: 1000, windowBytes: 4000 });
    const inputs = [0, 1, 2, 3].map((seed) => bytes(20_000 + seed * 777, seed));
    const streams = inputs.map((_, i) => streamHasher(hashers, i === 3 ? "sha512" : "sha256"));
    for (let at = 0; at < 25_000; at += 333) {
      for (const [i, hasher] of streams.entries()) {
        const chunk = inputs[i]!.subarray(at, at + 333);
        if (chunk.length) await hasher.update(chunk);
      }
    }
    const digests = await Promise.all(streams.map((hasher) => hasher.digest()));
    expect(digests).toEqual(inputs.map((input, i) => digestOf(input, i === 3 ? "sha512" : "sha256")));
    expect(worker.connects()).toBe(1);
    expect(worker.sent.count).toBeGreaterThan(80);
  });

  it("hashes a stream shorter than one batch here, without the worker", async () => {
    const worker = channel();
    const hashers = offloadHashing(worker.connect, defaultHasherFactory, { batchBytes: 1 << 20 });
    const data = bytes(100_000, 7);
    expect(await hashInPieces(hashers, data, 4096, "sha256")).toBe(digestOf(data));
    expect(worker.connects()).toBe(0);
  });

  it("does not keep the caller's buffers: a chunk changed after update is hashed as it was", async () => {
    const hashers = offloadHashing(channel().connect, defaultHasherFactory, { batchBytes: 64 });
    const data = bytes(1000, 3);
    const hasher = streamHasher(hashers, "sha256");
    const reused = new Uint8Array(100);
    for (let at = 0; at < data.byteLength; at += 100) {
      reused.set(data.subarray(at, at + 100));
      await hasher.update(reused);
      reused.fill(0);
    }
    expect(await hasher.digest()).toBe(digestOf(data));
  });

  it("makes update wait while more than a window of bytes is not yet hashed", async () => {
    const hashers = offloadHashing(channel().connect, defaultHasherFactory, { batchBytes: 100, windowBytes: 300 });
    const hasher = streamHasher(hashers, "sha256");
    const answers = [0, 1, 2, 3, 4, 5].map(() => hasher.update(bytes(100, 1)));
    expect(answers.slice(0, 3).every((answer) => answer === undefined)).toBe(true);
    expect(answers[3]).toBeInstanceOf(Promise);
    await Promise.all(answers);
    const expected = new Uint8Array(600);
    for (let i = 0; i < 6; i++) expected.set(bytes(100, 1), i * 100);
    expect(await hasher.digest()).toBe(digestOf(expected));
  });

  it("fails a stream whose bytes were in a worker that stopped, and hashes later streams here", async () => {
    const worker = channel();
    const hashers = offloadHashing(worker.connect, defaultHasherFactory, { batchBytes: 10 });
    const hasher = streamHasher(hashers, "sha256");
    await hasher.update(bytes(50, 1));
    worker.crash(new Error("out of memory"));
    const error = await hasher.digest().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isEngineError(error, "unavailable")).toBe(true);
    expect((error as Error).message).toBe("the hashing worker stopped: out of memory");
    const data = bytes(5000, 9);
    expect(await hashInPieces(hashers, data, 700, "sha256")).toBe(digestOf(data));
  });

  it("hashes here when the worker cannot be started", async () => {
    const hashers = offloadHashing(
      () => {
        throw new Error("workers are not allowed here");
      },
      defaultHasherFactory,
      { batchBytes: 10 },
    );
    const data = bytes(5000, 2);
    expect(await hashInPieces(hashers, data, 300, "sha512")).toBe(digestOf(data, "sha512"));
  });

  it("refuses a digest, not gives a wrong one, when the worker's hashers did not load", async () => {
    const worker = channel(Promise.reject(new Error("WebAssembly is disabled")));
    const hashers = offloadHashing(worker.connect, defaultHasherFactory, { batchBytes: 10 });
    const error = await hashInPieces(hashers, bytes(100, 4), 30, "sha256").then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isEngineError(error, "internal")).toBe(true);
    expect((error as Error).message).toMatch(/hashers did not load: WebAssembly is disabled/);
  });

  it("leaves the plain hashers on this thread", () => {
    const hashers = offloadHashing(channel().connect, defaultHasherFactory);
    expect(digestOf(bytes(10, 1), "sha256", hashers)).toBe(digestOf(bytes(10, 1)));
  });
});
