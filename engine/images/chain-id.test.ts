import { describe, expect, it } from "vitest";
import { digestOf, parseDigest } from "../oci/index.ts";
import { chainIds } from "./chain-id.ts";

const a = parseDigest(`sha256:${"a".repeat(64)}`);
const b = parseDigest(`sha256:${"b".repeat(64)}`);
const c = parseDigest(`sha256:${"c".repeat(64)}`);

describe("chainIds", () => {
  it("is the diff id for the base layer and hashes parent + ' ' + diff id above it", () => {
    const ab = digestOf(new TextEncoder().encode(`${a} ${b}`));
    const abc = digestOf(new TextEncoder().encode(`${ab} ${c}`));
    expect(chainIds([a, b, c])).toEqual([a, ab, abc]);
  });

  it("differs for the same diff on another base", () => {
    expect(chainIds([a, c])[1]).not.toBe(chainIds([b, c])[1]);
    expect(chainIds([])).toEqual([]);
  });
});
