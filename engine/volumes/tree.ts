// The volumes as one mutable file tree, kept in memory and saved to a VolumeDataStore: the root lists the volumes
// (a directory made there is a new volume, an empty one removed there is a deleted one), below them are ordinary
// files, directories, symlinks, hard links, device nodes and xattrs. Metadata changes are synchronous (the 9P server
// answers them inside v86's notification); file bytes go to the store. A volume's tree document is saved shortly
// after it changes, and at once on fsync, each save a whole consistent state.
import { Errno, FsError } from "../fs9p/wire.ts";

export { FsError };

import { MemoryVolumeDataStore, type VolumeDataStore } from "./storage.ts";

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export interface Inode {
  ino: number;
  /** The volume it belongs to ("" for the root that lists the volumes). */
  volume: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Milliseconds since the epoch. */
  atime: number;
  mtime: number;
  ctime: number;
  nlink: number;
  rdev: number;
  target?: string;
  xattrs?: Map<string, Uint8Array>;
  /** Children by name (directories). */
  entries?: Map<string, number>;
  /** The directory holding it (directories only: `..`). */
  parent: number;
}

/** One inode in a saved tree document. */
type SavedInode = [
  ino: number,
  mode: number,
  uid: number,
  gid: number,
  size: number,
  atime: number,
  mtime: number,
  ctime: number,
  nlink: number,
  rdev: number,
  target: string | null,
  xattrs: Record<string, string> | null,
  entries: Record<string, number> | null,
  parent: number,
];

interface SavedTree {
  version: 1;
  root: number;
  inodes: SavedInode[];
  /** What the volume store records about the volume (labels, creation time). */
  info?: VolumeInfo;
}

/** A volume's record beside its files, saved in its tree document. */
export interface VolumeInfo {
  createdAt: number;
  labels: Record<string, string>;
  anonymous: boolean;
}

export const ROOT_INO = 1;
const SAVE_DELAY_MS = 200;
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

export interface NewNode {
  mode: number;
  uid: number;
  gid: number;
  rdev?: number;
  target?: string;
}

/**
 * Every volume's files.
 * @example
 * const tree = await VolumeTree.open(new MemoryVolumeDataStore());
 * const data = tree.mkdir(ROOT_INO, "data", { mode: 0o40755, uid: 0, gid: 0 }); // a new volume
 */
export class VolumeTree {
  readonly #inodes = new Map<number, Inode>();
  #nextIno = ROOT_INO + 1;
  /** Open references per inode (9P fids): an unlinked file keeps its bytes until the last is gone. */
  readonly #opened = new Map<number, number>();
  readonly #dirty = new Set<string>();
  readonly #info = new Map<string, VolumeInfo>();
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  #saving: Promise<void> = Promise.resolve();
  readonly #onError: (error: unknown) => void;

