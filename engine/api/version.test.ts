import { describe, expect, it } from "vitest";
import { API_VERSION, checkApiVersion, compareApiVersions, MIN_API_VERSION, splitVersionedPath } from "./version.ts";

describe("API versions", () => {
  it("compares major.minor numerically", () => {
    expect(compareApiVersions("1.9", "1.10")).toBeLessThan(0);
    expect(compareApiVersions("1.43", "1.43")).toBe(0);
    expect(compareApiVersions("2.0", "1.99")).toBeGreaterThan(0);
  });

  it("splits the version off a path, and leaves unversioned paths alone", () => {
    expect(splitVersionedPath("/v1.41/images/json")).toEqual({ version: "1.41", path: "/images/json" });
    expect(splitVersionedPath("/v1.41")).toEqual({ version: "1.41", path: "/" });
    expect(splitVersionedPath("/images/json")).toEqual({ path: "/images/json" });
    expect(splitVersionedPath("/volumes")).toEqual({ path: "/volumes" });
  });

  it("serves versions from the minimum to the maximum and refuses others in dockerd's words", () => {
    expect(checkApiVersion(API_VERSION)).toBeUndefined();
    expect(checkApiVersion(MIN_API_VERSION)).toBeUndefined();
    expect(checkApiVersion("1.41")).toBeUndefined();
    expect(checkApiVersion("1.99")).toBe(
      `client version 1.99 is too new. Maximum supported API version is ${API_VERSION}`,
    );
    expect(checkApiVersion("1.12")).toMatch(
      /^client version 1\.12 is too old\. Minimum supported API version is 1\.24/,
    );
    expect(checkApiVersion("1.x")).toBe("invalid API version: 1.x");
  });
});
