// A layer's index turned into the tree the server walks: one node per inode, with the attributes the kernel asks
// for in Tgetattr, children by name for Twalk, and xattrs. Hard links share their target's node, so the guest sees
// one inode with a link count, as on a real disk.
import type { LayerEntry, LayerIndex } from "../images/index.ts";
import type { Digest } from "../oci/index.ts";
import { type Qid, QidType } from "./wire.ts";

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** The xattr overlayfs reads to learn that a lower directory hides everything below it. */
export const OPAQUE_XATTR = "trusted.overlay.opaque";

/**
 * The device number of character and block devices whose numbers a layer index does not record (indexes made before
 * the tar's devmajor and devminor were read). 0:0 would turn a character device into a whiteout in overlayfs' eyes
 * (hiding whatever lower layers have at that path); major 0 names no driver, so the node shows up and opening it
 * fails with ENXIO.
 */
export const UNKNOWN_DEVICE = 1;

/** Linux's `new_encode_dev`: the device number the kernel decodes from Tgetattr's `st_rdev`. */
export const encodeDev = (major: number, minor: number) => (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);

/** A layer's device entry's number: the tar's, or UNKNOWN_DEVICE for an index that has none. */
function deviceOf(entry: LayerEntry): number {
  if (entry.devMajor === undefined || entry.devMinor === undefined) return UNKNOWN_DEVICE;
  return encodeDev(entry.devMajor, entry.devMinor);
}

const DT: Record<number, number> = {
  [S_IFIFO]: 1,
  [S_IFCHR]: 2,
  [S_IFDIR]: 4,
  [S_IFBLK]: 6,
  [S_IFREG]: 8,
  [S_IFLNK]: 10,
};

const encoder = new TextEncoder();

/** A name in a directory listing, encoded once for every Treaddir that lists it. */
export interface DirEntry {
  name: Uint8Array;
  qid: Qid;
  /** `d_type`. */
  type: number;
}

export const DT_DIR = 4;

export interface NodeAttributes {
  /** `st_mode`: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  /** Linux's encoding of the device number (`new_encode_dev`). */
  rdev: number;
  content?: Digest;
  linkTarget?: string;
  xattrs?: ReadonlyMap<string, Uint8Array>;
}

const NO_XATTRS: ReadonlyMap<string, Uint8Array> = new Map();

export class FsNode {
  readonly qid: Qid;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly rdev: number;
  readonly content: Digest | undefined;
  readonly linkTarget: string | undefined;
  readonly xattrs: ReadonlyMap<string, Uint8Array>;
  /** Where `..` leads: for a layer's root, the share's root; for the share's root, itself. */
  parent: FsNode;
  /** Children by name (directories only); a layer's tree is complete once built. */
  readonly children: Map<string, FsNode> | undefined;
  nlink: number;
  #listing: DirEntry[] | undefined;

  constructor(ino: number, attributes: NodeAttributes, parent?: FsNode) {
    this.mode = attributes.mode;
    const type = this.mode & S_IFMT;
    this.qid = {
      type: type === S_IFDIR ? QidType.DIR : type === S_IFLNK ? QidType.SYMLINK : QidType.FILE,
      // Layers never change, so one version for ever: the kernel's page cache stays valid.
      version: 0,
      path: ino,
    };
    this.uid = attributes.uid;
    this.gid = attributes.gid;
    this.size = attributes.size;
    this.mtime = attributes.mtime;
    this.rdev = attributes.rdev;
    this.content = attributes.content;
    this.linkTarget = attributes.linkTarget;
    this.xattrs = attributes.xattrs ?? NO_XATTRS;
    this.parent = parent ?? this;
    this.children = type === S_IFDIR ? new Map() : undefined;
    this.nlink = type === S_IFDIR ? 2 : 1;
  }

  get isDirectory(): boolean {
    return this.children !== undefined;
  }

  get isSymlink(): boolean {
    return (this.mode & S_IFMT) === S_IFLNK;
  }

  get isRegular(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }

  /** The `d_type` of a directory entry naming this node. */
  get direntType(): number {
    return DT[this.mode & S_IFMT] ?? 0;
  }

  /** `.`, `..`, then the children, in a fixed order: Treaddir offsets index into it. */
  listing(): DirEntry[] {
    if (!this.#listing) {
      const entry = (name: string, node: FsNode): DirEntry => ({
        name: encoder.encode(name),
        qid: node.qid,
        type: node.direntType,
      });
      this.#listing = [entry(".", this), entry("..", this.parent)];
      for (const [name, node] of this.children ?? []) this.#listing.push(entry(name, node));
    }
    return this.#listing;
  }
}

