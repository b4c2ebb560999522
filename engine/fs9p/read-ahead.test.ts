// Read-ahead as the kernel drives it: growing sequential reads are answered from the window without waiting,
// a seek starts over, small reads start nothing, and a failed read-ahead is read again.
import { describe, expect, it } from "vitest";
import type { Digest } from "../oci/index.ts";
import { ReadAhead } from "./read-ahead.ts";

const KiB = 1024;
const FILE = "sha256:feed" as Digest;
const SIZE = 4096 * KiB;
const bytesAt = (offset: number, length: number) => Uint8Array.from({ length }, (_, i) => (offset + i) % 251);

function setup(options: { fail?: () => boolean } = {}) {
  const reads: [number, number][] = [];
  const readAhead = new ReadAhead(async (_content, offset, length) => {
    reads.push([offset, length]);
    if (options.fail?.()) throw new Error("store failed");
    return bytesAt(offset, length);
  });
  /** Reads like the kernel: waits for the answer, lets the store's promises settle in between. */
  const read = async (offset: number, length: number) => {
    const result = readAhead.read(FILE, SIZE, offset, length);
    const synchronous = result instanceof Uint8Array;
    const bytes = await result;
    // (Not toEqual: a deep comparison of half a megabyte takes seconds.)
    expect(Buffer.from(bytes).equals(bytesAt(offset, length))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    return synchronous;
  };
  return { reads, read };
}

describe("read-ahead", () => {
  it("answers growing sequential reads from its window, at once", async () => {
    const { read } = setup();
    const answers: boolean[] = [];
    let offset = 0;
    for (const length of [128 * KiB, 256 * KiB, 496 * KiB, 496 * KiB, 496 * KiB, 496 * KiB]) {
      answers.push(await read(offset, length));
      offset += length;
    }
    expect(answers).toEqual([false, true, true, true, true, true]);
  });

  it("starts over after a seek, and reads nothing ahead for small reads", async () => {
    const { read, reads } = setup();
    await read(0, 128 * KiB);
    expect(await read(3000 * KiB, 128 * KiB)).toBe(false);
    expect(await read(3128 * KiB, 128 * KiB)).toBe(true);
    reads.length = 0;
    await read(10, 100);
    expect(reads).toEqual([[10, 100]]);
  });

  it("never reads past the end of the file", async () => {
    const { read, reads } = setup();
    await read(SIZE - 200 * KiB, 128 * KiB);
    await read(SIZE - 72 * KiB, 72 * KiB);
    expect(Math.max(...reads.map(([offset, length]) => offset + length))).toBe(SIZE);
  });

  it("reads again when a read-ahead failed, so the error is the one of the read that needs the bytes", async () => {
    let failing = true;
    const { read, reads } = setup({ fail: () => failing });
    await expect(read(0, 128 * KiB)).rejects.toThrow("store failed");
    failing = false;
    reads.length = 0;
    expect(await read(128 * KiB, 128 * KiB)).toBe(false);
    expect(reads).toContainEqual([128 * KiB, 128 * KiB]);
    // The failed window is dropped, and the next one works again.
    expect(await read(256 * KiB, 128 * KiB)).toBe(true);
  });
});
