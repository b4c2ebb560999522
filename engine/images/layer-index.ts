// The unpacked form of one layer: an index of its entries (path → metadata and where the file bytes are), stored
// as a JSON blob in the content store. File bytes are blobs of their own, named by their sha256, so a 9P server can
// answer a stat from the index and a read from one blob, and identical files are stored once across all layers.
import { EngineError } from "../errors.ts";
import { type Digest, json } from "../oci/index.ts";

export const LAYER_INDEX_MEDIA_TYPE = "application/vnd.drydock.layer.index.v1+json";

export type LayerEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "characterDevice"
  | "blockDevice"
  | "fifo"
  /** An OCI whiteout (`.wh.<name>` in the tar): hides `<name>` of lower layers; overlayfs wants a char 0:0 device. */
  | "whiteout";

export interface LayerEntry {
  /** Relative to the layer root, without leading or trailing slash: `etc/passwd`. The root itself is `""`. */
  path: string;
  type: LayerEntryType;
  /** Permission bits, with setuid, setgid and sticky: `mode & 0o7777`. The type is in `type`. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of a file (or of the file a hard link points at); 0 for everything else. */
  size: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** A symlink's target as written; a hard link's target path inside this layer (in `path` form). */
  linkTarget?: string;
  /** The blob holding a file's bytes (absent for empty files). Hard links to files carry their target's. */
  content?: Digest;
  /** A directory marked `.wh..wh..opq`: it hides everything lower layers have under it (xattr trusted.overlay.opaque=y). */
  opaque?: boolean;
  /** Extended attributes from PAX `SCHILY.xattr.*` records whose values are UTF-8 text. */
  xattrs?: Record<string, string>;
  /** Those whose values are not UTF-8 text (a file's `security.capability`), base64. */
  binaryXattrs?: Record<string, string>;
  /**
   * A character or block device's numbers, from the tar header's devmajor and devminor. Indexes made before they
   * were read have none: such a device shows as 0:1, which no driver answers.
   */
  devMajor?: number;
  devMinor?: number;
}

export interface LayerIndex {
  schemaVersion: 1;
  mediaType: typeof LAYER_INDEX_MEDIA_TYPE;
  /** The digest of the uncompressed layer tar this index was made from. */
  diffId: Digest;
  /** Every entry once (the last one in the tar wins), parents before children, sorted by path. */
  entries: LayerEntry[];
}

const TYPES: readonly LayerEntryType[] = [
  "file",
  "directory",
  "symlink",
  "hardlink",
  "characterDevice",
  "blockDevice",
  "fifo",
  "whiteout",
];

/**
 * Normalises a tar entry's name to `path` form (`./a/../b/` is `b`; a leading `/` is the layer's root), or throws
 * invalidArgument for one that would leave the root, as Docker refuses it: a hostile layer must not be able to name
 * `../etc/passwd`.
 * @example
 * normalizeLayerPath("/etc/./x/../passwd"); // "etc/passwd"
 */
export function normalizeLayerPath(name: string): string {
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) {
        throw new EngineError("invalidArgument", `layer entry "${name}" points outside the layer: refusing the layer`);
      }
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.join("/");
}

export function parentPath(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "" : path.slice(0, slash);
}

export function serializeLayerIndex(index: LayerIndex): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(index));
}

export function parseLayerIndex(bytes: Uint8Array, what = "layer index"): LayerIndex {
  const source = json.object(json.parseJson(bytes, what), what);
  if (source.schemaVersion !== 1 || source.mediaType !== LAYER_INDEX_MEDIA_TYPE) {
    throw new EngineError("dataLoss", `${what} is not a Drydock layer index (v1)`);
  }
  const entries = json.array(source.entries, `${what}.entries`, (value, path): LayerEntry => {
    const entry = json.object(value, path);
    const type = json.string(entry.type, `${path}.type`) as LayerEntryType;
    if (!TYPES.includes(type)) throw json.malformed(`${path}.type`, "an entry type", type);
    return {
      path: json.string(entry.path, `${path}.path`),
      type,
      mode: json.size(entry.mode, `${path}.mode`),
      uid: json.size(entry.uid, `${path}.uid`),
      gid: json.size(entry.gid, `${path}.gid`),
      size: json.size(entry.size, `${path}.size`),
      mtime: typeof entry.mtime === "number" ? entry.mtime : 0,
      linkTarget: json.optionalString(entry.linkTarget, `${path}.linkTarget`),
      content: entry.content === undefined ? undefined : json.digest(entry.content, `${path}.content`),
      opaque: json.optionalBoolean(entry.opaque, `${path}.opaque`),
      xattrs: json.optionalStringMap(entry.xattrs, `${path}.xattrs`),
      binaryXattrs: json.optionalStringMap(entry.binaryXattrs, `${path}.binaryXattrs`),
      devMajor: entry.devMajor === undefined ? undefined : json.size(entry.devMajor, `${path}.devMajor`),
      devMinor: entry.devMinor === undefined ? undefined : json.size(entry.devMinor, `${path}.devMinor`),
    };
  });
  return {
    schemaVersion: 1,
    mediaType: LAYER_INDEX_MEDIA_TYPE,
    diffId: json.digest(source.diffId, `${what}.diffId`),
    entries,
  };
}
