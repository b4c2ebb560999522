// The writable half of the share: a 9P2000.L server over a writable file tree — the volumes' tree (engine/volumes'
// VolumeTree), whose bytes live in the engine's storage, or the Node daemon's host directories allowed with
// --allow-bind (engine/node/host-tree.ts). Metadata requests (walk, getattr, mkdir, rename, unlink, setattr without a
// size…) are answered synchronously from the tree; reads, writes, truncates and fsync answer with a promise. The share
// router (share.ts) hands it the requests under one of the share's reserved directories.
import { FsError, type Inode, ROOT_INO, S_IFDIR, S_IFLNK, S_IFMT } from "../volumes/tree.ts";
import { encodeDev } from "./tree.ts";

/** What a served inode shows: VolumeTree's inode, or a host file's (no `volume`, no `entries`). */
export type ServedInode = Omit<Inode, "volume" | "entries" | "parent">;

/** A new node's kind, permissions, owner, device number or symlink target. */
export interface ServedNewNode {
  mode: number;
  uid: number;
  gid: number;
  rdev?: number;
  target?: string;
}

/** The tree a VolumeServer serves: VolumeTree is one; the Node daemon's allowed host directories are another. */
export interface ServedTree {
  get(ino: number): ServedInode;
  lookup(dir: number, name: string): ServedInode;
  /** `.`, `..` and the entries of a directory. */
  list(dir: number): { name: string; inode: ServedInode }[];
  create(dir: number, name: string, node: ServedNewNode): ServedInode;
  mkdir(dir: number, name: string, node: ServedNewNode): ServedInode;
  link(dir: number, name: string, ino: number): ServedInode;
  unlink(dir: number, name: string, directory: boolean): void;
  rename(fromDir: number, fromName: string, toDir: number, toName: string): void;
  setattr(
    ino: number,
    change: { mode?: number; uid?: number; gid?: number; size?: number; atime?: number; mtime?: number },
  ): Promise<void>;
  read(ino: number, offset: number, length: number): Promise<Uint8Array>;
  write(ino: number, offset: number, data: Uint8Array): Promise<number>;
  setXattr(ino: number, name: string, value: Uint8Array | undefined): void;
  /** A fid now names this inode / one naming it is gone. */
  hold(ino: number): void;
  drop(ino: number): void;
  /** fsync. */
  sync(ino: number): Promise<void>;
}

const isDir = (inode: ServedInode) => (inode.mode & S_IFMT) === S_IFDIR;

import {
  Errno,
  errorReply,
  HEADER_SIZE,
  MalformedMessage,
  MessageReader,
  MessageWriter,
  NOFID,
  Op,
  type Qid,
  QidType,
  READ_OVERHEAD,
  unlockedGetlock,
} from "./wire.ts";

/** Volume inodes are numbered above every layer inode, so the kernel never sees two files with one qid path. */
export const VOLUME_QID_BASE = 0x8000_0000;
const MAX_WALK_ELEMENTS = 16;
const V9FS_MAGIC = 0x01021997;
const STATS_BASIC = 0x7ff;
const P9_DOTL_TRUNC = 0o1000;
const AT_REMOVEDIR = 0x200;
const SETATTR = { MODE: 1, UID: 2, GID: 4, SIZE: 8, ATIME: 16, MTIME: 32, ATIME_SET: 128, MTIME_SET: 256 };
const LISTED_XATTR_PREFIXES = ["user.", "trusted."];
const encoder = new TextEncoder();
const DT: Record<number, number> = { 2401: 1, 4802: 2, 9604: 4, 14406: 6, 16807: 8, 21609: 10 };

interface Fid {
  ino: number;
  uid: number;
  /** The directory and name it was reached by (Tremove, Trename). */
  parent?: number;
  name?: string;
  /** A read xattr value (Txattrwalk) or one being written (Txattrcreate). */
  xattr?: Uint8Array;
  xattrWrite?: { name: string; chunks: Uint8Array[] };
  listing?: { name: string; inode: ServedInode }[];
}

