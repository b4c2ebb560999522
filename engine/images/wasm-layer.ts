// A WebAssembly module layer (application/wasm and the older wasm-to-oci type) is the module's bytes, not a tar. It
// becomes a layer of one file at the root, whose content blob is the layer blob itself; its diff id is the one
// wasmArtifactConfig puts in rootfs.diff_ids (wasmLayerDiffId of the name and the module's digest).
import { type Digest, type HasherFactory, wasmLayerDiffId } from "../oci/index.ts";
import { LAYER_INDEX_MEDIA_TYPE } from "./layer-index.ts";
import type { UnpackedLayer } from "./unpack.ts";

/**
 * Reads a module layer to its end and returns the index of the one-file layer it stands for (`/name`, mode 0755).
 * @example
 * const { index } = await unpackWasmModuleLayer({ hashers, blob, name: "module.wasm" });
 */
export async function unpackWasmModuleLayer(options: {
  hashers: HasherFactory;
  blob: ReadableStream<Uint8Array>;
  name: string;
}): Promise<UnpackedLayer> {
  const hasher = options.hashers("sha256");
  let size = 0;
  const reader = options.blob.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    hasher.update(next.value);
    size += next.value.byteLength;
  }
  const moduleDigest: Digest = hasher.digest();
  const diffId = wasmLayerDiffId(options.name, moduleDigest);
  const root = { path: "", type: "directory" as const, mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 };
  const file = { path: options.name, type: "file" as const, mode: 0o755, uid: 0, gid: 0, size, mtime: 0 };
  return {
    diffId,
    size,
    index: {
      schemaVersion: 1,
      mediaType: LAYER_INDEX_MEDIA_TYPE,
      diffId,
      entries: [root, size > 0 ? { ...file, content: moduleDigest } : file],
    },
  };
}
