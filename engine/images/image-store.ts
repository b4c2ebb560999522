// The image store: names and tags → manifests, configs, and unpacked layers keyed by chain id. It pulls through the
// registry client, streams each layer into the content store and unpacks it in the same pass, and commits an image
// only when every blob's digest and every layer's diff id is what the manifest and config promised.
import {
  type ContentStore,
  type ContentWriter,
  hasContent,
  type MetadataStore,
  type Provider,
  writeBlob,
} from "../content/index.ts";
import { EngineError, isEngineError } from "../errors.ts";
import {
  type Descriptor,
  type Digest,
  defaultHasherFactory,
  digestOf,
  familiarReference,
  formatReference,
  type HasherFactory,
  type HistoryEntry,
  type ImageConfig,
  type ImageManifest,
  type ImageReference,
  isWasmArtifactConfig,
  isWasmModuleLayer,
  layerCompression,
  MediaType,
  type Platform,
  parseImageConfig,
  parseImageManifest,
  parseJson,
  parseReference,
  platformMatches,
  shortDigest,
  wasmArtifactConfig,
  wasmModuleFileName,
} from "../oci/index.ts";
import type { RegistryClient } from "../registry/index.ts";
import { chainIds } from "./chain-id.ts";
import { type LayerIndex, parseLayerIndex, serializeLayerIndex } from "./layer-index.ts";
import { unpackLayer } from "./unpack.ts";
import { unpackWasmModuleLayer } from "./wasm-layer.ts";

/** An image name and what it points at. */
export interface ImageRecord {
  /** Fully qualified: `docker.io/library/alpine:latest`, or `<name>@<digest>` when pulled by digest alone. */
  name: string;
  /** What the name resolved to in the registry (an index for multi-platform images). */
  target: Descriptor;
  /** The linux/386 manifest. */
  manifest: Descriptor;
  config: Descriptor;
  /** When it was pulled, built or loaded (ISO 8601). */
  pulledAt: string;
  /** The image it was built on (its config digest), for a build step or a commit; prune keeps an image's parents. */
  parent?: Digest;
  /** The build cache key that made it (engine/build): a later build with the same key reuses the image. */
  cacheKey?: string;
  /** Made here (built, committed, loaded), not pulled: no registry has its manifest digest yet. */
  local?: boolean;
}

/**
 * A layer of an image being created: one already in the store, or a layer tar (compressed as its media type says)
 * to unpack and store.
 */
export type NewImageLayer =
  | { stored: LayerRecord }
  | { tar: Uint8Array | ReadableStream<Uint8Array>; mediaType: string };

/** An image to store from a config and layers (`docker build`, `docker commit`, `docker load`). */
export interface CreateImageOptions {
  /** The config; its rootfs is filled in from `layers`. */
  config: Omit<ImageConfig, "rootfs">;
  /** Base layer first. */
  layers: NewImageLayer[];
  /** Names to give it (`app:1`, `localhost:5000/app`); without one it is an untagged image, found by ID. */
  names?: string[];
  parent?: Digest;
  cacheKey?: string;
  /**
   * The config's exact bytes, kept as they are so the image keeps its ID (`docker load`); their rootfs must list
   * the layers' diff ids. `config` is then only checked against them.
   */
  configBytes?: Uint8Array;
}

/** An unpacked layer, shared by every image whose stack contains it. */
export interface LayerRecord {
  chainId: Digest;
  diffId: Digest;
  /** The chain id of the layer below, if any. */
  parent?: Digest;
  /** The compressed blob it was unpacked from. */
  blob: Descriptor;
  /** The layer index blob (see layer-index.ts). */
  index: { digest: Digest; size: number };
  /** Bytes of the uncompressed tar. */
  size: number;
}

interface ImagesDocument {
  version: 1;
  images: Record<string, ImageRecord>;
  layers: Record<string, LayerRecord>;
}

const DOCUMENT = "images.json";

/** The OCI name of a layer media type (Docker's gzip layers are the same bytes). */
function ociLayerMediaType(mediaType: string): string {
  return mediaType === MediaType.dockerLayerGzip ? MediaType.ociLayerGzip : mediaType;
}

/** An image with no name is kept under its ID (the config digest) and listed as `<none>:<none>`. */
const isUntagged = (record: ImageRecord) => record.name === record.config.digest;

export type LayerStatus = "waiting" | "downloading" | "exists" | "complete";

/** Progress of one layer of a pull. */
export interface LayerProgress {
  /** The compressed layer's digest (what `docker pull` shows, shortened). */
  digest: Digest;
  /** The short id Docker prints: the first 12 hex digits. */
  id: string;
  status: LayerStatus;
  /** Compressed bytes received so far. */
  done: number;
  total: number;
}

/**
 * One timed step of a layer's pull, for a waterfall: its download (request to last byte), its unpack (streamed with
 * the download, ending when the last file is stored) and its verification (the blob's digest, then the diff ID).
 * Times are performance.now() milliseconds.
 */
