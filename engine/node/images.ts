// Image storage on disk for Node: the fs content and metadata stores, hashed with node:crypto.
import { join } from "node:path";
import { ImageService, type ImageServiceOptions } from "../image-service.ts";
import { FsContentStore, FsMetadataStore } from "./content-fs.ts";
import { nodeHasherFactory } from "./hash.ts";

/**
 * Opens an image service that keeps its images under `root` (content/ and metadata/).
 * @example
 * const images = await openNodeImageService("/var/lib/drydock");
 * await images.pull("busybox");
 */
export async function openNodeImageService(
  root: string,
  options: Omit<ImageServiceOptions, "storage"> = {},
): Promise<ImageService> {
  const hashers = nodeHasherFactory;
  const content = await FsContentStore.open(join(root, "content"), { hashers });
  const metadata = await FsMetadataStore.open(join(root, "metadata"));
  return ImageService.open({ ...options, storage: { content, metadata, hashers } });
}
