// The programs the lesson "WebAssembly containers" carries as base64 are what lessons/programs/primes.c compiles to
// (scripts/lesson-programs.ts), and the compilers give the same bytes twice, so anyone can check the lesson's blobs.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { compilePrimes, primesSetup, WASM_LESSON, withSetup } from "../../scripts/lesson-programs.ts";

describe("the lesson's compiled programs", () => {
  it("are the lesson's bytes, rebuilt from primes.c, byte for byte the same on each build", async () => {
    const lesson = await readFile(WASM_LESSON, "utf8");
    expect(withSetup(lesson, await primesSetup()), "run npm run lesson-programs").toBe(lesson);
    const [a, b] = [await compilePrimes(), await compilePrimes()];
    expect(a.wasm.equals(b.wasm) && a.i386.equals(b.i386)).toBe(true);
    // A WebAssembly module and an ELF executable for i386 (e_machine 3), each a few kilobytes.
    expect(a.wasm.subarray(0, 4).toString("latin1")).toBe("\0asm");
    expect(a.i386.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(a.i386.readUInt16LE(18)).toBe(3);
    expect(a.wasm.length + a.i386.length).toBeLessThan(8192);
  });
});
