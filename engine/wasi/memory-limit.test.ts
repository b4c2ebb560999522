import { describe, expect, it } from "vitest";
import { capMemory, WASM_PAGE_BYTES } from "./memory-limit.ts";
import { type WasmMemory, wasm } from "./webassembly.ts";

/** A module with one memory section: `(memory min max?)`, in the binary format. */
function moduleWithMemory(min: number, max?: number): Uint8Array {
  const limits = max === undefined ? [0x00, min] : [0x01, min, max];
  const body = [1, ...limits];
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, body.length, ...body]);
}

describe("capMemory: docker run -m for a WebAssembly module", () => {
  it("gives a memory without a maximum the limit as its maximum", () => {
    const { bytes, initialPages } = capMemory(moduleWithMemory(2), 64);
    expect(initialPages).toBe(2);
    expect(Array.from(bytes.slice(8))).toEqual([5, 4, 1, 0x01, 2, 64]);
  });

  it("keeps a smaller maximum the module declares, and lowers a larger one", () => {
    expect(Array.from(capMemory(moduleWithMemory(1, 10), 64).bytes.slice(8))).toEqual([5, 4, 1, 0x01, 1, 10]);
    expect(Array.from(capMemory(moduleWithMemory(1, 100), 64).bytes.slice(8))).toEqual([5, 4, 1, 0x01, 1, 64]);
  });

  it("a grow past the cap fails in the engine itself", async () => {
    const exported = new Uint8Array([
      ...moduleWithMemory(1),
      // export section: "m" → memory 0
      7,
      5,
      1,
      1,
      0x6d,
      2,
      0,
    ]);
    const module = await wasm.compile(capMemory(exported, 2).bytes as Uint8Array<ArrayBuffer>);
    const memory = new wasm.Instance(module, {}).exports.m as WasmMemory;
    expect(memory.grow(1)).toBe(1);
    expect(() => memory.grow(1)).toThrow(RangeError);
    expect(memory.buffer.byteLength).toBe(2 * WASM_PAGE_BYTES);
  });

  it("refuses a limit below what the module needs to start, and bytes that are not wasm", () => {
    expect(() => capMemory(moduleWithMemory(100), 16)).toThrow(
      /needs 6.25 MiB of memory to start, more than its limit of 1 MiB/,
    );
    expect(() => capMemory(new TextEncoder().encode("#!/bin/sh\n"), 16)).toThrow(/not a WebAssembly module/);
  });
});
