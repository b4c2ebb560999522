// WebAssembly modules pushed as OCI artifacts rather than as images. Two layouts are in use: the CNCF one (config
// `application/vnd.wasm.config.v0+json`, each module an `application/wasm` layer) and wasm-to-oci's older one (config
// `application/vnd.wasm.config.v1+json`, layer `application/vnd.wasm.content.layer.v1+wasm`). Neither config is an image
// config, so Drydock reads one as the image config a WASI image would have: os wasi, architecture wasm, each module a
// file at the root (its layer's title, or module.wasm) and the entrypoint pointing at the first. A module layer's
// diff id is Drydock's own (wasmLayerDiffId): there is no tar to hash.
import { EngineError } from "../errors.ts";
import type { Descriptor, Platform } from "./descriptor.ts";
import { type Digest, digestOf } from "./digest.ts";
import type { ImageConfig } from "./image-config.ts";
import * as json from "./json.ts";

/** Where WebAssembly System Interface images run: Drydock runs them in the browser's (or Node's) own engine. */
export const WASI_PLATFORM: Platform = { os: "wasi", architecture: "wasm" };

export const WASM_CONFIG_MEDIA_TYPES: readonly string[] = [
  "application/vnd.wasm.config.v0+json",
  "application/vnd.wasm.config.v1+json",
];

export const WASM_LAYER_MEDIA_TYPES: readonly string[] = [
  "application/wasm",
  "application/vnd.wasm.content.layer.v1+wasm",
  "application/vnd.module.wasm.content.layer.v1+wasm",
];

export function isWasmArtifactConfig(mediaType: string): boolean {
  return WASM_CONFIG_MEDIA_TYPES.includes(mediaType);
}

export function isWasmModuleLayer(mediaType: string): boolean {
  return WASM_LAYER_MEDIA_TYPES.includes(mediaType);
}

/** The file a module layer becomes: its title annotation when that is a plain `.wasm` name, else `module.wasm`. */
export function wasmModuleFileName(layer: Descriptor): string {
  const title = layer.annotations?.["org.opencontainers.image.title"] ?? "";
  return /^[A-Za-z0-9._-]+\.wasm$/.test(title) && !title.startsWith(".") ? title : "module.wasm";
}

/**
 * The diff id Drydock gives a module layer: the digest of the file's name and the module's digest. The layer stands
 * for a one-file tree, and the same module under another name is another tree (so another chain id).
 * @example
 * wasmLayerDiffId("module.wasm", "sha256:…");
 */
export function wasmLayerDiffId(name: string, moduleDigest: Digest): Digest {
  return digestOf(new TextEncoder().encode(`drydock wasm layer\n${name}\n${moduleDigest}\n`));
}

/**
 * The image config of a wasm artifact, from its own config blob (which may be `{}`) and its manifest's layers: every
 * layer's diff id is its digest (a module layer is not compressed and not a tar).
 */
export function wasmArtifactConfig(value: unknown, layers: readonly Descriptor[], what: string): ImageConfig {
  const source = value === null ? {} : json.object(value, what);
  const modules = layers.filter((layer) => isWasmModuleLayer(layer.mediaType));
  if (modules.length === 0) {
    throw new EngineError("invalidArgument", `${what} is a wasm artifact's config, but its manifest has no wasm layer`);
  }
  const config: ImageConfig = {
    architecture: WASI_PLATFORM.architecture,
    os: WASI_PLATFORM.os,
    config: { Entrypoint: [`/${wasmModuleFileName(modules[0]!)}`] },
    rootfs: {
      type: "layers",
      diff_ids: layers.map((layer) =>
        isWasmModuleLayer(layer.mediaType) ? wasmLayerDiffId(wasmModuleFileName(layer), layer.digest) : layer.digest,
      ),
    },
  };
  const created = json.optionalString(source.created, `${what}.created`);
  if (created !== undefined) config.created = created;
  const author = json.optionalString(source.author, `${what}.author`);
  if (author !== undefined) config.author = author;
  return config;
}