/** Inode numbers reserved for one layer: its root's, and a run of `count` from `base` for its entries. */
export interface LayerInodes {
  root: number;
  base: number;
}

function attributesOf(entry: LayerEntry): NodeAttributes {
  const common = { uid: entry.uid, gid: entry.gid, mtime: entry.mtime, xattrs: xattrsOf(entry) };
  const permissions = entry.mode & 0o7777;
  switch (entry.type) {
    case "directory":
      return { ...common, mode: S_IFDIR | permissions, size: 4096, rdev: 0 };
    case "file":
    case "hardlink":
      // A hard link whose target is not in this layer keeps what unpacking copied (its target's bytes, if known).
      return { ...common, mode: S_IFREG | permissions, size: entry.size, rdev: 0, content: entry.content };
    case "symlink": {
      const linkTarget = entry.linkTarget ?? "";
      return { ...common, mode: S_IFLNK | 0o777, size: encoder.encode(linkTarget).byteLength, rdev: 0, linkTarget };
    }
    case "whiteout":
      // Overlayfs' whiteout: a character device 0:0.
      return { ...common, mode: S_IFCHR, size: 0, rdev: 0 };
    case "characterDevice":
      return { ...common, mode: S_IFCHR | permissions, size: 0, rdev: deviceOf(entry) };
    case "blockDevice":
      return { ...common, mode: S_IFBLK | permissions, size: 0, rdev: deviceOf(entry) };
    case "fifo":
      return { ...common, mode: S_IFIFO | permissions, size: 0, rdev: 0 };
  }
}

function xattrsOf(entry: LayerEntry): ReadonlyMap<string, Uint8Array> | undefined {
  if (!entry.xattrs && !entry.binaryXattrs && !entry.opaque) return undefined;
  const xattrs = new Map<string, Uint8Array>();
  for (const [name, value] of Object.entries(entry.xattrs ?? {})) xattrs.set(name, encoder.encode(value));
  for (const [name, value] of Object.entries(entry.binaryXattrs ?? {})) {
    xattrs.set(
      name,
      Uint8Array.from(atob(value), (char) => char.charCodeAt(0)),
    );
  }
  if (entry.opaque && entry.type === "directory") xattrs.set(OPAQUE_XATTR, encoder.encode("y"));
  return xattrs;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "" : path.slice(0, slash);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Builds a layer's tree. Entry `i` of the index gets inode `base + i` (the root gets `inodes.root`), so the same
 * index always yields the same qids, even when the tree is dropped from the cache and built again. Entries whose
 * parent is missing or not a directory cannot be reached and are left out (unpacking never makes them).
 */
export function buildLayerTree(index: LayerIndex, inodes: LayerInodes, shareRoot: FsNode): FsNode {
  const byPath = new Map<string, FsNode>();
  const rootEntry = index.entries.find((entry) => entry.path === "");
  const root = new FsNode(
    inodes.root,
    rootEntry?.type === "directory"
      ? attributesOf(rootEntry)
      : { mode: S_IFDIR | 0o755, uid: 0, gid: 0, size: 4096, mtime: 0, rdev: 0 },
    shareRoot,
  );
  byPath.set("", root);
  const attach = (path: string, node: FsNode) => {
    const parent = byPath.get(parentOf(path));
    if (!parent?.children) return false;
    parent.children.set(baseName(path), node);
    if (node.isDirectory && node.parent === parent) parent.nlink++;
    return true;
  };
  const hardlinks: { entry: LayerEntry; ordinal: number }[] = [];
  index.entries.forEach((entry, i) => {
    if (entry.path === "") return;
    if (entry.type === "hardlink" && entry.linkTarget !== undefined) {
      hardlinks.push({ entry, ordinal: i });
      return;
    }
    const node = new FsNode(inodes.base + i, attributesOf(entry), byPath.get(parentOf(entry.path)));
    if (attach(entry.path, node)) byPath.set(entry.path, node);
  });
  // Hard links last, so a link may name a target the index sorts after it. A link to a link resolves to the same
  // node; a link to a directory is not a thing tar can make, and shows as the file unpacking recorded.
  for (const { entry, ordinal } of hardlinks) {
    let target = byPath.get(entry.linkTarget ?? "");
    if (target?.isDirectory) target = undefined;
    if (target) {
      if (attach(entry.path, target)) {
        target.nlink++;
        byPath.set(entry.path, target);
      }
    } else {
      const node = new FsNode(inodes.base + ordinal, attributesOf(entry), byPath.get(parentOf(entry.path)));
      if (attach(entry.path, node)) byPath.set(entry.path, node);
    }
  }
  return root;
}