export interface LayerStep {
  digest: Digest;
  phase: "download" | "unpack" | "verify";
  start: number;
  end: number;
}

export interface PullOptions {
  onProgress?: (progress: LayerProgress) => void;
  /** Hears each layer's download, unpack and verify steps once they end. */
  onStep?: (step: LayerStep) => void;
  signal?: AbortSignal;
  /** The platform to pull (`docker pull --platform`); by default linux/386, or else wasi/wasm. */
  platform?: Platform;
}

/** An image as `docker images` lists it. Images sharing a config (same ID) are listed once, with all their names. */
export interface ImageSummary {
  /** The config digest: Docker's image ID. */
  id: Digest;
  /** `alpine:latest`, … */
  repoTags: string[];
  /** `alpine@sha256:…` (the digest the registry resolved the name to). */
  repoDigests: string[];
  /** From the config, if it says. */
  created?: string;
  /** Bytes of the uncompressed layers. */
  size: number;
  architecture: string;
  os: string;
  /** The config's labels (`LABEL` in a Dockerfile). */
  labels: Record<string, string>;
}

/** Everything the runtime needs to run an image. */
export interface ImageDetails {
  record: ImageRecord;
  config: ImageConfig;
  /** Base layer first. */
  layers: LayerRecord[];
}

/** One step of how an image was built, as `docker history` shows it (newest first). */
export interface HistoryItem {
  created?: string;
  createdBy: string;
  comment?: string;
  /** The layer this step added, if it added one (ENV, CMD… add none). */
  diffId?: Digest;
  /** Bytes of that layer, uncompressed; 0 for steps without one. */
  size: number;
  /** The image this step made, when it is still stored here (a build's steps, the image itself). */
  id?: Digest;
}

/** A pulled image, and whether it was already there (`Status: Image is up to date`). */
export interface PulledImage extends ImageDetails {
  upToDate: boolean;
}

/** What removing an image did, in Docker's words. */
export type RemovedItem = { untagged: string } | { deleted: Digest };

export interface ImageStoreOptions {
  content: ContentStore;
  metadata: MetadataStore;
  registry: RegistryClient;
  hashers?: HasherFactory;
  /** Layers downloaded at once. */
  concurrency?: number;
  /** Blobs something else keeps in the same content store (the in-engine registry's): collection spares them. */
  roots?: () => Promise<Iterable<Digest>>;
}

/** Runs `work` over items with at most `limit` running at once; fails fast, but lets running ones finish. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const errors: unknown[] = [];
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failed = true;
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

/**
 * Images in a content store. Safe to use from several calls at once: metadata changes are serialised, a layer being
 * pulled by one call is awaited (not downloaded again) by another, and garbage collection spares blobs in flight.
 */
export class ImageStore {
  readonly #content: ContentStore;
  readonly #metadata: MetadataStore;
  readonly #registry: RegistryClient;
  readonly #hashers: HasherFactory;
  readonly #concurrency: number;
  readonly #roots: (() => Promise<Iterable<Digest>>) | undefined;
  #document: ImagesDocument | undefined;
  #lock: Promise<unknown> = Promise.resolve();
  /** Blobs written, and chain ids needed, by pulls still running: garbage collection must not take them. */
  readonly #leases = new Set<Set<Digest>>();
  readonly #layersInFlight = new Map<Digest, Promise<LayerRecord>>();

  constructor(options: ImageStoreOptions) {
    this.#content = options.content;
    this.#metadata = options.metadata;
    this.#registry = options.registry;
    this.#hashers = options.hashers ?? defaultHasherFactory;
    this.#concurrency = options.concurrency ?? 3;
    this.#roots = options.roots;
  }

  /** The engine's small mutable documents (images.json here; the container records beside it). */
  get metadata(): MetadataStore {
    return this.#metadata;
  }

  /** Where file bytes of unpacked layers are read from (a layer index entry's `content`). */
  get content(): Provider {
    return this.#content;
  }

  // --- reading -------------------------------------------------------------------------------------------------

  async #load(): Promise<ImagesDocument> {
    if (this.#document) return this.#document;
    const bytes = await this.#metadata.read(DOCUMENT);
    if (bytes === undefined) {
      this.#document = { version: 1, images: {}, layers: {} };
    } else {
      const value = parseJson(bytes, "image store metadata") as Partial<ImagesDocument>;
      if (value.version !== 1 || typeof value.images !== "object" || typeof value.layers !== "object") {
        throw new EngineError("dataLoss", "the image store's metadata (images.json) is not in a format Drydock knows");
      }
      this.#document = value as ImagesDocument;
    }
    return this.#document;
  }

