import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { digestHex, digestOf, parseDigest, shortDigest, tryParseDigest, verifyBytes } from "./digest.ts";

const HELLO_SHA256 = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

describe("parseDigest", () => {
  it.each([
    [`sha256:${"0".repeat(64)}`, true],
    [`sha512:${"f".repeat(128)}`, true],
    [HELLO_SHA256, true],
    [`sha256:${"A".repeat(64)}`, false],
    [`sha256:${"0".repeat(63)}`, false],
    [`sha512:${"0".repeat(64)}`, false],
    [`sha384:${"0".repeat(96)}`, false],
    ["sha256", false],
    [`:${"0".repeat(64)}`, false],
    [`sha256:${"g".repeat(64)}`, false],
    [` sha256:${"0".repeat(64)}`, false],
  ])("%s → valid: %s", (text, valid) => {
    expect(tryParseDigest(text) !== undefined).toBe(valid);
    if (!valid) expect(() => parseDigest(text)).toThrow(/digest|algorithm/);
  });

  it("names unsupported algorithms", () => {
    expect(() => parseDigest(`sha384:${"0".repeat(96)}`)).toThrow(/algorithm "sha384"/);
  });

  it("gives the hex and the short id", () => {
    const digest = parseDigest(HELLO_SHA256);
    expect(digestHex(digest)).toBe(HELLO_SHA256.slice(7));
    expect(shortDigest(digest)).toBe("2cf24dba5fb0");
  });
});

describe("digestOf and verifyBytes", () => {
  const hello = new TextEncoder().encode("hello");

  it("hashes with sha256 and sha512", () => {
    expect(digestOf(hello)).toBe(HELLO_SHA256);
    expect(digestOf(hello, "sha512")).toMatch(/^sha512:9b71d224bd62f378/);
  });

  it("accepts the right bytes", () => {
    expect(() => verifyBytes(hello, { digest: parseDigest(HELLO_SHA256), size: 5 })).not.toThrow();
  });

  it("reports a digest or size mismatch as dataLoss", () => {
    for (const expected of [
      { digest: parseDigest(`sha256:${"0".repeat(64)}`) },
      { digest: parseDigest(HELLO_SHA256), size: 6 },
    ]) {
      let error: unknown;
      try {
        verifyBytes(hello, expected);
      } catch (caught) {
        error = caught;
      }
      expect(isEngineError(error, "dataLoss")).toBe(true);
    }
  });
});
