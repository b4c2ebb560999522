// `docker push`: a stored image's layers and config go up through the registry client's push flow (several layers
// at once; each skipped, mounted or uploaded), then its manifest under the tag, byte for byte as stored, so the
// digest the registry announces is the one `docker images --digests` shows here.
import { EngineError } from "../errors.ts";
import {
  type Descriptor,
  type Digest,
  familiarReference,
  formatReference,
  type ImageReference,
  parseImageManifest,
  parseJson,
  parseReference,
  shortDigest,
} from "../oci/index.ts";
import { type BlobPushStatus, pushBlob, pushManifest, type RegistryClient } from "../registry/index.ts";
import type { ImageStore } from "./image-store.ts";

export type PushLayerStatus = "preparing" | "waiting" | BlobPushStatus;

/** Progress of one layer of a push, as `docker push` shows it (`d4fc045c9e3a: Pushed`). */
export interface PushProgress {
  /** The short id Docker prints: the first 12 hex digits of the layer's diff id. */
  id: string;
  status: PushLayerStatus;
  done: number;
  total: number;
  /** For "mounted": the repository it came from. */
  from?: string;
}

export interface PushedTag {
  /** `localhost:5000/app:1` */
  name: string;
  tag: string;
  digest: Digest;
  /** Bytes of the manifest. */
  size: number;
}

export interface PushImageOptions {
  /** Push only this tag; without it, every tag of the repository stored here (as `docker push` without a tag). */
  tag?: string;
  /** Layers sent at once. Default 3. */
  concurrency?: number;
  /** PATCH chunk size for big blobs (see registry/push.ts). */
  chunkSize?: number;
  /** Called once per tag, before its layers. */
  onTag?: (tag: string) => void;
  onProgress?: (progress: PushProgress) => void;
  /** Called as each tag's manifest is in. */
  onPushed?: (pushed: PushedTag) => void;
  signal?: AbortSignal;
}

/** Stored names in the same repository as `reference` (all its tags). */
async function repositoryTags(store: ImageStore, reference: ImageReference): Promise<string[]> {
  const tags: string[] = [];
  for (const image of await store.list()) {
    for (const name of image.repoTags) {
      const parsed = parseReference(name);
      if (parsed.registry === reference.registry && parsed.repository === reference.repository && parsed.tag) {
        tags.push(parsed.tag);
      }
    }
  }
  return tags.sort();
}

/** Repositories of the same registry whose stored manifests name each blob: where a mount can come from. */
async function mountSources(store: ImageStore, reference: ImageReference): Promise<Map<Digest, string[]>> {
  const sources = new Map<Digest, string[]>();
  for (const image of await store.list()) {
    for (const name of image.repoTags) {
      const parsed = parseReference(name);
      if (parsed.registry !== reference.registry || parsed.repository === reference.repository) continue;
      const { record } = await store.get(name);
      const manifest = parseImageManifest(
        parseJson(await store.content.readBytes(record.manifest.digest), `manifest of ${name}`),
        `manifest of ${name}`,
      );
      for (const blob of [manifest.config, ...manifest.layers]) {
        const list = sources.get(blob.digest) ?? [];
        if (!list.includes(parsed.repository)) list.push(parsed.repository);
        sources.set(blob.digest, list);
      }
    }
  }
  return sources;
}

/**
 * Pushes a stored image (one tag, or every tag of its repository) to its registry.
 * @example
 * await pushImage(store, client, parseReference("localhost:5000/app"), { onProgress: (p) => console.log(p.id, p.status) });
 */
export async function pushImage(
  store: ImageStore,
  client: RegistryClient,
  reference: ImageReference,
  options: PushImageOptions = {},
): Promise<PushedTag[]> {
  const repository = familiarReference({ ...reference, tag: undefined, digest: undefined });
  const tags = options.tag !== undefined ? [options.tag] : await repositoryTags(store, reference);
  if (tags.length === 0) {
    throw new EngineError("notFound", `An image does not exist locally with the tag: ${repository}`);
  }
  const mounts = await mountSources(store, reference);
  const pushed: PushedTag[] = [];
  for (const tag of tags) {
    const name = formatReference({ ...reference, tag, digest: undefined });
    const details = await store.get(name).catch((error: unknown) => {
      if (error instanceof EngineError && error.kind === "notFound") {
        throw new EngineError("notFound", `An image does not exist locally with the tag: ${repository}:${tag}`);
      }
      throw error;
    });
    options.onTag?.(tag);
    const manifestBytes = await store.content.readBytes(details.record.manifest.digest);
    const manifest = parseImageManifest(parseJson(manifestBytes, `manifest of ${name}`), `manifest of ${name}`);
    const target = { ...reference, tag };
    const read = (descriptor: Descriptor, offset: number, length: number) =>
      store.content.readBytes(descriptor.digest, { offset, length });
    const layers = manifest.layers.map((blob, index) => ({
      blob,
      id: shortDigest(details.config.rootfs.diff_ids[index] ?? blob.digest),
    }));
    for (const { blob, id } of layers) options.onProgress?.({ id, status: "preparing", done: 0, total: blob.size });
    for (const { blob, id } of layers) options.onProgress?.({ id, status: "waiting", done: 0, total: blob.size });
    const queue = [...layers];
    const limit = Math.max(1, options.concurrency ?? 3);
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const { blob, id } = next;
        options.signal?.throwIfAborted();
        await pushBlob(client, target, blob, read, {
          mountFrom: mounts.get(blob.digest) ?? [],
          ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          onProgress: (progress) => options.onProgress?.({ id, ...progress }),
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, layers.length) }, worker));
    await pushBlob(client, target, manifest.config, read, {
      mountFrom: mounts.get(manifest.config.digest) ?? [],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const descriptor = {
      ...details.record.manifest,
      mediaType: manifest.mediaType ?? details.record.manifest.mediaType,
    };
    await pushManifest(client, target, tag, descriptor, manifestBytes, options.signal);
    const item = {
      name: familiarReference(parseReference(name)),
      tag,
      digest: descriptor.digest,
      size: descriptor.size,
    };
    options.onPushed?.(item);
    pushed.push(item);
  }
  return pushed;
}
