// Unpacking a layer while its bytes stream in: blob → decompress → (hash for the diff id) → tar entries → one
// content blob per file and an index entry per path. Whiteouts stay entries (overlayfs needs them in the lower
// layer, not applied), and `.wh..wh..opq` marks its directory opaque.
//
// Layers come from strangers, so every entry lands inside the layer or the layer is refused, as containerd and
// Docker unpack: `..` never leaves the root; a path under a symlink of the same layer is resolved within the layer
// (an absolute target from the layer's root); a hard link must name a file earlier in the layer; a later entry
// replaces an earlier one (a directory replaced by a file takes its children with it); device nodes and setuid bits
// are kept as entries with their numbers (the container's confinement decides what they may do); a damaged, cut or
// oversized header (a PAX or long-name header over Go's 1 MiB) ends the unpack with an error.
import { createTarDecoder, type ParsedTarEntry, type TarHeader } from "modern-tar";
import type { ContentStore } from "../content/index.ts";
import { EngineError, isEngineError } from "../errors.ts";
import {
  type Digest,
  type HasherFactory,
  type LayerCompression,
  type StreamHasher,
  streamHasher,
} from "../oci/index.ts";
import { decompressor } from "./decompress.ts";
import {
  LAYER_INDEX_MEDIA_TYPE,
  type LayerEntry,
  type LayerEntryType,
  type LayerIndex,
  normalizeLayerPath,
  parentPath,
} from "./layer-index.ts";
import { type TarHeaderFacts, TarHeaderTap } from "./tar-headers.ts";

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

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Base64 of bytes (values of xattrs that are not text). */
function base64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

function baseEntry(path: string, header: TarHeader, type: LayerEntryType, facts?: TarHeaderFacts): LayerEntry {
  const entry: LayerEntry = {
    path,
    type,
    mode: (header.mode ?? 0) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    size: 0,
    mtime: header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0,
  };
  // The header tap read the values as bytes; modern-tar's `pax` has them as text, lossy for binary ones.
  const raw =
    facts?.xattrs ??
    new Map(
      Object.entries(header.pax ?? {})
        .filter(([key]) => key.startsWith(XATTR_PREFIX))
        .map(([key, value]) => [key.slice(XATTR_PREFIX.length), new TextEncoder().encode(value)]),
    );
  const text: Record<string, string> = {};
  const binary: Record<string, string> = {};
  for (const [name, value] of raw) {
    try {
      text[name] = strictUtf8.decode(value);
    } catch {
      binary[name] = base64(value);
    }
  }
  if (Object.keys(text).length > 0) entry.xattrs = text;
  if (Object.keys(binary).length > 0) entry.binaryXattrs = binary;
  return entry;
}

/** What a layer error says to a user: the tar reader's and decompressors' terse words made clear. */
function layerError(error: unknown): unknown {
  if (isEngineError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const explain = (why: string) => new EngineError("dataLoss", why, { cause: error });
  if (/truncated/i.test(message)) return explain("the layer's tar is cut short: it ends inside an entry");
  if (/checksum|Invalid tar header/i.test(message)) {
    return explain("the layer's tar has a damaged header (its checksum does not match)");
  }
  if (/Invalid EOF/i.test(message)) return explain("the layer's tar has data after its end-of-archive marker");
  return explain(`the layer cannot be decompressed or read: ${message}`);
}

/**
 * What the tar's bytes go through between the decompressor and modern-tar's decoder, in one step: they are gathered
 * into batches of TAR_BATCH bytes (a decompressor hands out 16 KiB at a time, and every chunk costs each stream
 * after it a read, a promise and a hash update), hashed for the diff id, counted, and read by the header tap. At the
 * end it appends the tar's end-of-archive blocks when the stream stops at a block boundary without them (umoci's
 * layers do; Go's reader, and so Docker, accepts that), so the strict reader accepts that end and only that: a stream
 * cut inside a header or a file still fails. The appended blocks are not part of the diff id.
 */
function tarBytes(
  diffHasher: StreamHasher,
  headers: TarHeaderTap,
): { stream: TransformStream<Uint8Array, Uint8Array>; size: () => number } {
  let total = 0;
  let batch: Uint8Array | undefined;
  let used = 0;
  const pass = (bytes: Uint8Array, controller: TransformStreamDefaultController<Uint8Array>) => {
    const hashed = diffHasher.update(bytes);
    total += bytes.byteLength;
    headers.read(bytes);
    controller.enqueue(bytes);
    return hashed;
  };
  const passBatch = (controller: TransformStreamDefaultController<Uint8Array>) => {
    if (!batch || used === 0) return undefined;
    // A new buffer for each batch: the decoder hands out views of it that a file's writer may still hold.
    const full = batch.subarray(0, used);
    batch = undefined;
    used = 0;
    pass(full, controller);
  };
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (used === 0 && chunk.byteLength >= TAR_BATCH) return pass(chunk, controller);
      let at = 0;
      const hashing: Promise<void>[] = [];
      while (at < chunk.byteLength) {
        batch ??= new Uint8Array(TAR_BATCH);
        const take = Math.min(TAR_BATCH - used, chunk.byteLength - at);
        batch.set(chunk.subarray(at, at + take), used);
        used += take;
        at += take;
        if (used === TAR_BATCH) {
          const hashed = passBatch(controller);
          if (hashed) hashing.push(hashed);
        }
      }
      return hashing.length ? Promise.all(hashing).then(() => {}) : undefined;
    },
    async flush(controller) {
      await passBatch(controller);
      if (total % 512 === 0) {
        const end = new Uint8Array(1024);
        headers.read(end);
        controller.enqueue(end);
      }
    },
  });
  return { stream, size: () => total };
}

