import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { parseImageConfig } from "./image-config.ts";
import { parseManifestDocument } from "./manifest-document.ts";
import { MediaType } from "./media-types.ts";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

const manifest = {
  schemaVersion: 2,
  mediaType: MediaType.ociImageManifest,
  config: { mediaType: MediaType.ociImageConfig, digest: D1, size: 10 },
  layers: [{ mediaType: MediaType.ociLayerGzip, digest: D2, size: 20 }],
};
const index = {
  schemaVersion: 2,
  mediaType: MediaType.dockerManifestList,
  manifests: [
    { mediaType: MediaType.dockerManifest, digest: D1, size: 5, platform: { os: "linux", architecture: "386" } },
    {
      mediaType: MediaType.dockerManifest,
      digest: D2,
      size: 5,
      platform: { os: "linux", architecture: "arm", variant: "v7" },
    },
  ],
};

function errorOf(run: () => unknown): Error & { kind?: string } {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

describe("parseManifestDocument", () => {
  it("reads an OCI manifest", () => {
    const document = parseManifestDocument(bytes(manifest), MediaType.ociImageManifest);
    expect(document.kind).toBe("manifest");
    if (document.kind === "manifest") expect(document.manifest.layers[0]?.digest).toBe(D2);
  });

  it("reads a Docker manifest list with platforms", () => {
    const document = parseManifestDocument(bytes(index), `${MediaType.dockerManifestList}; charset=utf-8`);
    expect(document.kind).toBe("index");
    if (document.kind === "index") expect(document.index.manifests[1]?.platform?.variant).toBe("v7");
  });

  it("falls back to the mediaType field, then to the shape, when Content-Type is generic", () => {
    expect(parseManifestDocument(bytes(index), "application/json").kind).toBe("index");
    const { mediaType: _, ...bare } = manifest;
    expect(parseManifestDocument(bytes(bare)).kind).toBe("manifest");
  });

  it.each([
    ["not JSON", new TextEncoder().encode("{"), /not JSON/],
    ["an array", bytes([]), /expected an object/],
    ["a wrong schemaVersion", bytes({ ...manifest, schemaVersion: 1 }), /manifest.schemaVersion: expected 2/],
    [
      "a bad layer digest",
      bytes({ ...manifest, layers: [{ mediaType: "x", digest: "sha256:zz", size: 1 }] }),
      /manifest.layers\[0\].digest: expected a digest/,
    ],
    [
      "a negative size",
      bytes({ ...manifest, config: { ...manifest.config, size: -1 } }),
      /manifest.config.size: expected a non-negative integer, got number -1/,
    ],
    ["no layers", bytes({ ...manifest, layers: undefined }), /manifest.layers: expected an array, got nothing/],
    ["schema 1", bytes({ schemaVersion: 1, mediaType: MediaType.dockerManifestSchema1 }), /schema 1/],
    ["an unknown media type", bytes({ schemaVersion: 2, mediaType: "text/html" }), /neither an image index/],
  ])("rejects %s with invalidArgument saying what is wrong", (_, input, message) => {
    const error = errorOf(() => parseManifestDocument(input, undefined, "manifest"));
    expect(isEngineError(error, "invalidArgument")).toBe(true);
    expect(error.message).toMatch(message);
  });
});

describe("parseImageConfig", () => {
  const config = {
    architecture: "386",
    os: "linux",
    config: { Env: ["PATH=/bin"], Cmd: ["sh"], ExposedPorts: { "80/tcp": {} }, Entrypoint: null },
    rootfs: { type: "layers", diff_ids: [D1, D2] },
    history: [{ created_by: "ADD x /" }, { created_by: "CMD sh", empty_layer: true }],
  };

  it("reads the fields docker run needs", () => {
    const parsed = parseImageConfig(config);
    expect(parsed.rootfs.diff_ids).toEqual([D1, D2]);
    expect(parsed.config?.Cmd).toEqual(["sh"]);
    expect(parsed.config?.Entrypoint).toBeUndefined();
    expect(parsed.config?.ExposedPorts).toEqual({ "80/tcp": {} });
    expect(parsed.history?.[1]?.empty_layer).toBe(true);
  });

  it("rejects a config without rootfs.diff_ids", () => {
    expect(() => parseImageConfig({ ...config, rootfs: { type: "layers" } })).toThrow(/rootfs.diff_ids/);
  });
});
