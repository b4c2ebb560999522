// The 9P2000.L layer server: answers the guest kernel's messages from layer trees built lazily out of a
// LayerSource. What needs no I/O is answered synchronously, inside v86's virtio notification: an answer deferred to
// a promise waits for the emulator to yield its time slice, which made every stat cost milliseconds. What needs I/O
// (a layer's index, file bytes) runs concurrently; each reply carries its request's tag, and a Tflush is answered
// only after the request it names, as the virtio transport expects.
import type { Digest } from "../oci/index.ts";
import type { NinePHandler } from "../vm/index.ts";
import { ReadAhead } from "./read-ahead.ts";
import type { LayerSource } from "./source.ts";
import { buildLayerTree, type DirEntry, DT_DIR, FsNode, type LayerInodes, S_IFDIR } from "./tree.ts";
import {
  Errno,
  errorReply,
  FsError,
  HEADER_SIZE,
  MalformedMessage,
  MessageReader,
  MessageWriter,
  NOFID,
  Op,
  type Qid,
  QidType,
  READ_OVERHEAD,
  readHeader,
  unlockedGetlock,
} from "./wire.ts";

export interface LayerServerOptions {
  /** The largest message the server agrees to in Tversion (the kernel's virtio transport caps it at 512000). */
  maxMessageSize?: number;
  /** Layer trees kept in memory; older ones are rebuilt from their index when walked again (same qids). */
  cachedLayers?: number;
  /** Told about failures that reach the guest as EIO (a blob that cannot be read, a source that throws). */
  onError?: (error: unknown) => void;
  /** More directories the share's root lists beside the layers (the share router's `volumes`). */
  rootEntries?: () => DirEntry[];
}

/** What a fid names. Reads need no Tlopen first (the kernel reads xattr fids without one), so none is tracked. */
interface Fid {
  node: FsNode;
  /** The value (or, for the empty name, the list of names) an xattr fid reads. */
  xattr?: Uint8Array;
  /** The share root's listing as it was when this fid started reading it, so offsets stay meaningful. */
  rootListing?: DirEntry[];
}

const CHAIN_ID_HEX = /^[0-9a-f]{64}$/;
const MAX_WALK_ELEMENTS = 16;
const V9FS_MAGIC = 0x01021997;
/** Rgetattr's `valid`: P9_STATS_BASIC, every field up to blocks. */
const STATS_BASIC = 0x7ff;
const O_ACCMODE = 3;
const P9_DOTL_CREATE = 0o100;
const P9_DOTL_TRUNC = 0o1000;
/** Only these namespaces are listed: the guest's kernel has 9P security support (CONFIG_9P_FS_SECURITY, so a file's
 * security.capability is read) but no ACL support; it fails to read the others back, and overlayfs' copy-up gives up
 * on the first listed xattr it cannot read. */
const LISTED_XATTR_PREFIXES = ["user.", "trusted.", "security."];

const encoder = new TextEncoder();

export class LayerServer {
  readonly #source: LayerSource;
  readonly #maxMessageSize: number;
  readonly #cachedLayers: number;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #rootEntries: (() => DirEntry[]) | undefined;
  #msize = 8192;
  readonly #fids = new Map<number, Fid>();
  /** Requests still running, by tag: a Tflush waits for the one it names. */
  readonly #pending = new Map<number, Promise<void>>();
  readonly #root: FsNode;
  /** Inode numbers per layer (by chain id hex), kept for the server's life so qids never change. */
  readonly #inodes = new Map<string, { root: number; base?: number }>();
  #nextInode = 2;
  /** Built trees, least recently used first. */
  readonly #trees = new Map<string, FsNode>();
  readonly #loading = new Map<string, Promise<FsNode | undefined>>();
  readonly #readAhead: ReadAhead;