/** Bytes of tar gathered before they go on to the hasher, the header tap and the decoder. */
const TAR_BATCH = 256 * 1024;

/** The largest device numbers the guest's kernel can name (a 12-bit major, a 20-bit minor). */
const MAX_DEVICE_MAJOR = 0xfff;
const MAX_DEVICE_MINOR = 0xfffff;

/** A device entry's numbers, or a clear refusal of numbers the guest's kernel cannot make a node of. */
function deviceNumbers(path: string, facts: TarHeaderFacts): { devMajor: number; devMinor: number } {
  const { devMajor, devMinor } = facts;
  if (devMajor > MAX_DEVICE_MAJOR || devMinor > MAX_DEVICE_MINOR) {
    throw new EngineError(
      "invalidArgument",
      `layer entry "${path}" is a device ${devMajor}:${devMinor}, which Linux cannot number (the major must be at most ${MAX_DEVICE_MAJOR}, the minor at most ${MAX_DEVICE_MINOR})`,
    );
  }
  return { devMajor, devMinor };
}

/** Most symlinks followed for one path, as the kernel's limit (ELOOP). */
const MAX_LINK_HOPS = 40;

/**
 * Where a path lands when its parent directories are looked up as the kernel would with the layer as the root: a
 * symlink of this layer among them is followed (an absolute target starts again at the layer's root, `..` stops at
 * it), so `link/x` with `link → /etc` is the layer's `etc/x`, never the host's. The last part is not followed.
 * @example
 * resolveInLayer("up/x", new Map([["up", { type: "symlink", linkTarget: "../../.." }]])); // "x"
 */
export function resolveInLayer(path: string, byPath: ReadonlyMap<string, LayerEntry>): string {
  const parts = path.split("/");
  const name = parts.pop() ?? "";
  const pending = parts;
  let resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const here = [...resolved, part].join("/");
    const entry = byPath.get(here);
    if (entry?.type === "symlink") {
      if (++hops > MAX_LINK_HOPS) {
        throw new EngineError("invalidArgument", `layer entry "${path}": too many levels of symbolic links`);
      }
      const target = entry.linkTarget ?? "";
      if (target.startsWith("/")) resolved = [];
      pending.unshift(...target.split("/"));
      continue;
    }
    if (entry && entry.type !== "directory" && entry.type !== "whiteout") {
      throw new EngineError(
        "invalidArgument",
        `layer entry "${path}" is under "${here}", which the layer makes a ${entry.type}, not a directory`,
      );
    }
    resolved.push(part);
  }
  return [...resolved, name].filter(Boolean).join("/");
}

