import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { acceptFilters, booleanFilter, labelsMatch, referenceMatches } from "./filters.ts";

function message(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (isEngineError(error, "invalidArgument")) return error.message;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("list filters, as dockerd reads them", () => {
  it("refuses an unknown key in dockerd's words", () => {
    expect(message(() => acceptFilters({ colour: ["red"] }, ["label"]))).toBe("invalid filter 'colour'");
    expect(() => acceptFilters({ label: ["a"] }, ["label"])).not.toThrow();
  });

  it("matches labels by key or key=value, all of them", () => {
    const labels = { tier: "web", team: "a" };
    expect(labelsMatch(labels, undefined)).toBe(true);
    expect(labelsMatch(labels, ["tier"])).toBe(true);
    expect(labelsMatch(labels, ["tier=web", "team=a"])).toBe(true);
    expect(labelsMatch(labels, ["tier=db"])).toBe(false);
    expect(labelsMatch(labels, ["tier", "owner"])).toBe(false);
    expect(labelsMatch({ "a=b": "c" }, ["a"])).toBe(false);
  });

  it.each([
    ["busybox", "busybox:latest", true],
    ["busybox", "busybox:1.36", true],
    ["busybox:latest", "busybox:latest", true],
    ["busybox:1.36", "busybox:latest", false],
    ["busy*", "busybox:latest", true],
    ["busy", "busybox:latest", false],
    ["*", "library/x:1", false],
    ["*/*", "library/x:1", true],
    ["alpine", "busybox:latest", false],
    ["localhost:5000/busybox", "localhost:5000/busybox:latest", true],
    ["busybox", "busybox@sha256:abc", true],
    ["b[uv]sybox", "busybox:latest", true],
    ["b?sybox:lat*", "busybox:latest", true],
  ])("reference %s against %s: %s", (pattern, ref, expected) => {
    expect(referenceMatches(pattern, ref)).toBe(expected);
  });

  it("reads dangling as true or false, and refuses anything else as dockerd does", () => {
    expect(booleanFilter({}, "dangling")).toBeUndefined();
    expect(booleanFilter({ dangling: ["true"] }, "dangling")).toBe(true);
    expect(booleanFilter({ dangling: ["0"] }, "dangling")).toBe(false);
    expect(message(() => booleanFilter({ dangling: ["maybe"] }, "dangling"))).toBe("invalid filter 'dangling=[maybe]'");
  });
});