  constructor(source: LayerSource, options: LayerServerOptions = {}) {
    this.#source = source;
    this.#maxMessageSize = options.maxMessageSize ?? 512000;
    this.#cachedLayers = options.cachedLayers ?? 64;
    this.#onError = options.onError;
    this.#rootEntries = options.rootEntries;
    this.#readAhead = new ReadAhead((content, offset, length) => source.readContent(content, offset, length));
    this.#root = new FsNode(1, { mode: S_IFDIR | 0o755, uid: 0, gid: 0, size: 4096, mtime: 0, rdev: 0 });
    // Its subdirectories come and go with the store: a link count of 1 tells tools like find not to count on it.
    this.#root.nlink = 1;
  }

  /** The function to give `V86Machine.set9pHandler`. */
  readonly handler: NinePHandler = (request, reply) => {
    const header = readHeader(request);
    // Without a tag there is nobody to answer; the kernel never sends such a message.
    if (!header) return;
    const { type, tag } = header;
    const body = header.size <= request.byteLength ? request.subarray(0, header.size) : undefined;
    let result: Uint8Array | Promise<Uint8Array>;
    // Nothing may throw from here into v86's virtio code: every failure becomes an Rlerror for this tag.
    try {
      if (!body) throw new MalformedMessage("the size field says more than the message holds");
      result =
        type === Op.Tflush
          ? this.#flush(tag, new MessageReader(body))
          : this.#dispatch(type, tag, new MessageReader(body));
    } catch (error) {
      result = this.#failure(tag, error);
    }
    if (result instanceof Uint8Array) {
      reply(result);
      return;
    }
    const work = result
      .catch((error: unknown) => this.#failure(tag, error))
      .then((response) => {
        if (this.#pending.get(tag) === work) this.#pending.delete(tag);
        reply(response);
      })
      // A reply that cannot be delivered (the machine was disposed meanwhile) has nobody left to tell.
      .catch((error: unknown) => this.#onError?.(error));
    this.#pending.set(tag, work);
  };

  /** Rflush, once the request with `oldtag` (if still running) has been answered: its buffers are the guest's. */
  #flush(tag: number, r: MessageReader): Uint8Array | Promise<Uint8Array> {
    const flushed = this.#pending.get(r.u16());
    const answer = () => new MessageWriter(Op.Tflush + 1, tag, HEADER_SIZE).finish();
    return flushed ? flushed.then(answer) : answer();
  }

  #failure(tag: number, error: unknown): Uint8Array {
    if (error instanceof FsError) return errorReply(tag, error.errno);
    if (error instanceof MalformedMessage) return errorReply(tag, Errno.EPROTO);
    this.#onError?.(error);
    return errorReply(tag, Errno.EIO);
  }

  /** Answers a message: at once when no I/O is needed, else with a promise. Throws FsError for an errno. */
  #dispatch(type: number, tag: number, r: MessageReader): Uint8Array | Promise<Uint8Array> {
    const w = (capacity?: number) => new MessageWriter(type + 1, tag, capacity);
    switch (type) {
      case Op.Tversion: {
        const msize = r.u32();
        const version = r.string();
        // A new session: everything the old one held is gone.
        this.#fids.clear();
        this.#msize = Math.min(msize, this.#maxMessageSize);
        return w()
          .u32(this.#msize)
          .string(version.startsWith("9P2000.L") ? "9P2000.L" : "unknown")
          .finish();
      }
      case Op.Tattach: {
        const fid = r.u32();
        r.u32(); // afid: no authentication
        r.string(); // uname: everyone reads the same layers
        const aname = r.string();
        this.#checkUnused(fid);
        const names = aname.split("/").filter(Boolean);
        return this.#resolve(this.#root, names, (node, qids) => {
          if (qids.length !== names.length) throw new FsError(Errno.ENOENT);
          this.#fids.set(fid, { node });
          return w().qid(node.qid).finish();
        });
      }
      case Op.Twalk:
        return this.#walk(r, w());
      case Op.Tlopen: {
        const fid = this.#fid(r.u32());
        const flags = r.u32();
        if ((flags & O_ACCMODE) !== 0 || (flags & (P9_DOTL_CREATE | P9_DOTL_TRUNC)) !== 0)
          throw new FsError(Errno.EROFS);
        if (fid.xattr) throw new FsError(Errno.EINVAL);
        // iounit 0: reads may be as large as msize allows.
        return w().qid(fid.node.qid).u32(0).finish();
      }
      case Op.Tread:
        return this.#read(r, tag);
      case Op.Treaddir:
        return this.#readdir(r, tag);
      case Op.Tgetattr: {
        const { node } = this.#fid(r.u32());
        const blocks = Math.ceil(node.size / 512);
        return w(160)
          .u64(STATS_BASIC)
          .qid(node.qid)
          .u32(node.mode)
          .u32(node.uid)
          .u32(node.gid)
          .u64(node.nlink)
          .u64(node.rdev)
          .u64(node.size)
          .u64(4096)
          .u64(blocks)
          .u64(node.mtime) // atime
          .u64(0)
          .u64(node.mtime)
          .u64(0)
          .u64(node.mtime) // ctime
          .u64(0)
          .u64(0) // btime, gen, data_version: not in P9_STATS_BASIC
          .u64(0)
          .u64(0)
          .u64(0)
          .finish();
      }
      case Op.Treadlink: {
        const { node } = this.#fid(r.u32());
        if (node.linkTarget === undefined) throw new FsError(Errno.EINVAL);
        return w().string(node.linkTarget).finish();
      }
      case Op.Txattrwalk:
        return this.#xattrwalk(r, w());
      case Op.Tstatfs: {
        this.#fid(r.u32());
        return w(72)
          .u32(V9FS_MAGIC)
          .u32(4096) // bsize
          .u64(0) // blocks, bfree, bavail: the share has no size of its own and no room at all
          .u64(0)
          .u64(0)
          .u64(this.#nextInode) // files
          .u64(0) // ffree
          .u64(0) // fsid
          .u32(255) // namelen
          .finish();
      }
      case Op.Tclunk: {
        const fid = r.u32();
        this.#fid(fid);
        this.#fids.delete(fid);
        return w().finish();
      }
      case Op.Tremove: {
        // The fid is clunked even though the remove fails (9P's rule).
        const fid = r.u32();
        this.#fids.delete(fid);
        throw new FsError(Errno.EROFS);
      }
      case Op.Tfsync:
        this.#fid(r.u32());
        return w().finish();
      case Op.Tlock: {
        // Nothing changes on a read-only share, so any lock is granted (P9_LOCK_SUCCESS).
        this.#fid(r.u32());
        return w().u8(0).finish();
      }
      case Op.Tgetlock:
        this.#fid(r.u32());
        return unlockedGetlock(r, w());
      case Op.Tlcreate:
      case Op.Tsymlink:
      case Op.Tmknod:
      case Op.Trename:
      case Op.Tsetattr:
      case Op.Txattrcreate:
      case Op.Tlink:
      case Op.Tmkdir:
      case Op.Trenameat:
      case Op.Tunlinkat:
      case Op.Twrite:
        throw new FsError(Errno.EROFS);
      default:
        // Tauth, 9P2000 and 9P2000.u messages, and anything newer.
        throw new FsError(Errno.EOPNOTSUPP);
    }
  }