  /** Runs a change of the metadata document alone, and saves it. */
  async #update<T>(change: (document: ImagesDocument) => Promise<T> | T): Promise<T> {
    const run = this.#lock.then(async () => {
      const document = await this.#load();
      try {
        const result = await change(document);
        await this.#metadata.write(DOCUMENT, new TextEncoder().encode(JSON.stringify(document)));
        return result;
      } catch (error) {
        // The change may have been half made in memory: read the stored document again next time.
        this.#document = undefined;
        throw error;
      }
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  /**
   * Lists images, one per image ID, with all the names that point at it.
   * @example
   * for (const image of await store.list()) console.log(image.repoTags, image.id);
   */
  async list(options: { all?: boolean } = {}): Promise<ImageSummary[]> {
    const document = await this.#load();
    const byId = new Map<Digest, ImageSummary>();
    const named = new Set(
      Object.values(document.images)
        .filter((record) => !isUntagged(record))
        .map((record) => record.config.digest),
    );
    const parents = new Set(Object.values(document.images).map((record) => record.parent));
    for (const record of Object.values(document.images)) {
      // Docker lists top-level images: an untagged build step that another image stacks on shows only with -a.
      if (
        isUntagged(record) &&
        (named.has(record.config.digest) || (!options.all && parents.has(record.config.digest)))
      )
        continue;
      let summary = byId.get(record.config.digest);
      if (!summary) {
        const details = await this.#details(document, record);
        summary = {
          id: record.config.digest,
          repoTags: [],
          repoDigests: [],
          created: details.config.created,
          size: details.layers.reduce((sum, layer) => sum + layer.size, 0),
          architecture: details.config.architecture,
          os: details.config.os,
          labels: details.config.config?.Labels ?? {},
        };
        byId.set(record.config.digest, summary);
      }
      if (isUntagged(record)) continue;
      const reference = parseReference(record.name);
      if (reference.tag !== undefined) summary.repoTags.push(familiarReference({ ...reference, digest: undefined }));
      if (record.local) continue;
      const repoDigest = familiarReference({ ...reference, tag: undefined, digest: record.target.digest });
      if (!summary.repoDigests.includes(repoDigest)) summary.repoDigests.push(repoDigest);
    }
    return [...byId.values()];
  }

  async #details(document: ImagesDocument, record: ImageRecord): Promise<ImageDetails> {
    const configBytes = await this.#content.readBytes(record.config.digest);
    const what = `config of ${record.name}`;
    const config = isWasmArtifactConfig(record.config.mediaType)
      ? wasmArtifactConfig(
          parseJson(configBytes, what),
          parseImageManifest(parseJson(await this.#content.readBytes(record.manifest.digest), what), what).layers,
          what,
        )
      : parseImageConfig(parseJson(configBytes, what), what);
    const layers = chainIds(config.rootfs.diff_ids, this.#hashers).map((chainId) => {
      const layer = document.layers[chainId];
      if (!layer) throw new EngineError("dataLoss", `layer ${chainId} of ${record.name} is missing from the store`);
      return layer;
    });
    return { record, config, layers };
  }

  /**
   * Finds an image by name (`alpine`, `alpine:3.20`, `ghcr.io/x/y@sha256:…`) or ID (`sha256:…`, or a unique prefix of
   * its hex, as Docker accepts). Throws notFound.
   * @example
   * const { config, layers } = await store.get("busybox");
   */
  async get(nameOrId: string): Promise<ImageDetails> {
    const document = await this.#load();
    return this.#details(document, this.#find(document, nameOrId).records[0]!);
  }

  /**
   * How the image was built, newest step first, each step with the layer it added, like `docker history`.
   * @example
   * for (const step of await store.history("busybox")) console.log(step.createdBy, step.size);
   */
  async history(nameOrId: string): Promise<HistoryItem[]> {
    const { config, layers, record } = await this.get(nameOrId);
    // Images built without history (some tools omit it) still have layers: one step per layer then.
    const steps: HistoryEntry[] = config.history ?? layers.map(() => ({}));
    let next = 0;
    const items = steps.map((step): HistoryItem => {
      const layer = step.empty_layer ? undefined : layers[next++];
      const item: HistoryItem = { createdBy: step.created_by ?? "", size: layer?.size ?? 0 };
      if (step.created !== undefined) item.created = step.created;
      if (step.comment !== undefined) item.comment = step.comment;
      if (layer) item.diffId = layer.diffId;
      return item;
    });
    items.reverse();
    // A build keeps one image per step, each made on the one before: walk them to give each step its image ID.
    const document = await this.#load();
    const byId = (id: Digest) => Object.values(document.images).find((r) => r.config.digest === id);
    let current: ImageRecord | undefined = record;
    for (const item of items) {
      if (!current) break;
      item.id = current.config.digest;
      current = current.parent === undefined ? undefined : byId(current.parent);
    }
    return items;
  }