function qidOf(inode: ServedInode, base: number): Qid {
  const type = inode.mode & S_IFMT;
  return {
    type: type === S_IFDIR ? QidType.DIR : type === S_IFLNK ? QidType.SYMLINK : QidType.FILE,
    // One version for ever: the kernel matches inodes by qid, and a changing version would split one file in two.
    version: 0,
    path: base + inode.ino,
  };
}

export class VolumeServer {
  #msize = 8192;
  readonly #fids = new Map<number, Fid>();

  constructor(
    readonly tree: ServedTree,
    readonly maxMessageSize = 512000,
    readonly onError: (error: unknown) => void = () => {},
    /** Added to inode numbers in qids, so that no two trees of one share give the kernel one qid path. */
    readonly qidBase = VOLUME_QID_BASE,
  ) {}

  /** A new session: every fid of the old one is gone. */
  version(msize: number): void {
    for (const fid of this.#fids.values()) this.tree.drop(fid.ino);
    this.#fids.clear();
    this.#msize = Math.min(msize, this.maxMessageSize);
  }

  /** The qid of the volumes' root (the share's `volumes` directory). */
  get rootQid(): Qid {
    return qidOf(this.tree.get(ROOT_INO), this.qidBase);
  }

  owns(fid: number): boolean {
    return this.#fids.has(fid);
  }

  /**
   * Walks from the volumes' root for `uid` (a walk from the share root that entered `volumes`): the Rwalk's qids for
   * `names`, with the root's own qid first.
   */
  walkFromRoot(tag: number, newFid: number, names: string[], uid: number): Uint8Array {
    try {
      this.#checkUnused(newFid);
      const w = new MessageWriter(Op.Twalk + 1, tag);
      const qids = this.#walkNames({ ino: ROOT_INO, uid }, newFid, names);
      w.u16(qids.length + 1).qid(this.rootQid);
      for (const qid of qids) w.qid(qid);
      return w.finish();
    } catch (error) {
      return this.#failure(tag, error);
    }
  }

  /** Answers one message (the router has read its header). */
  handle(type: number, tag: number, body: Uint8Array): Uint8Array | Promise<Uint8Array> {
    try {
      const result = this.#dispatch(type, tag, new MessageReader(body));
      return result instanceof Uint8Array ? result : result.catch((error: unknown) => this.#failure(tag, error));
    } catch (error) {
      return this.#failure(tag, error);
    }
  }

  #failure(tag: number, error: unknown): Uint8Array {
    if (error instanceof FsError) return errorReply(tag, error.errno);
    if (error instanceof MalformedMessage) return errorReply(tag, Errno.EPROTO);
    this.onError(error);
    return errorReply(tag, Errno.EIO);
  }

  #fid(fid: number): Fid {
    const found = this.#fids.get(fid);
    if (!found) throw new FsError(Errno.EBADF);
    return found;
  }

  #checkUnused(fid: number): void {
    if (fid === NOFID || this.#fids.has(fid)) throw new FsError(Errno.EINVAL);
  }

