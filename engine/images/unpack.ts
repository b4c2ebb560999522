// Unpacking a layer while its bytes stream in: blob → decompress → (hash for the diff id) → tar entries → one
// content blob per file and an index entry per path. Whiteouts stay entries (overlayfs needs them in the lower
// layer, not applied), and `.wh..wh..opq` marks its directory opaque.
import { createTarDecoder, type ParsedTarEntry, type TarHeader } from "modern-tar";
import type { ContentStore } from "../content/index.ts";
import { EngineError } from "../errors.ts";
import type { Digest, HasherFactory, LayerCompression } from "../oci/index.ts";
import { decompressor } from "./decompress.ts";
import {
  LAYER_INDEX_MEDIA_TYPE,
  type LayerEntry,
  type LayerEntryType,
  type LayerIndex,
  normalizeLayerPath,
  parentPath,
} from "./layer-index.ts";

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
const XATTR_PREFIX = "SCHILY.xattr.";

const TAR_TYPES: Partial<Record<NonNullable<TarHeader["type"]>, LayerEntryType>> = {
  file: "file",
  directory: "directory",
  symlink: "symlink",
  link: "hardlink",
  "character-device": "characterDevice",
  "block-device": "blockDevice",
  fifo: "fifo",
};

export interface UnpackLayerOptions {
  store: ContentStore;
  hashers: HasherFactory;
  /** The layer blob's bytes as they arrive. */
  blob: ReadableStream<Uint8Array>;
  compression: LayerCompression;
  /** Told about each file blob written, so a failed pull can remove what nothing else uses. */
  onContent?: (digest: Digest) => void;
}

export interface UnpackedLayer {
  /** The sha256 of the uncompressed tar: compare it with the config's rootfs.diff_ids. */
  diffId: Digest;
  /** Bytes of the uncompressed tar. */
  size: number;
  index: LayerIndex;
}

async function readAll<T>(stream: ReadableStream<T>, each: (value: T) => Promise<void>): Promise<void> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) return;
      await each(next.value);
    }
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
}

function baseEntry(path: string, header: TarHeader, type: LayerEntryType): LayerEntry {
  const entry: LayerEntry = {
    path,
    type,
    mode: (header.mode ?? 0) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    size: 0,
    mtime: header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0,
  };
  const xattrs = Object.entries(header.pax ?? {}).filter(([key]) => key.startsWith(XATTR_PREFIX));
  if (xattrs.length > 0) {
    entry.xattrs = Object.fromEntries(xattrs.map(([key, value]) => [key.slice(XATTR_PREFIX.length), value]));
  }
  return entry;
}

function impliedDirectory(path: string): LayerEntry {
  return { path, type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 };
}

/**
 * Unpacks one layer into the content store and returns its index (not yet stored) and diff id. Throws what the
 * stream throws; the caller decides whether the result may be committed (blob digest and diff id both match).
 */
export async function unpackLayer(options: UnpackLayerOptions): Promise<UnpackedLayer> {
  const { store, hashers } = options;
  const diffHasher = hashers("sha256");
  let size = 0;
  const measure = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      diffHasher.update(chunk);
      size += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  const entries = options.blob
    .pipeThrough(decompressor(options.compression))
    .pipeThrough(measure)
    // Not strict: real layers (umoci's, for one) may end without the two zero blocks, which Go's reader and Docker
    // accept. A damaged or cut tar still fails: the blob digest and the diff id are both checked before commit.
    .pipeThrough(createTarDecoder());

  const byPath = new Map<string, LayerEntry>();
  const opaqueDirs = new Set<string>();

  const writeFile = async (entry: LayerEntry, body: ReadableStream<Uint8Array>, expectedSize: number) => {
    if (expectedSize === 0) {
      await body.cancel();
      return;
    }
    const writer = await store.writer();
    try {
      await readAll(body, (chunk) => writer.write(chunk));
      if (writer.offset !== expectedSize) {
        throw new EngineError(
          "dataLoss",
          `layer file ${entry.path} has ${writer.offset} bytes but its tar header says ${expectedSize}`,
        );
      }
      const info = await writer.commit({ digest: writer.digest(), size: writer.offset });
      options.onContent?.(info.digest);
      entry.content = info.digest;
      entry.size = info.size;
    } catch (error) {
      await writer.abort();
      throw error;
    }
  };

  await readAll(entries, async ({ header, body }: ParsedTarEntry) => {
    const path = normalizeLayerPath(header.name);
    const name = path.slice(path.lastIndexOf("/") + 1);
    const directory = parentPath(path);
    if (name === OPAQUE_MARKER) {
      opaqueDirs.add(directory);
      return body.cancel();
    }
    if (name.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) {
      // Other `.wh..wh.` names are aufs bookkeeping (`.wh..wh.plnk`), not content.
      return body.cancel();
    }
    if (name.startsWith(WHITEOUT_PREFIX)) {
      const hidden = (directory ? `${directory}/` : "") + name.slice(WHITEOUT_PREFIX.length);
      byPath.set(hidden, { ...baseEntry(hidden, header, "whiteout"), mode: 0 });
      return body.cancel();
    }
    const type = TAR_TYPES[header.type ?? "file"];
    if (type === undefined) return body.cancel();
    const entry = baseEntry(path, header, type);
    if (type === "file") {
      await writeFile(entry, body, header.size);
    } else {
      await body.cancel();
    }
    if (type === "symlink") entry.linkTarget = header.linkname ?? "";
    if (type === "hardlink") {
      const target = normalizeLayerPath(header.linkname ?? "");
      entry.linkTarget = target;
      const linked = byPath.get(target);
      if (linked?.type === "file") {
        entry.size = linked.size;
        if (linked.content) entry.content = linked.content;
      }
    }
    byPath.set(path, entry);
  });

  for (const directory of opaqueDirs) {
    const existing = byPath.get(directory);
    const entry = existing?.type === "directory" ? existing : impliedDirectory(directory);
    entry.opaque = true;
    byPath.set(directory, entry);
  }
  // A tar may name a/b/c without a or a/b; the 9P server needs every directory on the way.
  for (const path of [...byPath.keys()]) {
    for (let parent = path; parent !== ""; ) {
      parent = parentPath(parent);
      if (byPath.has(parent)) break;
      byPath.set(parent, impliedDirectory(parent));
    }
  }
  if (!byPath.has("")) byPath.set("", impliedDirectory(""));
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const diffId = diffHasher.digest();
  return { diffId, size, index: { schemaVersion: 1, mediaType: LAYER_INDEX_MEDIA_TYPE, diffId, entries: sorted } };
}