  /** Reads a layer's index, for serving its files (the 9P server). */
  async layerIndex(layer: LayerRecord): Promise<LayerIndex> {
    return parseLayerIndex(await this.#content.readBytes(layer.index.digest), `index of layer ${layer.chainId}`);
  }

  /** The records a name or ID matches: one for a name, all the image's names for an ID. */
  #find(document: ImagesDocument, nameOrId: string): { records: ImageRecord[]; byId: boolean } {
    // As Docker does: a name first (`beef` may be an image called beef), then an ID or a prefix of one.
    let reference: ImageReference | undefined;
    try {
      reference = parseReference(nameOrId);
    } catch {
      reference = undefined;
    }
    const record = reference && document.images[formatReference(reference)];
    if (record) return { records: [record], byId: false };
    const id = nameOrId.startsWith("sha256:") ? nameOrId.slice(7) : nameOrId;
    if (/^[0-9a-f]{4,64}$/.test(id)) {
      const records = Object.values(document.images).filter((record) => record.config.digest.slice(7).startsWith(id));
      const ids = new Set(records.map((record) => record.config.digest));
      if (ids.size > 1) throw new EngineError("invalidArgument", `"${nameOrId}" matches more than one image ID`);
      if (records.length > 0) return { records, byId: true };
    }
    throw new EngineError("notFound", `no such image: ${nameOrId}`);
  }

  // --- pulling -------------------------------------------------------------------------------------------------