  #setFid(number: number, fid: Fid): void {
    const old = this.#fids.get(number);
    this.tree.hold(fid.ino);
    if (old) this.tree.drop(old.ino);
    this.#fids.set(number, fid);
  }

  #clunk(number: number): Fid | undefined {
    const fid = this.#fids.get(number);
    if (!fid) return undefined;
    this.#fids.delete(number);
    this.tree.drop(fid.ino);
    return fid;
  }

  #walkNames(from: Fid, newFid: number, names: string[]): Qid[] {
    if (names.length > MAX_WALK_ELEMENTS) throw new FsError(Errno.EINVAL);
    const qids: Qid[] = [];
    let at = this.tree.get(from.ino);
    let parent = from.parent;
    let name = from.name;
    for (const [i, step] of names.entries()) {
      let next: ServedInode;
      try {
        next = this.tree.lookup(at.ino, step);
      } catch (error) {
        // A first step that fails is an error; a later one ends the walk short (9P's rule).
        if (i === 0) throw error;
        break;
      }
      parent = at.ino;
      name = step;
      at = next;
      qids.push(qidOf(at, this.qidBase));
    }
    if (qids.length === names.length) {
      const fid: Fid = { ino: at.ino, uid: from.uid };
      if (parent !== undefined) fid.parent = parent;
      if (name !== undefined) fid.name = name;
      this.#setFid(newFid, fid);
    }
    return qids;
  }

  #dispatch(type: number, tag: number, r: MessageReader): Uint8Array | Promise<Uint8Array> {
    const w = (capacity?: number) => new MessageWriter(type + 1, tag, capacity);
    const tree = this.tree;
    switch (type) {
      case Op.Tattach: {
        const fid = r.u32();
        r.u32();
        r.string();
        r.string();
        const uid = r.remaining >= 4 ? r.u32() : 0;
        this.#checkUnused(fid);
        this.#setFid(fid, { ino: ROOT_INO, uid: uid === NOFID ? 0 : uid });
        return w().qid(this.rootQid).finish();
      }
      case Op.Twalk: {
        const fidNumber = r.u32();
        const from = this.#fid(fidNumber);
        const newFid = r.u32();
        const count = r.u16();
        const names: string[] = [];
        for (let i = 0; i < count; i++) names.push(r.string());
        if (newFid !== fidNumber) this.#checkUnused(newFid);
        const qids = this.#walkNames(from, newFid, names);
        const reply = w().u16(qids.length);
        for (const qid of qids) reply.qid(qid);
        return reply.finish();
      }
      case Op.Tlopen: {
        const fid = this.#fid(r.u32());
        const flags = r.u32();
        const inode = tree.get(fid.ino);
        const reply = () => w().qid(qidOf(inode, this.qidBase)).u32(0).finish();
        if (flags & P9_DOTL_TRUNC && !isDir(inode) && inode.size) return tree.setattr(fid.ino, { size: 0 }).then(reply);
        return reply();
      }
      case Op.Tlcreate: {
        const number = r.u32();
        const fid = this.#fid(number);
        const name = r.string();
        r.u32(); // flags: the file is opened as created
        const mode = r.u32();
        const gid = r.u32();
        const inode = tree.create(fid.ino, name, { mode: 0o100000 | (mode & 0o7777), uid: fid.uid, gid });
        // The fid now names the new file (9P's rule for create).
        this.#setFid(number, { ino: inode.ino, uid: fid.uid, parent: fid.ino, name });
        return w().qid(qidOf(inode, this.qidBase)).u32(0).finish();
      }
      case Op.Tsymlink: {
        const fid = this.#fid(r.u32());
        const name = r.string();
        const target = r.string();
        const gid = r.u32();
        const inode = tree.create(fid.ino, name, { mode: S_IFLNK | 0o777, uid: fid.uid, gid, target });
        return w().qid(qidOf(inode, this.qidBase)).finish();
      }
      case Op.Tmknod: {
        const fid = this.#fid(r.u32());
        const name = r.string();
        const mode = r.u32();
        const major = r.u32();
        const minor = r.u32();
        const gid = r.u32();
        const inode = tree.create(fid.ino, name, { mode, uid: fid.uid, gid, rdev: encodeDev(major, minor) });
        return w().qid(qidOf(inode, this.qidBase)).finish();
      }
      case Op.Tmkdir: {
        const fid = this.#fid(r.u32());
        const name = r.string();
        const mode = r.u32();
        const gid = r.u32();
        const inode = tree.mkdir(fid.ino, name, { mode, uid: fid.uid, gid });
        return w().qid(qidOf(inode, this.qidBase)).finish();
      }
      case Op.Tlink: {
        const dir = this.#fid(r.u32());
        const target = this.#fid(r.u32());
        tree.link(dir.ino, r.string(), target.ino);
        return w().finish();
      }
      case Op.Trename: {
        const fid = this.#fid(r.u32());
        const dir = this.#fid(r.u32());
        const name = r.string();
        if (fid.parent === undefined || fid.name === undefined) throw new FsError(Errno.EINVAL);
        tree.rename(fid.parent, fid.name, dir.ino, name);
        fid.parent = dir.ino;
        fid.name = name;
        return w().finish();
      }
      case Op.Trenameat: {
        const from = this.#fid(r.u32());
        const oldName = r.string();
        const to = this.#fid(r.u32());
        tree.rename(from.ino, oldName, to.ino, r.string());
        return w().finish();
      }
      case Op.Tunlinkat: {
        const dir = this.#fid(r.u32());
        const name = r.string();
        const flags = r.u32();
        tree.unlink(dir.ino, name, (flags & AT_REMOVEDIR) !== 0);
        return w().finish();
      }
      case Op.Tremove: {
        const number = r.u32();
        const fid = this.#clunk(number);
        if (!fid) throw new FsError(Errno.EBADF);
        if (fid.parent === undefined || fid.name === undefined) throw new FsError(Errno.EBUSY);
        tree.unlink(fid.parent, fid.name, isDir(tree.get(fid.ino)));
        return w().finish();
      }
      case Op.Tclunk: {
        const fid = this.#clunk(r.u32());
        if (!fid) throw new FsError(Errno.EBADF);
        if (fid.xattrWrite) {
          const { name, chunks } = fid.xattrWrite;
          const size = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
          if (size === 0) {
            try {
              tree.setXattr(fid.ino, name, undefined);
            } catch {
              // removing an xattr that is not there is what removexattr reports itself
            }
          } else {
            const value = new Uint8Array(size);
            let at = 0;
            for (const chunk of chunks) {
              value.set(chunk, at);
              at += chunk.byteLength;
            }
            tree.setXattr(fid.ino, name, value);
          }
        }
        return w().finish();
      }
      case Op.Tread: {
        const fid = this.#fid(r.u32());
        const offset = r.u64();
        const count = Math.min(r.u32(), this.#msize - READ_OVERHEAD);
        const answer = (data: Uint8Array) =>
          new MessageWriter(Op.Tread + 1, tag, READ_OVERHEAD + data.byteLength)
            .u32(data.byteLength)
            .bytes(data)
            .finish();
        if (fid.xattr) return answer(fid.xattr.subarray(Math.min(offset, fid.xattr.byteLength), offset + count));
        if (isDir(tree.get(fid.ino))) throw new FsError(Errno.EISDIR);
        return tree.read(fid.ino, offset, count).then(answer);
      }
      case Op.Twrite: {
        const fid = this.#fid(r.u32());
        const offset = r.u64();
        const count = r.u32();
        const data = r.bytes(count).slice();
        if (fid.xattrWrite) {
          fid.xattrWrite.chunks.push(data);
          return w().u32(count).finish();
        }
        return tree.write(fid.ino, offset, data).then((written) => w().u32(written).finish());
      }
      case Op.Treaddir: {
        const fid = this.#fid(r.u32());
        const offset = r.u64();
        const count = Math.min(r.u32(), this.#msize - READ_OVERHEAD);
        // A listing taken when reading starts, so offsets stay meaningful while the directory changes.
        if (offset === 0 || !fid.listing) fid.listing = tree.list(fid.ino);
        const reply = new MessageWriter(Op.Treaddir + 1, tag, Math.min(count, 8192) + READ_OVERHEAD).u32(0);
        let used = 0;
        for (let i = offset; i < fid.listing.length; i++) {
          const { name, inode } = fid.listing[i]!;
          const encoded = encoder.encode(name);
          const size = 13 + 8 + 1 + 2 + encoded.byteLength;
          if (used + size > count) break;
          reply
            .qid(qidOf(inode, this.qidBase))
            .u64(i + 1)
            .u8(DT[inode.mode & S_IFMT] ?? 0)
            .encodedString(encoded);
          used += size;
        }
        return reply.patchU32(HEADER_SIZE, used).finish();
      }
      case Op.Tgetattr: {
        const inode = tree.get(this.#fid(r.u32()).ino);
        const seconds = (ms: number) => Math.floor(ms / 1000);
        const nanos = (ms: number) => Math.round((ms % 1000) * 1e6);
        return w(160)
          .u64(STATS_BASIC)
          .qid(qidOf(inode, this.qidBase))
          .u32(inode.mode)
          .u32(inode.uid)
          .u32(inode.gid)
          .u64(inode.nlink)
          .u64(inode.rdev)
          .u64(inode.size)
          .u64(4096)
          .u64(Math.ceil(inode.size / 512))
          .u64(seconds(inode.atime))
          .u64(nanos(inode.atime))
          .u64(seconds(inode.mtime))
          .u64(nanos(inode.mtime))
          .u64(seconds(inode.ctime))
          .u64(nanos(inode.ctime))
          .u64(0)
          .u64(0)
          .u64(0)
          .u64(0)
          .finish();
      }
      case Op.Tsetattr: {
        const fid = this.#fid(r.u32());
        const valid = r.u32();
        const mode = r.u32();
        const uid = r.u32();
        const gid = r.u32();
        const size = r.u64();
        const atime = r.u64() * 1000 + Math.floor(r.u64() / 1e6);
        const mtime = r.u64() * 1000 + Math.floor(r.u64() / 1e6);
        const now = Date.now();
        const change: Parameters<ServedTree["setattr"]>[1] = {};
        if (valid & SETATTR.MODE) change.mode = mode;
        if (valid & SETATTR.UID) change.uid = uid;
        if (valid & SETATTR.GID) change.gid = gid;
        if (valid & SETATTR.SIZE) change.size = size;
        if (valid & SETATTR.ATIME) change.atime = valid & SETATTR.ATIME_SET ? atime : now;
        if (valid & SETATTR.MTIME) change.mtime = valid & SETATTR.MTIME_SET ? mtime : now;
        return tree.setattr(fid.ino, change).then(() => w().finish());
      }
      case Op.Treadlink: {
        const inode = tree.get(this.#fid(r.u32()).ino);
        if (inode.target === undefined) throw new FsError(Errno.EINVAL);
        return w().string(inode.target).finish();
      }
      case Op.Txattrwalk: {
        const number = r.u32();
        const fid = this.#fid(number);
        const newFid = r.u32();
        const name = r.string();
        if (newFid !== number) this.#checkUnused(newFid);
        const inode = tree.get(fid.ino);
        let value: Uint8Array;
        if (name === "") {
          const names = [...(inode.xattrs?.keys() ?? [])].filter((key) =>
            LISTED_XATTR_PREFIXES.some((prefix) => key.startsWith(prefix)),
          );
          value = encoder.encode(names.map((key) => `${key}\0`).join(""));
        } else {
          const found = inode.xattrs?.get(name);
          if (!found) throw new FsError(Errno.ENODATA);
          value = found;
        }
        this.#setFid(newFid, { ino: fid.ino, uid: fid.uid, xattr: value });
        return w().u64(value.byteLength).finish();
      }
      case Op.Txattrcreate: {
        const fid = this.#fid(r.u32());
        const name = r.string();
        r.u64(); // attr_size: the writes that follow say it
        r.u32(); // flags (XATTR_CREATE/REPLACE): last writer wins
        fid.xattrWrite = { name, chunks: [] };
        return w().finish();
      }
      case Op.Tstatfs: {
        this.#fid(r.u32());
        // The store's room is the browser's quota or the host's disk: report plenty, as an overlay on a big disk does.
        const blocks = 2 ** 26;
        return w(72)
          .u32(V9FS_MAGIC)
          .u32(4096)
          .u64(blocks)
          .u64(blocks)
          .u64(blocks)
          .u64(2 ** 24)
          .u64(2 ** 24)
          .u64(0)
          .u32(255)
          .finish();
      }
      case Op.Tfsync: {
        const fid = this.#fid(r.u32());
        return tree.sync(fid.ino).then(() => w().finish());
      }
      case Op.Tlock: {
        // One guest is the only client: the kernel's own lock table already arbitrates between its processes.
        this.#fid(r.u32());
        return w().u8(0).finish();
      }
      case Op.Tgetlock:
        this.#fid(r.u32());
        return unlockedGetlock(r, w());
      default:
        throw new FsError(Errno.EOPNOTSUPP);
    }
  }
}
