import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import {
  familiarReference,
  formatReference,
  isLoopbackRegistry,
  parseReference,
  registryBaseUrl,
} from "./reference.ts";

const HEX = "a".repeat(64);

describe("parseReference normalises like docker pull", () => {
  const cases: [string, string][] = [
    ["alpine", "docker.io/library/alpine:latest"],
    ["alpine:3.20", "docker.io/library/alpine:3.20"],
    ["library/alpine", "docker.io/library/alpine:latest"],
    ["docker.io/alpine", "docker.io/library/alpine:latest"],
    ["index.docker.io/library/alpine:edge", "docker.io/library/alpine:edge"],
    ["bitnami/redis:7", "docker.io/bitnami/redis:7"],
    ["ghcr.io/owner/app:v1.2", "ghcr.io/owner/app:v1.2"],
    ["quay.io/a/b/c", "quay.io/a/b/c:latest"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app:1", "localhost:5000/app:1"],
    ["127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app:latest"],
    ["[::1]:5000/app", "[::1]:5000/app:latest"],
    ["Registry/app", "Registry/app:latest"],
    ["my-registry.example:443/a_b/c__d/e--f:tag_1.x-y", "my-registry.example:443/a_b/c__d/e--f:tag_1.x-y"],
    [`alpine@sha256:${HEX}`, `docker.io/library/alpine@sha256:${HEX}`],
    [`alpine:3.20@sha256:${HEX}`, `docker.io/library/alpine:3.20@sha256:${HEX}`],
    [`localhost:5000/app@sha256:${HEX}`, `localhost:5000/app@sha256:${HEX}`],
  ];
  it.each(cases)("%s → %s", (input, expected) => {
    expect(formatReference(parseReference(input))).toBe(expected);
  });

  it("keeps tag and digest apart", () => {
    expect(parseReference(`localhost:5000/app:1@sha256:${HEX}`)).toEqual({
      registry: "localhost:5000",
      repository: "app",
      tag: "1",
      digest: `sha256:${HEX}`,
    });
  });

  it("adds no tag when a digest is given", () => {
    expect(parseReference(`busybox@sha256:${HEX}`).tag).toBeUndefined();
  });
});

describe("parseReference rejects what docker rejects", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["Alpine", /lowercase/],
    ["docker.io/Library/alpine", /lowercase/],
    [HEX, /image ID/],
    ["alpine:", /tag/],
    ["alpine:-x", /tag/],
    [`alpine:${"x".repeat(129)}`, /tag/],
    ["alpine@sha256:abc", /not a valid digest/],
    [`alpine@md5:${"a".repeat(32)}`, /algorithm "md5"/],
    ["a//b", /repository/],
    ["app_/x", /repository/],
    ["-bad.host/x", /registry host/],
    ["localhost:5000/", /empty/],
    [`x/${"a".repeat(260)}`, /255/],
  ];
  it.each(cases)("%j", (input, message) => {
    let error: unknown;
    try {
      parseReference(input);
    } catch (caught) {
      error = caught;
    }
    expect(isEngineError(error, "invalidArgument")).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});

describe("familiarReference", () => {
  it.each([
    ["alpine", "alpine:latest"],
    ["bitnami/redis:7", "bitnami/redis:7"],
    ["ghcr.io/a/b:1", "ghcr.io/a/b:1"],
    ["localhost:5000/library/x", "localhost:5000/library/x:latest"],
  ])("%s → %s", (input, expected) => {
    expect(familiarReference(parseReference(input))).toBe(expected);
  });
});

describe("loopback registries use plain http", () => {
  it.each([
    ["localhost", true, "http://localhost"],
    ["localhost:5000", true, "http://localhost:5000"],
    ["127.0.0.1:5000", true, "http://127.0.0.1:5000"],
    ["127.12.0.254", true, "http://127.12.0.254"],
    ["[::1]:5000", true, "http://[::1]:5000"],
    ["128.0.0.1:5000", false, "https://128.0.0.1:5000"],
    ["127.0.0.1.example", false, "https://127.0.0.1.example"],
    ["localhost.example:5000", false, "https://localhost.example:5000"],
    ["ghcr.io", false, "https://ghcr.io"],
    ["docker.io", false, "https://registry-1.docker.io"],
  ])("%s", (registry, loopback, baseUrl) => {
    expect(isLoopbackRegistry(registry)).toBe(loopback);
    expect(registryBaseUrl(registry)).toBe(baseUrl);
  });
});
