// The image store: pulls images through the registry client into the content store, unpacking each layer while it
// streams in, and keeps names and tags → manifests, configs and history. Layers are shared by chain id.
//
// On-store layout (everything but images.json is an immutable, content-addressed blob):
//
//   metadata "images.json"   { version: 1,
//                              images: { "<docker.io/library/alpine:latest>": ImageRecord },   name → target
//                                                                                             (index or manifest),
//                                                                                             the linux/386 manifest,
//                                                                                             the config
//                              layers: { "<chainId>": LayerRecord } }                         diffId, parent chain id,
//                                                                                             compressed blob, index
//   blob <index/manifest>    as the registry served it, so digests stay verifiable and the image can be pushed
//   blob <config>            the image config (rootfs.diff_ids, history, run defaults)
//   blob <layer>             the compressed layer, as downloaded and verified
//   blob <layer index>       JSON LayerIndex: every path of the layer, sorted, parents first, with type, mode,
//                            uid, gid, size, mtime, link target, xattrs, device numbers, whiteout/opaque flags,
//                            and for regular files the digest of the blob with their bytes
//   blob <file bytes>        one per distinct file content (sha256 of the bytes), shared across layers and images
//
// A 9P server (fs9p/) serves a layer lazily: stat and readdir from the index, reads from a file blob with a byte
// range. Whiteouts are entries of type "whiteout" (show them as char 0:0 devices); opaque directories have
// `opaque: true` (answer the trusted.overlay.opaque xattr with "y").

export { type LoadedImage, loadImages, saveImages } from "./archive.ts";
export { chainIds } from "./chain-id.ts";
export {
  type CreateImageOptions,
  type HistoryItem,
  type ImageDetails,
  type ImageRecord,
  ImageStore,
  type ImageStoreOptions,
  type ImageSummary,
  type LayerProgress,
  type LayerRecord,
  type LayerStatus,
  type LayerStep,
  type NewImageLayer,
  type PulledImage,
  type PullOptions,
  type RemovedItem,
} from "./image-store.ts";
export {
  LAYER_INDEX_MEDIA_TYPE,
  type LayerEntry,
  type LayerEntryType,
  type LayerIndex,
  parseLayerIndex,
} from "./layer-index.ts";
export {
  type PushedTag,
  type PushImageOptions,
  type PushLayerStatus,
  type PushProgress,
  pushImage,
} from "./push.ts";
