import { describe, expect, it } from "vitest";
import { defaultHasherFactory, digestOf } from "./digest.ts";
import { loadWasmHashers } from "./wasm-hash.ts";

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 17 + (i >> 7)) & 0xff);
}

describe("loadWasmHashers", () => {
  it("gives the portable hashers' digests, for both algorithms", async () => {
    const hashers = await loadWasmHashers();
    for (const algorithm of ["sha256", "sha512"] as const) {
      for (const length of [0, 1, 63, 64, 65, 100_000]) {
        const data = bytes(length, length);
        expect(digestOf(data, algorithm, hashers)).toBe(digestOf(data, algorithm, defaultHasherFactory));
      }
    }
  });

  it("keeps each hasher's state apart when several are fed by turns (as a pull hashes blob and diff at once)", async () => {
    const hashers = await loadWasmHashers();
    const inputs = [0, 1, 2, 3].map((seed) => bytes(50_000 + seed * 777, seed));
    const interleaved = inputs.map((_, i) => hashers(i === 3 ? "sha512" : "sha256"));
    for (let at = 0; at < 60_000; at += 4096) {
      interleaved.forEach((hasher, i) => {
        const chunk = inputs[i]!.subarray(at, at + 4096);
        if (chunk.length) hasher.update(chunk);
      });
    }
    const digests = interleaved.map((hasher) => hasher.digest());
    expect(digests).toEqual(
      inputs.map((input, i) => digestOf(input, i === 3 ? "sha512" : "sha256", defaultHasherFactory)),
    );
  });

  it("refuses a second digest from one hasher, as the portable one does", async () => {
    const hasher = (await loadWasmHashers())("sha256");
    hasher.update(bytes(10, 1));
    hasher.digest();
    expect(() => hasher.update(bytes(1, 1))).toThrow(/already given its digest/);
  });
});
