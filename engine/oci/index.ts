// OCI and Docker wire formats: media types, digests, descriptors, image indexes, manifests and configs, and image
// references with Docker's normalisation. Pure: no I/O. Parsers check untrusted JSON field by field and say what was wrong.
export {
  type Descriptor,
  formatPlatform,
  GUEST_PLATFORM,
  type Platform,
  parseDescriptor,
  parsePlatform,
  parsePlatformSpecifier,
  platformMatches,
} from "./descriptor.ts";
export {
  type Digest,
  type DigestAlgorithm,
  defaultHasherFactory,
  digestAlgorithm,
  digestHex,
  digestOf,
  type Hasher,
  type HasherFactory,
  parseDigest,
  type StreamHasher,
  shortDigest,
  streamHasher,
  tryParseDigest,
  verifyBytes,
} from "./digest.ts";
export type { DockerManifest, DockerManifestList } from "./docker-schema2.ts";
export { type HashPort, type OffloadOptions, offloadHashing, serveHashing } from "./hash-offload.ts";
export { type ExecutionConfig, type HistoryEntry, type ImageConfig, parseImageConfig } from "./image-config.ts";
export { type ImageIndex, parseImageIndex } from "./image-index.ts";
export { type ImageManifest, parseImageManifest } from "./image-manifest.ts";
export * as json from "./json.ts";
export { parseJson } from "./json.ts";
export { type ManifestDocument, parseManifestDocument } from "./manifest-document.ts";
export {
  INDEX_MEDIA_TYPES,
  type LayerCompression,
  layerCompression,
  MANIFEST_ACCEPT,
  MANIFEST_MEDIA_TYPES,
  MediaType,
  type MediaTypeName,
} from "./media-types.ts";
export {
  DEFAULT_REGISTRY,
  DEFAULT_TAG,
  familiarReference,
  formatReference,
  type ImageReference,
  isLoopbackRegistry,
  parseReference,
  referenceName,
  registryBaseUrl,
  registryHost,
} from "./reference.ts";
export {
  isWasmArtifactConfig,
  isWasmModuleLayer,
  WASI_PLATFORM,
  WASM_CONFIG_MEDIA_TYPES,
  WASM_LAYER_MEDIA_TYPES,
  wasmArtifactConfig,
  wasmLayerDiffId,
  wasmModuleFileName,
} from "./wasm-artifact.ts";
export { loadWasmHashers } from "./wasm-hash.ts";