/** The entry a hard link names: a file (or symlink) earlier in this layer, never a path outside it. */
function hardLinkTarget(path: string, linkname: string, byPath: ReadonlyMap<string, LayerEntry>): LayerEntry {
  let target: string;
  try {
    target = resolveInLayer(normalizeLayerPath(linkname), byPath);
  } catch (error) {
    throw new EngineError("invalidArgument", `hard link "${path}" points to "${linkname}", outside the layer`, {
      cause: error,
    });
  }
  const linked = byPath.get(target);
  if (!linked || !["file", "hardlink", "symlink"].includes(linked.type)) {
    throw new EngineError(
      "invalidArgument",
      `hard link "${path}" points to "${linkname}", which is not a file earlier in this layer (a hard link cannot reach another layer)`,
    );
  }
  return linked;
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
  // The tar's hash may be on another thread (a hashing worker): a batch waits only when that thread is behind.
  const diffHasher = streamHasher(hashers, "sha256");
  const headers = new TarHeaderTap();
  const tar = tarBytes(diffHasher, headers);
  const entries = options.blob
    .pipeThrough(decompressor(options.compression))
    .pipeThrough(tar.stream)
    .pipeThrough(createTarDecoder({ strict: true }));

  const byPath = new Map<string, LayerEntry>();
  const opaqueDirs = new Set<string>();
  /** A later entry replaces an earlier one; a directory replaced by anything else loses what was under it. */
  const put = (entry: LayerEntry) => {
    const existing = byPath.get(entry.path);
    if (existing?.type === "directory" && entry.type !== "directory") {
      const under = `${entry.path}/`;
      for (const path of byPath.keys()) if (path.startsWith(under)) byPath.delete(path);
      for (const path of opaqueDirs) if (path === entry.path || path.startsWith(under)) opaqueDirs.delete(path);
    }
    byPath.set(entry.path, entry);
  };

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
      const info = await writer.commit({ digest: await writer.digest(), size: writer.offset });
      options.onContent?.(info.digest);
      entry.content = info.digest;
      entry.size = info.size;
    } catch (error) {
      await writer.abort();
      throw error;
    }
  };

  await readAll(entries, async ({ header, body }: ParsedTarEntry) => {
    const facts = headers.next(header);
    const path = resolveInLayer(normalizeLayerPath(header.name), byPath);
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
      put({ ...baseEntry(hidden, header, "whiteout", facts), mode: 0 });
      return body.cancel();
    }
    const type = TAR_TYPES[header.type ?? "file"];
    if (type === undefined) return body.cancel();
    const entry = baseEntry(path, header, type, facts);
    if (type === "characterDevice" || type === "blockDevice") Object.assign(entry, deviceNumbers(path, facts));
    // Checked before any byte of it is stored.
    const linked = type === "hardlink" ? hardLinkTarget(path, header.linkname ?? "", byPath) : undefined;
    if (type === "file") {
      await writeFile(entry, body, header.size);
    } else {
      await body.cancel();
    }
    if (type === "symlink") entry.linkTarget = header.linkname ?? "";
    if (linked) {
      entry.linkTarget = linked.path;
      if (linked.type === "symlink") {
        // A hard link to a symlink is that symlink again.
        entry.type = "symlink";
        entry.linkTarget = linked.linkTarget ?? "";
      } else {
        entry.size = linked.size;
        if (linked.content) entry.content = linked.content;
      }
    }
    put(entry);
  }).catch((error: unknown) => {
    diffHasher.cancel();
    throw layerError(error);
  });

  for (const directory of opaqueDirs) {
    const existing = byPath.get(directory);
    const entry = existing?.type === "directory" ? existing : impliedDirectory(directory);
    entry.opaque = true;
    byPath.set(directory, entry);
  }
  // A tar may name a/b/c without a or a/b; the 9P server needs every directory on the way.
  // A directory the layer whited out and then filled again hides what lower layers had there: it is opaque.
  for (const path of [...byPath.keys()]) {
    for (let parent = path; parent !== ""; ) {
      parent = parentPath(parent);
      const existing = byPath.get(parent);
      if (existing?.type === "whiteout") {
        byPath.set(parent, { ...impliedDirectory(parent), opaque: true });
        continue;
      }
      if (existing) break;
      byPath.set(parent, impliedDirectory(parent));
    }
  }
  if (!byPath.has("")) byPath.set("", impliedDirectory(""));
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const diffId = await diffHasher.digest();
  const size = tar.size();
  return { diffId, size, index: { schemaVersion: 1, mediaType: LAYER_INDEX_MEDIA_TYPE, diffId, entries: sorted } };
}