  /**
   * Pulls an image: resolves it to linux/386, downloads and unpacks its layers (several at once, each streamed
   * straight into the store), and names it. Layers already present (by chain id) are not downloaded again.
   * @example
   * await store.pull("alpine:3.20", { onProgress: (p) => console.log(p.id, p.status, p.done, p.total) });
   */
  async pull(reference: string | ImageReference, options: PullOptions = {}): Promise<PulledImage> {
    const parsed = typeof reference === "string" ? parseReference(reference) : reference;
    const name = parsed.tag !== undefined ? formatReference({ ...parsed, digest: undefined }) : formatReference(parsed);
    const current = await this.#upToDate(name, parsed, options.platform);
    if (current) {
      for (const layer of current.layers) {
        options.onProgress?.({
          digest: layer.blob.digest,
          id: shortDigest(layer.blob.digest),
          status: "exists",
          done: layer.blob.size,
          total: layer.blob.size,
        });
      }
      return { ...current, upToDate: true };
    }
    const lease = new Set<Digest>();
    this.#leases.add(lease);
    // One failed layer stops the others: their downloads would only be thrown away.
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    try {
      const image = await this.#registry.resolveImage(parsed, options.platform);
      const put = async (bytes: Uint8Array, descriptor: Descriptor) => {
        lease.add(descriptor.digest);
        await writeBlob(this.#content, bytes, descriptor);
      };
      if (image.index) await put(image.index.bytes, image.index.descriptor);
      await put(image.manifest.bytes, image.manifest.descriptor);
      await put(image.config.bytes, image.config.descriptor);

      const diffIds = image.config.config.rootfs.diff_ids;
      const chain = chainIds(diffIds, this.#hashers);
      const layers = image.manifest.manifest.layers.map((blob, i) => ({
        blob,
        diffId: diffIds[i]!,
        chainId: chain[i]!,
        parent: chain[i - 1],
      }));
      // Layers this image needs stay alive while it is pulled, even those another image brought.
      for (const layer of layers) lease.add(layer.chainId);
      const document = await this.#load();
      const report = (blob: Descriptor, status: LayerStatus, done: number) =>
        options.onProgress?.({ digest: blob.digest, id: shortDigest(blob.digest), status, done, total: blob.size });
      for (const { blob, chainId } of layers) report(blob, document.layers[chainId] ? "exists" : "waiting", 0);
      await eachLimited(layers, this.#concurrency, async (layer) => {
        if (document.layers[layer.chainId]) return;
        signal.throwIfAborted();
        const inFlight = this.#layersInFlight.get(layer.chainId);
        if (inFlight) {
          await inFlight;
          report(layer.blob, "exists", layer.blob.size);
          return;
        }
        const pulling = this.#pullLayer(
          parsed,
          layer,
          lease,
          signal,
          (done) => report(layer.blob, "downloading", done),
          options.onStep,
        );
        this.#layersInFlight.set(layer.chainId, pulling);
        try {
          await pulling;
        } catch (error) {
          stop.abort(error);
          throw error;
        } finally {
          this.#layersInFlight.delete(layer.chainId);
        }
        report(layer.blob, "complete", layer.blob.size);
      });

      const record: ImageRecord = {
        name,
        target: image.target,
        manifest: image.manifest.descriptor,
        config: image.config.descriptor,
        pulledAt: new Date().toISOString(),
      };
      const replaced = await this.#update((document) => {
        const previous = document.images[name];
        document.images[name] = record;
        return previous;
      });
      // A tag that moved leaves its old image behind; collect it if nothing else names it.
      if (replaced && replaced.config.digest !== record.config.digest) await this.#collect();
      return { ...(await this.get(name)), upToDate: false };
    } catch (error) {
      this.#leases.delete(lease);
      // Blobs of a failed pull that no image uses must not linger: nothing of it is committed.
      await this.#collect(lease).catch(() => {});
      throw error;
    } finally {
      this.#leases.delete(lease);
    }
  }

  /** The stored image, if `name` has one and the registry still points the reference at it. */
  async #upToDate(name: string, reference: ImageReference, platform?: Platform): Promise<ImageDetails | undefined> {
    const existing = (await this.#load()).images[name];
    if (!existing) return undefined;
    // The name holds another platform's image (`--platform wasi/wasm` after a linux/386 pull): pull the one asked for.
    if (platform && !platformMatches((await this.get(name)).config, platform)) return undefined;
    if (reference.digest !== undefined) {
      return reference.digest === existing.target.digest ? this.get(name) : undefined;
    }
    // Any trouble asking (an old registry without HEAD, say) just means: pull as usual.
    const now = await this.#registry.head(reference).catch(() => undefined);
    return now?.digest === existing.target.digest ? this.get(name) : undefined;
  }

  async #pullLayer(
    reference: ImageReference,
    layer: { blob: Descriptor; diffId: Digest; chainId: Digest; parent: Digest | undefined },
    lease: Set<Digest>,
    signal: AbortSignal,
    onBytes: (done: number) => void,
    onStep: PullOptions["onStep"],
  ): Promise<LayerRecord> {
    const { blob } = layer;
    const started = performance.now();
    let lastByte = started;
    const compression = layerCompression(blob.mediaType);
    const wasmModule = isWasmModuleLayer(blob.mediaType);
    if (compression === undefined && !wasmModule) {
      throw new EngineError(
        "invalidArgument",
        `layer ${blob.digest} has media type ${blob.mediaType}, which is not a layer`,
      );
    }
    lease.add(blob.digest);
    const alreadyStored = await hasContent(this.#content, blob.digest);
    const source = alreadyStored
      ? await this.#content.read(blob.digest)
      : this.#registry.fetchBlob(reference, blob, {
          onProgress: ({ done }) => {
            lastByte = performance.now();
            onBytes(done);
          },
          signal,
        });
    const writer: ContentWriter | undefined = alreadyStored
      ? undefined
      : await this.#content.writer({ expected: { digest: blob.digest, size: blob.size } });
    // Every byte goes to the blob writer (which hashes it) on its way to the unpacker.
    const tap = new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        await writer?.write(chunk);
        controller.enqueue(chunk);
      },
    });
    try {
      const unpacked = await (compression === undefined
        ? unpackWasmModuleLayer({
            hashers: this.#hashers,
            blob: source.pipeThrough(tap),
            name: wasmModuleFileName(blob),
          })
        : unpackLayer({
            store: this.#content,
            hashers: this.#hashers,
            blob: source.pipeThrough(tap),
            compression,
            onContent: (digest) => lease.add(digest),
          })
      ).catch((error: unknown) => {
        // What the layer itself holds (a hostile or damaged tar) is named with the layer; registry and abort errors
        // say what they are already.
        if (isEngineError(error) && error.kind !== "invalidArgument" && error.kind !== "dataLoss") throw error;
        throw new EngineError(
          isEngineError(error) ? error.kind : "dataLoss",
          `layer ${blob.digest} of ${familiarReference(reference)} could not be unpacked: ${(error as Error).message}`,
          { cause: error },
        );
      });
      const unpackedAt = performance.now();
      await writer?.commit({ digest: blob.digest, size: blob.size });
      if (unpacked.diffId !== layer.diffId) {
        throw new EngineError(
          "dataLoss",
          `layer ${blob.digest} of ${familiarReference(reference)} unpacks to ${unpacked.diffId}, but the image config says ${layer.diffId}`,
        );
      }
      if (!alreadyStored) onStep?.({ digest: blob.digest, phase: "download", start: started, end: lastByte });
      onStep?.({ digest: blob.digest, phase: "unpack", start: started, end: unpackedAt });
      onStep?.({ digest: blob.digest, phase: "verify", start: unpackedAt, end: performance.now() });
      const indexBytes = serializeLayerIndex(unpacked.index);
      const index = { digest: digestOf(indexBytes, "sha256", this.#hashers), size: indexBytes.byteLength };
      lease.add(index.digest);
      await writeBlob(this.#content, indexBytes, index);
      const record: LayerRecord = {
        chainId: layer.chainId,
        diffId: layer.diffId,
        blob,
        index,
        size: unpacked.size,
      };
      if (layer.parent !== undefined) record.parent = layer.parent;
      await this.#update((document) => {
        document.layers[layer.chainId] = record;
      });
      return record;
    } catch (error) {
      await writer?.abort();
      throw error;
    }
  }

  // --- creating ------------------------------------------------------------------------------------------------

  /**
   * Stores an image made here from a config and its layers: the build's steps, `docker commit` and `docker load`
   * use it. New layers (tars) are unpacked into the store and kept as given (their media type says how they are
   * compressed); the config's rootfs is filled in, and an OCI manifest is written, so the image can be run, pushed
   * and saved like a pulled one. The image ID is the config's digest.
   * @example
   * const base = await store.get("busybox");
   * const image = await store.create({
   *   config: { ...base.config, history: [...(base.config.history ?? []), { created_by: "COPY hi /" }] },
   *   layers: [...base.layers.map((stored) => ({ stored })), { tar: layerTar, mediaType: MediaType.ociLayerTar }],
   *   names: ["hi:latest"],
   * });
   */
  async create(options: CreateImageOptions): Promise<ImageDetails> {
    const lease = new Set<Digest>();
    this.#leases.add(lease);
    try {
      const layers: LayerRecord[] = [];
      for (const layer of options.layers) {
        const parent = layers.at(-1)?.chainId;
        if ("stored" in layer) {
          const expected = parent ? this.#chainId(parent, layer.stored.diffId) : layer.stored.diffId;
          if (expected !== layer.stored.chainId) {
            throw new EngineError(
              "invalidArgument",
              `layer ${layer.stored.chainId} does not sit on ${parent ?? "nothing"}`,
            );
          }
          lease.add(layer.stored.chainId);
          layers.push(layer.stored);
        } else {
          layers.push(await this.#storeLayer(layer.tar, layer.mediaType, parent, lease));
        }
      }
      const history = options.config.history;
      if (history && history.filter((step) => !step.empty_layer).length !== layers.length) {
        throw new EngineError(
          "invalidArgument",
          `the image's history has ${history.filter((step) => !step.empty_layer).length} steps with a layer, but it has ${layers.length} layers`,
        );
      }
      const config: ImageConfig = {
        ...options.config,
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      };
      const configBytes = options.configBytes ?? new TextEncoder().encode(JSON.stringify(config));
      if (options.configBytes) {
        const given = parseImageConfig(parseJson(options.configBytes, "image config"), "image config");
        if (given.rootfs.diff_ids.join() !== config.rootfs.diff_ids.join()) {
          throw new EngineError(
            "dataLoss",
            `the image config lists layers ${given.rootfs.diff_ids.join(", ")} but the layers are ${config.rootfs.diff_ids.join(", ")}`,
          );
        }
      }
      const configDescriptor: Descriptor = {
        mediaType: MediaType.ociImageConfig,
        digest: digestOf(configBytes, "sha256", this.#hashers),
        size: configBytes.byteLength,
      };
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.ociImageManifest,
        config: configDescriptor,
        layers: layers.map((layer) => ({ ...layer.blob, mediaType: ociLayerMediaType(layer.blob.mediaType) })),
      };
      const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
      const manifestDescriptor: Descriptor = {
        mediaType: MediaType.ociImageManifest,
        digest: digestOf(manifestBytes, "sha256", this.#hashers),
        size: manifestBytes.byteLength,
      };
      for (const [bytes, descriptor] of [
        [configBytes, configDescriptor],
        [manifestBytes, manifestDescriptor],
      ] as const) {
        lease.add(descriptor.digest);
        await writeBlob(this.#content, bytes, descriptor);
      }
      const id = configDescriptor.digest;
      const names = (options.names ?? []).map((name) => {
        const parsed = parseReference(name);
        if (parsed.digest !== undefined) {
          throw new EngineError("invalidArgument", `refusing to create a tag with a digest reference: ${name}`);
        }
        return formatReference({ ...parsed, tag: parsed.tag ?? "latest" });
      });
      const base: Omit<ImageRecord, "name"> = {
        target: manifestDescriptor,
        manifest: manifestDescriptor,
        config: configDescriptor,
        pulledAt: new Date().toISOString(),
        local: true,
      };
      if (options.parent !== undefined) base.parent = options.parent;
      if (options.cacheKey !== undefined) base.cacheKey = options.cacheKey;
      const replaced = await this.#update((document) => {
        const moved: ImageRecord[] = [];
        // The untagged record stays while a build step has no name of its own: the build cache finds it there.
        if (names.length === 0 || options.cacheKey !== undefined) {
          const existing = document.images[id];
          document.images[id] = { ...existing, ...base, name: id };
        }
        for (const name of names) {
          const previous = document.images[name];
          if (previous && previous.config.digest !== id) moved.push(previous);
          document.images[name] = { ...base, name };
        }
        return moved;
      });
      if (replaced.length > 0) await this.#collect();
      return this.get(names[0] ?? id);
    } catch (error) {
      this.#leases.delete(lease);
      await this.#collect(lease).catch(() => {});
      throw error;
    } finally {
      this.#leases.delete(lease);
    }
  }

  /** The chain id of a layer with `diffId` on the chain `parent` (image-spec config.md). */
  #chainId(parent: Digest, diffId: Digest): Digest {
    return digestOf(new TextEncoder().encode(`${parent} ${diffId}`), "sha256", this.#hashers);
  }

  /** Unpacks a layer tar into the store and records it on top of `parent` (a chain id). */
  async #storeLayer(
    tar: Uint8Array | ReadableStream<Uint8Array>,
    mediaType: string,
    parent: Digest | undefined,
    lease: Set<Digest>,
  ): Promise<LayerRecord> {
    const compression = layerCompression(mediaType);
    if (compression === undefined) {
      throw new EngineError("invalidArgument", `media type ${mediaType} is not a layer's`);
    }
    const source = tar instanceof Uint8Array ? new Blob([tar as Uint8Array<ArrayBuffer>]).stream() : tar;
    const writer = await this.#content.writer();
    const tap = new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        await writer.write(chunk);
        controller.enqueue(chunk);
      },
    });
    try {
      const unpacked = await unpackLayer({
        store: this.#content,
        hashers: this.#hashers,
        blob: source.pipeThrough(tap),
        compression,
        onContent: (digest) => lease.add(digest),
      }).catch((error: unknown) => {
        if (isEngineError(error)) throw error;
        throw new EngineError("invalidArgument", `the layer could not be unpacked: ${(error as Error).message}`, {
          cause: error,
        });
      });
      const size = writer.offset;
      const info = await writer.commit({ digest: await writer.digest(), size });
      lease.add(info.digest);
      const chainId = parent ? this.#chainId(parent, unpacked.diffId) : unpacked.diffId;
      lease.add(chainId);
      const existing = (await this.#load()).layers[chainId];
      if (existing) return existing;
      const indexBytes = serializeLayerIndex(unpacked.index);
      const index = { digest: digestOf(indexBytes, "sha256", this.#hashers), size: indexBytes.byteLength };
      lease.add(index.digest);
      await writeBlob(this.#content, indexBytes, index);
      const record: LayerRecord = {
        chainId,
        diffId: unpacked.diffId,
        blob: { mediaType, digest: info.digest, size: info.size },
        index,
        size: unpacked.size,
      };
      if (parent !== undefined) record.parent = parent;
      await this.#update((document) => {
        document.layers[chainId] ??= record;
      });
      return record;
    } catch (error) {
      await writer.abort();
      throw error;
    }
  }

  /**
   * The image a build step made before with this cache key, if it is still stored.
   * @example
   * const hit = await store.cached(key); // ImageDetails | undefined
   */
  async cached(cacheKey: string): Promise<ImageDetails | undefined> {
    const document = await this.#load();
    const record = Object.values(document.images).find((record) => record.cacheKey === cacheKey);
    return record ? this.#details(document, record) : undefined;
  }

  // --- removing ------------------------------------------------------------------------------------------------

  /**
   * Gives an image another name (`docker tag`): the new name points at the same manifest, config and layers. A name
   * that pointed elsewhere moves, and what it pointed at is collected if nothing else names it.
   * @example
   * await store.tag("busybox", "localhost:5000/mine:1"); // "localhost:5000/mine:1"
   */
  async tag(source: string, target: string): Promise<{ id: Digest; name: string }> {
    const parsed = parseReference(target);
    if (parsed.digest !== undefined) {
      throw new EngineError("invalidArgument", `refusing to create a tag with a digest reference: ${target}`);
    }
    const name = formatReference({ ...parsed, tag: parsed.tag ?? "latest" });
    const { replaced, id } = await this.#update((document) => {
      const record = this.#find(document, source).records[0]!;
      const previous = document.images[name];
      document.images[name] = { ...record, name, pulledAt: new Date().toISOString() };
      return { replaced: previous, id: record.config.digest };
    });
    if (replaced && replaced.config.digest !== id) await this.#collect();
    return { id, name: familiarReference(parseReference(name)) };
  }

  /**
   * Removes an image name, or all names of an image ID (with `force` when there are several, as Docker asks), then
   * deletes the blobs and layers no remaining image uses.
   * @example
   * await store.remove("alpine:3.20"); // [{ untagged: "alpine:3.20" }, { deleted: "sha256:…" }]
   */
  async remove(nameOrId: string, options: { force?: boolean } = {}): Promise<RemovedItem[]> {
    const removed = await this.#update((document) => {
      const { records } = this.#find(document, nameOrId);
      const named = records.filter((record) => !isUntagged(record));
      if (named.length > 1 && !options.force) {
        throw new EngineError(
          "conflict",
          `unable to delete ${nameOrId} (must be forced): the image is referenced by ${named.map((r) => familiarReference(parseReference(r.name))).join(", ")}`,
        );
      }
      const items: RemovedItem[] = [];
      for (const record of records) {
        if (isUntagged(record)) continue;
        delete document.images[record.name];
        items.push({ untagged: familiarReference(parseReference(record.name)) });
      }
      const configs = new Set(records.map((record) => record.config.digest));
      for (const config of configs) {
        if (named.length === 0 && this.#children(document, config).length > 0) {
          throw new EngineError(
            "conflict",
            `conflict: unable to delete ${shortDigest(config)} (cannot be forced) - image has dependent child images`,
          );
        }
        items.push(...this.#deleteUnnamed(document, config));
      }
      return items;
    });
    await this.#collect();
    return removed;
  }

  /** Images built on `config`. */
  #children(document: ImagesDocument, config: Digest): ImageRecord[] {
    return Object.values(document.images).filter((record) => record.parent === config);
  }

  /**
   * Deletes an image ID that no name points at any more, and then its untagged parents that nothing else is built
   * on (the build steps of a removed image, as Docker deletes them).
   */
  #deleteUnnamed(document: ImagesDocument, config: Digest): RemovedItem[] {
    const items: RemovedItem[] = [];
    for (let id: Digest | undefined = config; id !== undefined; ) {
      const records = Object.values(document.images).filter((record) => record.config.digest === id);
      if (records.some((record) => !isUntagged(record)) || this.#children(document, id).length > 0) break;
      const parent: Digest | undefined = records[0]?.parent;
      for (const record of records) delete document.images[record.name];
      items.push({ deleted: id });
      id = parent;
    }
    return items;
  }

  /**
   * Removes dangling images (`docker image prune`): untagged images nothing is built on, with their untagged build
   * steps; with `all`, every image no container uses (`inUse`: image IDs). Says what went and how many bytes of
   * content that freed.
   * @example
   * const { items, reclaimed } = await store.prune({ all: true, inUse: new Set([busyboxId]) });
   */
  async prune(options: { all?: boolean; inUse?: ReadonlySet<Digest> } = {}): Promise<{
    items: RemovedItem[];
    reclaimed: number;
  }> {
    const before = await this.#content.usage();
    const items = await this.#update((document) => {
      const items: RemovedItem[] = [];
      if (options.all) {
        for (const record of Object.values(document.images)) {
          if (isUntagged(record) || options.inUse?.has(record.config.digest)) continue;
          if (this.#children(document, record.config.digest).length > 0) continue;
          delete document.images[record.name];
          items.push({ untagged: familiarReference(parseReference(record.name)) });
        }
      }
      for (const record of Object.values(document.images)) {
        if (!document.images[record.name] || !isUntagged(record)) continue;
        if (options.inUse?.has(record.config.digest)) continue;
        if (this.#children(document, record.config.digest).length > 0) continue;
        items.push(...this.#deleteUnnamed(document, record.config.digest));
      }
      return items;
    });
    await this.#collect();
    const after = await this.#content.usage();
    return { items, reclaimed: Math.max(0, before.size - after.size) };
  }

  /**
   * Deletes layer records and blobs that no image uses and no running pull holds. With `candidates`, only those
   * blobs are considered (a failed pull cleans up after itself without walking the whole store).
   */
  async #collect(candidates?: Set<Digest>): Promise<void> {
    await this.#update(async (document) => {
      const used = new Set<Digest>();
      const usedLayers = new Set<string>();
      for (const record of Object.values(document.images)) {
        used.add(record.target.digest);
        used.add(record.manifest.digest);
        used.add(record.config.digest);
        try {
          const details = await this.#details(document, record);
          for (const layer of details.layers) usedLayers.add(layer.chainId);
        } catch {
          // An image whose config is unreadable keeps nothing alive; it is reported when used.
        }
      }
      const leased = new Set<Digest>();
      for (const lease of this.#leases) for (const digest of lease) leased.add(digest);
      for (const chainId of Object.keys(document.layers) as Digest[]) {
        if (!usedLayers.has(chainId) && !leased.has(chainId) && !this.#layersInFlight.has(chainId)) {
          delete document.layers[chainId];
        }
      }
      for (const layer of Object.values(document.layers)) {
        used.add(layer.blob.digest);
        used.add(layer.index.digest);
        const index = await this.layerIndex(layer).catch(() => undefined);
        for (const entry of index?.entries ?? []) if (entry.content) used.add(entry.content);
      }
      for (const digest of leased) used.add(digest);
      for (const digest of (await this.#roots?.()) ?? []) used.add(digest);
      const doomed: Digest[] = [];
      if (candidates) {
        for (const digest of candidates) if (!used.has(digest)) doomed.push(digest);
      } else {
        for await (const info of this.#content.list()) if (!used.has(info.digest)) doomed.push(info.digest);
      }
      for (const digest of doomed) {
        await this.#content.delete(digest).catch((error: unknown) => {
          if (!isEngineError(error, "notFound")) throw error;
        });
      }
    });
  }
}