  #fid(fid: number): Fid {
    const found = this.#fids.get(fid);
    if (!found) throw new FsError(Errno.EBADF);
    return found;
  }

  #checkUnused(fid: number): void {
    if (fid === NOFID || this.#fids.has(fid)) throw new FsError(Errno.EINVAL);
  }

  #walk(r: MessageReader, w: MessageWriter): Uint8Array | Promise<Uint8Array> {
    const fidNumber = r.u32();
    const from = this.#fid(fidNumber);
    const newFid = r.u32();
    const count = r.u16();
    if (count > MAX_WALK_ELEMENTS) throw new FsError(Errno.EINVAL);
    const names: string[] = [];
    for (let i = 0; i < count; i++) names.push(r.string());
    // newfid may be fid itself (the walk moves it); otherwise it must be free.
    if (newFid !== fidNumber) this.#checkUnused(newFid);
    return this.#resolve(from.node, names, (node, qids) => {
      if (qids.length === names.length) this.#fids.set(newFid, { node });
      w.u16(qids.length);
      for (const qid of qids) w.qid(qid);
      return w.finish();
    });
  }

  /**
   * Walks `names` from `start` and hands `done` the node reached and the qid of each step taken. A missing first
   * name throws; a later one ends the walk short (9P's rule). Synchronous unless a layer must be read first.
   */
  #resolve(
    start: FsNode,
    names: readonly string[],
    done: (node: FsNode, qids: Qid[]) => Uint8Array,
  ): Uint8Array | Promise<Uint8Array> {
    // Layers this walk loaded (or found missing), so that a retry sees them even if the cache dropped them.
    const loaded = new Map<string, FsNode | undefined>();
    const attempt = (): Uint8Array | string => {
      const qids: Qid[] = [];
      let node = start;
      for (const name of names) {
        let next: FsNode | string;
        try {
          next = this.#step(node, name, loaded);
        } catch (error) {
          if (qids.length === 0) throw error;
          break;
        }
        if (typeof next === "string") return next;
        node = next;
        qids.push(node.qid);
      }
      return done(node, qids);
    };
    const first = attempt();
    if (typeof first !== "string") return first;
    return (async () => {
      let result: Uint8Array | string = first;
      while (typeof result === "string") {
        loaded.set(result, await this.#layer(result));
        result = attempt();
      }
      return result;
    })();
  }

  /** One walk step: a name in a directory, `..`, or a layer in the share's root (its hex when it must be loaded). */
  #step(node: FsNode, name: string, loaded: ReadonlyMap<string, FsNode | undefined>): FsNode | string {
    if (!node.isDirectory) throw new FsError(Errno.ENOTDIR);
    if (name === "..") return node.parent;
    if (name === "." || name === "") return node;
    let next: FsNode | undefined;
    if (node === this.#root) {
      if (!CHAIN_ID_HEX.test(name)) throw new FsError(Errno.ENOENT);
      if (loaded.has(name)) next = loaded.get(name);
      else {
        next = this.#cachedTree(name);
        if (!next) return name;
      }
    } else {
      next = node.children?.get(name);
    }
    if (!next) throw new FsError(Errno.ENOENT);
    return next;
  }

  #inodesOf(hex: string): { root: number; base?: number } {
    let inodes = this.#inodes.get(hex);
    if (!inodes) {
      inodes = { root: this.#nextInode++ };
      this.#inodes.set(hex, inodes);
    }
    return inodes;
  }

  #cachedTree(hex: string): FsNode | undefined {
    const cached = this.#trees.get(hex);
    if (cached) {
      // Most recently used goes last.
      this.#trees.delete(hex);
      this.#trees.set(hex, cached);
    }
    return cached;
  }

  /** A layer's tree, built on first use; undefined when the source has no such layer. */
  async #layer(hex: string): Promise<FsNode | undefined> {
    const cached = this.#cachedTree(hex);
    if (cached) return cached;
    let loading = this.#loading.get(hex);
    if (!loading) {
      loading = this.#build(hex).finally(() => this.#loading.delete(hex));
      this.#loading.set(hex, loading);
    }
    return loading;
  }

  async #build(hex: string): Promise<FsNode | undefined> {
    const index = await this.#source.layerIndex(`sha256:${hex}` as Digest);
    // Not found is not remembered: the layer may be pulled a moment later.
    if (!index) return undefined;
    const inodes = this.#inodesOf(hex);
    if (inodes.base === undefined) {
      inodes.base = this.#nextInode;
      this.#nextInode += index.entries.length;
    }
    const tree = buildLayerTree(index, inodes as LayerInodes, this.#root);
    this.#trees.set(hex, tree);
    while (this.#trees.size > this.#cachedLayers) {
      const oldest = this.#trees.keys().next().value;
      if (oldest === undefined) break;
      this.#trees.delete(oldest);
    }
    return tree;
  }

  #read(r: MessageReader, tag: number): Uint8Array | Promise<Uint8Array> {
    const fid = this.#fid(r.u32());
    const offset = r.u64();
    const count = Math.min(r.u32(), this.#msize - READ_OVERHEAD);
    const answer = (data: Uint8Array) =>
      new MessageWriter(Op.Tread + 1, tag, READ_OVERHEAD + data.byteLength).u32(data.byteLength).bytes(data).finish();
    if (fid.xattr) return answer(fid.xattr.subarray(Math.min(offset, fid.xattr.byteLength), offset + count));
    const { node } = fid;
    if (node.isDirectory) throw new FsError(Errno.EISDIR);
    if (!node.isRegular) throw new FsError(Errno.EINVAL);
    const length = Math.max(0, Math.min(count, node.size - offset));
    if (length === 0) return answer(new Uint8Array(0));
    if (node.content === undefined) throw new Error(`a file of ${node.size} bytes has no content blob`);
    const data = this.#readAhead.read(node.content, node.size, offset, length);
    return data instanceof Uint8Array ? answer(data) : data.then(answer);
  }

  #readdir(r: MessageReader, tag: number): Uint8Array | Promise<Uint8Array> {
    const fid = this.#fid(r.u32());
    const offset = r.u64();
    const count = Math.min(r.u32(), this.#msize - READ_OVERHEAD);
    const { node } = fid;
    if (!node.isDirectory || fid.xattr) throw new FsError(Errno.ENOTDIR);
    if (node !== this.#root) return this.#dirents(tag, node.listing(), offset, count);
    if (fid.rootListing && offset !== 0) return this.#dirents(tag, fid.rootListing, offset, count);
    return this.#rootListing().then((listing) => {
      fid.rootListing = listing;
      return this.#dirents(tag, listing, offset, count);
    });
  }

  /** Rreaddir: as many entries from `offset` as fit in `count` bytes, each with the offset of the next. */
  #dirents(tag: number, listing: readonly DirEntry[], offset: number, count: number): Uint8Array {
    const w = new MessageWriter(Op.Treaddir + 1, tag, Math.min(count, 8192) + READ_OVERHEAD).u32(0);
    let used = 0;
    for (let i = offset; i < listing.length; i++) {
      const entry = listing[i]!;
      // qid[13] offset[8] type[1] name[s]
      const size = 13 + 8 + 1 + 2 + entry.name.byteLength;
      if (used + size > count) break;
      w.qid(entry.qid)
        .u64(i + 1)
        .u8(entry.type)
        .encodedString(entry.name);
      used += size;
    }
    return w.patchU32(HEADER_SIZE, used).finish();
  }

  async #rootListing(): Promise<DirEntry[]> {
    const hexes = this.#source.chainIds
      ? (await this.#source.chainIds()).map((chainId) => chainId.slice(chainId.indexOf(":") + 1))
      : [...this.#inodes.keys()];
    const listing: DirEntry[] = [...this.#root.listing().slice(0, 2), ...(this.#rootEntries?.() ?? [])];
    for (const hex of new Set(hexes)) {
      if (!CHAIN_ID_HEX.test(hex)) continue;
      const qid = { type: QidType.DIR, version: 0, path: this.#inodesOf(hex).root };
      listing.push({ name: encoder.encode(hex), qid, type: DT_DIR });
    }
    return listing;
  }

  #xattrwalk(r: MessageReader, w: MessageWriter): Uint8Array {
    const fidNumber = r.u32();
    const fid = this.#fid(fidNumber);
    const newFid = r.u32();
    const name = r.string();
    if (newFid !== fidNumber) this.#checkUnused(newFid);
    const { node } = fid;
    let value: Uint8Array;
    if (name === "") {
      const names = [...node.xattrs.keys()].filter((key) => LISTED_XATTR_PREFIXES.some((p) => key.startsWith(p)));
      value = encoder.encode(names.map((key) => `${key}\0`).join(""));
    } else {
      const found = node.xattrs.get(name);
      if (!found) throw new FsError(Errno.ENODATA);
      value = found;
    }
    this.#fids.set(newFid, { node, xattr: value });
    return w.u64(value.byteLength).finish();
  }
}

/**
 * A 9P2000.L server showing the layers of `source` read-only, one directory per layer (see index.ts).
 * @example
 * drydock.machine.set9pHandler(createLayerServer(imageStoreLayers(images.store)));
 */
export function createLayerServer(source: LayerSource, options: LayerServerOptions = {}): NinePHandler {
  return new LayerServer(source, options).handler;
}
