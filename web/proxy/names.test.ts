import { describe, expect, it } from "vitest";
import { DEFAULT_UPSTREAMS, isDigest, mapRepository, parseRoute, type UpstreamConfig } from "./names.ts";

const where = (name: string, upstreams: Readonly<Record<string, UpstreamConfig>> = DEFAULT_UPSTREAMS) => {
  const r = mapRepository(name, upstreams);
  return r.ok ? `${r.repository.alias} ${r.repository.name}` : `${r.code}: ${r.message}`;
};

describe("mapRepository", () => {
  it.each([
    ["alpine", "docker.io library/alpine"],
    ["library/alpine", "docker.io library/alpine"],
    ["bitnami/redis", "docker.io bitnami/redis"],
    ["docker.io/alpine", "docker.io library/alpine"],
    ["docker.io/bitnami/redis", "docker.io bitnami/redis"],
    ["ghcr.io/owner/app", "ghcr.io owner/app"],
    ["ghcr.io/app", "ghcr.io app"],
    ["quay.io/prometheus/node-exporter", "quay.io prometheus/node-exporter"],
    ["public.ecr.aws/docker/library/nginx", "public.ecr.aws docker/library/nginx"],
    ["gcr.io/distroless/static", "gcr.io distroless/static"],
  ])("maps %s like Docker would", (name, expected) => {
    expect(where(name)).toBe(expected);
  });

  it("refuses registries that are not configured instead of sending them to Docker Hub", () => {
    expect(where("evil.example/x")).toMatch(/^DENIED: registry evil.example is not configured/);
    expect(where("localhost/x")).toMatch(/^DENIED/);
    expect(where("127.0.0.1:5000/x")).toMatch(/^DENIED/);
  });

  it("uses configured aliases first, even ones that do not look like hosts", () => {
    const upstreams = { local: { url: "http://127.0.0.1:5000" }, "127.0.0.1:5000": { url: "http://127.0.0.1:5000" } };
    expect(where("local/busybox", upstreams)).toBe("local busybox");
    expect(where("127.0.0.1:5000/busybox", upstreams)).toBe("127.0.0.1:5000 busybox");
    // Without docker.io configured, unaliased names have nowhere to go.
    expect(where("busybox", upstreams)).toMatch(/^DENIED: docker.io is not configured/);
    // A single component is a Docker Hub name even when it equals an alias.
    expect(where("local", { ...upstreams, ...DEFAULT_UPSTREAMS })).toBe("docker.io library/local");
  });

  it("adds library/ under the docker.io alias whatever its URL", () => {
    expect(where("alpine", { "docker.io": { url: "http://127.0.0.1:5000" } })).toBe("docker.io library/alpine");
  });

  it.each(["Alpine", "a//b", "../etc", "a/../b", "a/%2e%2e", "-a", "a-", "ghcr.io/", "a b"])(
    "rejects the invalid name %j",
    (name) => {
      expect(where(name)).toMatch(/^(NAME_INVALID|DENIED)/);
    },
  );
});

describe("parseRoute", () => {
  it("splits the repository name from the API route", () => {
    expect(parseRoute("ghcr.io/a/b/manifests/v1.0")).toEqual({
      kind: "manifests",
      name: "ghcr.io/a/b",
      reference: "v1.0",
    });
    const digest = `sha256:${"a".repeat(64)}`;
    expect(parseRoute(`alpine/blobs/${digest}`)).toEqual({ kind: "blobs", name: "alpine", reference: digest });
    expect(parseRoute(`alpine/manifests/${digest}`)).toEqual({ kind: "manifests", name: "alpine", reference: digest });
    expect(parseRoute("a/b/tags/list")).toEqual({ kind: "tags", name: "a/b" });
    expect(parseRoute(`a/referrers/${digest}`)).toEqual({ kind: "referrers", name: "a", reference: digest });
  });

  it("serves nothing that writes or is not part of the pull API", () => {
    expect(parseRoute("alpine/blobs/uploads/")).toBeUndefined();
    expect(parseRoute("alpine/blobs/latest")).toBeUndefined();
    expect(parseRoute("_catalog")).toBeUndefined();
    expect(parseRoute("alpine/manifests/-bad")).toBeUndefined();
  });

  it("tells digests from tags", () => {
    expect(isDigest(`sha256:${"0".repeat(64)}`)).toBe(true);
    expect(isDigest("latest")).toBe(false);
  });
});
