// Where the layer server gets layers from: an index by chain id and byte ranges of file blobs. The interface is
// this narrow so that a test can serve layers from memory and the engine from its image store.
import { isEngineError } from "../errors.ts";
import type { ImageStore, LayerIndex, LayerRecord } from "../images/index.ts";
import type { Digest } from "../oci/index.ts";

/** What the layer server reads. Layers are immutable: what a chain id names never changes. */
export interface LayerSource {
  /** The index of the layer with this chain id, or undefined when there is none (the walk answers ENOENT). */
  layerIndex(chainId: Digest): Promise<LayerIndex | undefined>;
  /**
   * `length` bytes of a file's content blob from `offset`. The server asks only for ranges inside the size the
   * index gives, and treats fewer bytes as an I/O error.
   */
  readContent(content: Digest, offset: number, length: number): Promise<Uint8Array>;
  /** The chain ids the share's root lists. Without it, the root lists the layers walked to so far. */
  chainIds?(): Promise<Digest[]>;
}

/**
 * Serves the layers of an image store: every layer of every image it holds, found by chain id.
 * @example
 * const images = await openNodeImageService(dir);
 * machine.set9pHandler(createLayerServer(imageStoreLayers(images.store)));
 */
export function imageStoreLayers(store: ImageStore): LayerSource {
  // The store names layers only through images; a chain id it has not seen yet means: look at the images again.
  let records = new Map<Digest, LayerRecord>();
  const scan = async () => {
    const found = new Map<Digest, LayerRecord>();
    for (const image of await store.list()) {
      const details = await store.get(image.id).catch((error: unknown) => {
        // An image removed while we look is simply not there.
        if (isEngineError(error, "notFound")) return undefined;
        throw error;
      });
      for (const layer of details?.layers ?? []) found.set(layer.chainId, layer);
    }
    records = found;
    return found;
  };
  return {
    async layerIndex(chainId) {
      const record = records.get(chainId) ?? (await scan()).get(chainId);
      if (!record) return undefined;
      try {
        return await store.layerIndex(record);
      } catch (error) {
        if (!isEngineError(error, "notFound")) throw error;
        // Collected since we last looked (its image was removed).
        records.delete(chainId);
        return undefined;
      }
    },
    readContent(content, offset, length) {
      return store.content.readBytes(content, { offset, length });
    },
    async chainIds() {
      return [...(await scan()).keys()];
    },
  };
}