  private constructor(
    readonly store: VolumeDataStore,
    onError?: (error: unknown) => void,
  ) {
    this.#onError = onError ?? (() => {});
    const now = Date.now();
    this.#inodes.set(ROOT_INO, {
      ino: ROOT_INO,
      volume: "",
      mode: S_IFDIR | 0o755,
      uid: 0,
      gid: 0,
      size: 4096,
      atime: now,
      mtime: now,
      ctime: now,
      nlink: 2,
      rdev: 0,
      entries: new Map(),
      parent: ROOT_INO,
    });
  }

  /** An empty tree whose data stays in memory (an engine started without storage). */
  static inMemory(): VolumeTree {
    return new VolumeTree(new MemoryVolumeDataStore());
  }

  /** Loads every volume the store holds. */
  static async open(store: VolumeDataStore, options: { onError?: (error: unknown) => void } = {}) {
    const tree = new VolumeTree(store, options.onError);
    for (const volume of await store.volumes()) {
      const bytes = await store.readTree(volume);
      if (bytes) tree.#load(volume, JSON.parse(new TextDecoder().decode(bytes)) as SavedTree);
    }
    return tree;
  }

  #load(volume: string, saved: SavedTree): void {
    const root = this.#inodes.get(ROOT_INO)!;
    for (const [
      ino,
      mode,
      uid,
      gid,
      size,
      atime,
      mtime,
      ctime,
      nlink,
      rdev,
      target,
      xattrs,
      entries,
      parent,
    ] of saved.inodes) {
      const inode: Inode = { ino, volume, mode, uid, gid, size, atime, mtime, ctime, nlink, rdev, parent };
      if (target !== null) inode.target = target;
      if (xattrs) inode.xattrs = new Map(Object.entries(xattrs).map(([k, v]) => [k, fromBase64(v)]));
      if (entries) inode.entries = new Map(Object.entries(entries));
      this.#inodes.set(ino, inode);
      this.#nextIno = Math.max(this.#nextIno, ino + 1);
    }
    this.#inodes.get(saved.root)!.parent = ROOT_INO;
    root.entries!.set(volume, saved.root);
    root.nlink++;
    if (saved.info) this.#info.set(volume, saved.info);
  }

  get(ino: number): Inode {
    const inode = this.#inodes.get(ino);
    if (!inode) throw new FsError(Errno.ENOENT);
    return inode;
  }

  /** The volume names with their root inode. */
  volumes(): string[] {
    return [...this.get(ROOT_INO).entries!.keys()];
  }

  lookup(dir: number, name: string): Inode {
    const parent = this.get(dir);
    if (!parent.entries) throw new FsError(Errno.ENOTDIR);
    if (name === "..") return this.get(parent.parent);
    if (name === "." || name === "") return parent;
    const ino = parent.entries.get(name);
    if (ino === undefined) throw new FsError(Errno.ENOENT);
    return this.get(ino);
  }

  /** `.`, `..` and the entries of a directory. */
  list(dir: number): { name: string; inode: Inode }[] {
    const parent = this.get(dir);
    if (!parent.entries) throw new FsError(Errno.ENOTDIR);
    const listing = [
      { name: ".", inode: parent },
      { name: "..", inode: this.get(parent.parent) },
    ];
    for (const [name, ino] of parent.entries) listing.push({ name, inode: this.get(ino) });
    return listing;
  }

  #touch(inode: Inode, now = Date.now()): void {
    inode.mtime = now;
    inode.ctime = now;
    this.#changed(inode.volume);
  }

  #changed(volume: string): void {
    if (!volume) return;
    this.#dirty.add(volume);
    this.#saveTimer ??= setTimeout(() => {
      this.#saveTimer = undefined;
      this.save().catch(this.#onError);
    }, SAVE_DELAY_MS);
  }

  #checkName(name: string): void {
    if (!name || name === "." || name === ".." || name.includes("/")) throw new FsError(Errno.EINVAL);
    if (new TextEncoder().encode(name).byteLength > 255) throw new FsError(Errno.ENAMETOOLONG);
  }

  /** Makes a file, directory, symlink or device node named `name` in `dir`. */
  create(dir: number, name: string, node: NewNode): Inode {
    this.#checkName(name);
    const parent = this.get(dir);
    if (!parent.entries) throw new FsError(Errno.ENOTDIR);
    if (parent.entries.has(name)) throw new FsError(Errno.EEXIST);
    const isDir = (node.mode & S_IFMT) === S_IFDIR;
    if (dir === ROOT_INO) {
      // The root holds volumes only: a directory there is a new volume.
      if (!isDir) throw new FsError(Errno.EPERM);
      if (!VOLUME_NAME.test(name)) throw new FsError(Errno.EINVAL);
    }
    const now = Date.now();
    const inode: Inode = {
      ino: this.#nextIno++,
      volume: dir === ROOT_INO ? name : parent.volume,
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
      size: isDir ? 4096 : node.target !== undefined ? new TextEncoder().encode(node.target).byteLength : 0,
      atime: now,
      mtime: now,
      ctime: now,
      nlink: isDir ? 2 : 1,
      rdev: node.rdev ?? 0,
      parent: dir,
    };
    if (node.target !== undefined) inode.target = node.target;
    if (isDir) {
      inode.entries = new Map();
      parent.nlink++;
    }
    this.#inodes.set(inode.ino, inode);
    parent.entries.set(name, inode.ino);
    this.#touch(parent, now);
    this.#changed(inode.volume);
    return inode;
  }

  mkdir(dir: number, name: string, node: Omit<NewNode, "mode"> & { mode: number }): Inode {
    return this.create(dir, name, { ...node, mode: S_IFDIR | (node.mode & 0o7777) });
  }

  /** A hard link to `ino` named `name` in `dir`. */
  link(dir: number, name: string, ino: number): Inode {
    this.#checkName(name);
    const parent = this.get(dir);
    const target = this.get(ino);
    if (!parent.entries) throw new FsError(Errno.ENOTDIR);
    if (target.entries) throw new FsError(Errno.EPERM);
    if (parent.volume !== target.volume || dir === ROOT_INO) throw new FsError(Errno.EXDEV);
    if (parent.entries.has(name)) throw new FsError(Errno.EEXIST);
    parent.entries.set(name, ino);
    target.nlink++;
    target.ctime = Date.now();
    this.#touch(parent);
    return target;
  }

  /** Removes `name` from `dir` (a directory only with `directory`, and only when empty). */
  unlink(dir: number, name: string, directory: boolean): void {
    const parent = this.get(dir);
    const inode = this.lookup(dir, name);
    if (name === "." || name === "..") throw new FsError(Errno.EINVAL);
    if (inode.entries) {
      if (!directory) throw new FsError(Errno.EISDIR);
      if (inode.entries.size) throw new FsError(Errno.ENOTEMPTY);
    } else if (directory) throw new FsError(Errno.ENOTDIR);
    parent.entries!.delete(name);
    if (inode.entries) {
      parent.nlink--;
      inode.nlink = 0;
    } else inode.nlink--;
    inode.ctime = Date.now();
    this.#touch(parent);
    if (dir === ROOT_INO) {
      // An empty volume removed: its storage goes with it.
      this.#inodes.delete(inode.ino);
      this.#dirty.delete(inode.volume);
      this.#info.delete(inode.volume);
      this.#saving = this.#saving.then(() => this.store.deleteVolume(inode.volume)).catch(this.#onError);
      return;
    }
    this.#release(inode);
  }

  /** Forgets an inode nobody links to or has open, and deletes its bytes. */
  #release(inode: Inode): void {
    if (inode.nlink > 0 || (this.#opened.get(inode.ino) ?? 0) > 0) return;
    this.#inodes.delete(inode.ino);
    if ((inode.mode & S_IFMT) === S_IFREG) this.store.deleteFile(inode.volume, inode.ino).catch(this.#onError);
  }

  rename(fromDir: number, fromName: string, toDir: number, toName: string): void {
    this.#checkName(toName);
    const from = this.get(fromDir);
    const to = this.get(toDir);
    const inode = this.lookup(fromDir, fromName);
    if (!to.entries) throw new FsError(Errno.ENOTDIR);
    if (fromDir === ROOT_INO || toDir === ROOT_INO) throw new FsError(Errno.EPERM);
    if (from.volume !== to.volume) throw new FsError(Errno.EXDEV);
    // A directory cannot move below itself.
    for (let at = to; ; at = this.get(at.parent)) {
      if (at.ino === inode.ino) throw new FsError(Errno.EINVAL);
      if (at.parent === at.ino || at.ino === ROOT_INO) break;
    }
    const replaced = to.entries.get(toName);
    if (replaced === inode.ino) return;
    if (replaced !== undefined) {
      const old = this.get(replaced);
      if (old.entries && !inode.entries) throw new FsError(Errno.EISDIR);
      if (!old.entries && inode.entries) throw new FsError(Errno.ENOTDIR);
      this.unlink(toDir, toName, !!old.entries);
    }
    from.entries!.delete(fromName);
    to.entries.set(toName, inode.ino);
    if (inode.entries) {
      inode.parent = toDir;
      from.nlink--;
      to.nlink++;
    }
    const now = Date.now();
    inode.ctime = now;
    this.#touch(from, now);
    this.#touch(to, now);
  }

  /** Changes mode, owner, size or times (Tsetattr). */
  async setattr(
    ino: number,
    change: { mode?: number; uid?: number; gid?: number; size?: number; atime?: number; mtime?: number },
  ): Promise<void> {
    const inode = this.get(ino);
    if (change.size !== undefined) {
      if (inode.entries) throw new FsError(Errno.EISDIR);
      if ((inode.mode & S_IFMT) !== S_IFREG) throw new FsError(Errno.EINVAL);
      await this.store.truncate(inode.volume, ino, change.size);
      inode.size = change.size;
      inode.mtime = Date.now();
    }
    if (change.mode !== undefined) inode.mode = (inode.mode & S_IFMT) | (change.mode & 0o7777);
    if (change.uid !== undefined) inode.uid = change.uid;
    if (change.gid !== undefined) inode.gid = change.gid;
    if (change.atime !== undefined) inode.atime = change.atime;
    if (change.mtime !== undefined) inode.mtime = change.mtime;
    inode.ctime = Date.now();
    this.#changed(inode.volume);
  }

  async read(ino: number, offset: number, length: number): Promise<Uint8Array> {
    const inode = this.get(ino);
    const wanted = Math.max(0, Math.min(length, inode.size - offset));
    if (wanted === 0) return new Uint8Array(0);
    const data = await this.store.read(inode.volume, ino, offset, wanted);
    if (data.byteLength === wanted) return data;
    // Bytes the store never got (a hole, or a tab closed between a write and its tree's save) read as zeros.
    const padded = new Uint8Array(wanted);
    padded.set(data.subarray(0, wanted));
    return padded;
  }

  async write(ino: number, offset: number, data: Uint8Array): Promise<number> {
    const inode = this.get(ino);
    if ((inode.mode & S_IFMT) !== S_IFREG) throw new FsError(Errno.EINVAL);
    await this.store.write(inode.volume, ino, offset, data);
    inode.size = Math.max(inode.size, offset + data.byteLength);
    this.#touch(inode);
    return data.byteLength;
  }

  setXattr(ino: number, name: string, value: Uint8Array | undefined): void {
    const inode = this.get(ino);
    if (value === undefined) {
      if (!inode.xattrs?.delete(name)) throw new FsError(Errno.ENODATA);
    } else {
      inode.xattrs ??= new Map();
      inode.xattrs.set(name, value);
    }
    inode.ctime = Date.now();
    this.#changed(inode.volume);
  }

  /** A 9P fid now names this inode. */
  hold(ino: number): void {
    this.#opened.set(ino, (this.#opened.get(ino) ?? 0) + 1);
  }

  /** A fid naming it is gone. */
  drop(ino: number): void {
    const count = (this.#opened.get(ino) ?? 1) - 1;
    if (count > 0) this.#opened.set(ino, count);
    else this.#opened.delete(ino);
    const inode = this.#inodes.get(ino);
    if (inode && count <= 0 && inode.ino !== ROOT_INO && inode.volume && inode.nlink <= 0) this.#release(inode);
  }

  /** fsync: the inode's bytes and its volume's tree on stable storage. */
  async sync(ino: number): Promise<void> {
    const inode = this.get(ino);
    if ((inode.mode & S_IFMT) === S_IFREG) await this.store.flush(inode.volume, ino);
    await this.save();
  }

  /** Writes the tree document of every volume changed since the last save. */
  save(): Promise<void> {
    if (this.#saveTimer !== undefined) {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
    }
    const volumes = [...this.#dirty];
    this.#dirty.clear();
    const documents = volumes.map((volume) => [volume, this.#document(volume)] as const);
    this.#saving = this.#saving
      .then(async () => {
        for (const [volume, document] of documents) if (document) await this.store.writeTree(volume, document);
      })
      .catch(this.#onError);
    return this.#saving;
  }

  /** The volume's tree as a document, or undefined when the volume is gone. */
  #document(volume: string): Uint8Array | undefined {
    const rootIno = this.get(ROOT_INO).entries!.get(volume);
    if (rootIno === undefined) return undefined;
    const inodes: SavedInode[] = [];
    const seen = new Set<number>();
    const visit = (ino: number) => {
      if (seen.has(ino)) return;
      seen.add(ino);
      const i = this.get(ino);
      inodes.push([
        i.ino,
        i.mode,
        i.uid,
        i.gid,
        i.size,
        i.atime,
        i.mtime,
        i.ctime,
        i.nlink,
        i.rdev,
        i.target ?? null,
        i.xattrs?.size ? Object.fromEntries([...i.xattrs].map(([k, v]) => [k, toBase64(v)])) : null,
        i.entries ? Object.fromEntries(i.entries) : null,
        i.parent,
      ]);
      for (const child of i.entries?.values() ?? []) visit(child);
    };
    visit(rootIno);
    const saved: SavedTree = { version: 1, root: rootIno, inodes };
    const info = this.#info.get(volume);
    if (info) saved.info = info;
    return new TextEncoder().encode(JSON.stringify(saved));
  }

  /** The record the volume store keeps with a volume, if any. */
  volumeInfo(volume: string): VolumeInfo | undefined {
    return this.#info.get(volume);
  }

  /** Records a volume's labels and creation time with its files (saved with its tree). */
  setVolumeInfo(volume: string, info: VolumeInfo): void {
    this.#info.set(volume, info);
    this.#changed(volume);
  }

  /** Bytes the files of a volume hold (what `docker system df` shows). */
  usage(volume: string): number {
    let total = 0;
    for (const inode of this.#inodes.values())
      if (inode.volume === volume && (inode.mode & S_IFMT) === S_IFREG) total += inode.size;
    return total;
  }

  /** Saves what is pending and closes the store. */
  async close(): Promise<void> {
    await this.save();
    await this.store.close();
  }
}
