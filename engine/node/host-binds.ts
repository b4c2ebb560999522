// Host directories for bind mounts, offered only under `drydock daemon --allow-bind DIR`: HostBinds decides whether a
// bind's source is one of them (its real path, symbolic links and all, inside an allowed DIR), and HostTree serves
// those directories to the guest under the 9P share's `binds` directory (engine/fs9p's share, the same writable
// server as the volumes), entry k being the k-th allowed DIR. The guest never asks the host to follow a link: every
// name is looked up with lstat, files are opened with O_NOFOLLOW, and a symlink's target is read back for the guest's
// kernel to resolve inside the container. Owners are mapped as rootless Docker maps them: the daemon's user is root in
// the guest, other owners show as nobody (65534); a daemon run as root maps nothing.
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  type Stats,
  statSync,
  symlinkSync,
  unlinkSync,
} from "node:fs";
import { mkdir, open, realpath } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import { EngineError } from "../errors.ts";
import type { ServedInode, ServedNewNode, ServedTree } from "../fs9p/index.ts";
import { Errno, FsError } from "../fs9p/wire.ts";
import type { HostBindAnswer, HostBindResolver } from "../volumes/index.ts";

const ROOT_INO = 1;
/** Whether `path` is `dir` or below it (both real paths). */
const inside = (path: string, dir: string) => path === dir || path.startsWith(dir === "/" ? "/" : `${dir}/`);
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const NOBODY = 65534;

/** A Node fs error as the errno the guest's kernel gets back. */
function fsError(error: unknown): FsError {
  if (error instanceof FsError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? "";
  const errno = (osConstants.errno as Record<string, number>)[code];
  return new FsError(errno ?? Errno.EIO);
}

function attempt<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw fsError(error);
  }
}

async function attemptAsync<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw fsError(error);
  }
}

function checkName(name: string): void {
  if (!name || name === "." || name === ".." || name.includes("/") || name.includes("\0"))
    throw new FsError(Errno.EINVAL);
}

/**
 * The allowed host directories as one tree for the guest (engine/fs9p's ServedTree).
 * @example
 * const tree = new HostTree(["/home/me/project"]);
 * createShareServer(layers, volumes, { binds: tree }); // the guest sees /home/me/project as …/binds/0
 */
export class HostTree implements ServedTree {
  /** Where each inode was last found: its directory's inode and its name there. */
  readonly #places = new Map<number, { parent: number; name: string }>();
  /** The host's device:inode → the inode number the guest sees (stable for the tree's life). */
  readonly #numbers = new Map<string, number>();
  #next = ROOT_INO + 1;
  readonly #uid: number;
  readonly #gid: number;

  /** `dirs`: real paths (no symbolic link on the way), as HostBinds.open makes them. */
  constructor(readonly dirs: readonly string[]) {
    this.#uid = process.getuid?.() ?? 0;
    this.#gid = process.getgid?.() ?? 0;
  }

  #toGuest(id: number, own: number): number {
    if (this.#uid === 0) return id;
    return id === own ? 0 : NOBODY;
  }

  #toHost(id: number, own: number): number {
    if (this.#uid === 0) return id;
    return id === 0 ? own : id;
  }

  /**
   * The host path of an inode, every directory on the way checked to be one (not a link a container put there since):
   * the metadata calls that follow run before any other 9P request, so nothing changes the path in between.
   */
  #path(ino: number): string {
    const names: string[] = [];
    let at = ino;
    for (;;) {
      if (at === ROOT_INO) throw new FsError(Errno.EPERM);
      const place = this.#places.get(at);
      if (!place) throw new FsError(Errno.ENOENT);
      if (place.parent === ROOT_INO) {
        const dir = this.dirs[Number(place.name)];
        if (dir === undefined) throw new FsError(Errno.ENOENT);
        let path = dir;
        for (const name of names.reverse().slice(0, -1)) {
          path = join(path, name);
          if (!attempt(() => lstatSync(path)).isDirectory()) throw new FsError(Errno.ENOENT);
        }
        return names.length ? join(path, names.at(-1)!) : path;
      }
      names.push(place.name);
      at = place.parent;
    }
  }

  /**
   * Opens an inode's file for a read, write, truncate or fsync (which wait, so other requests may run before the
   * open): O_NOFOLLOW for its last name, and the opened file's real path checked to be inside its allowed DIR.
   */
  async #open(ino: number, flags: number) {
    const path = this.#path(ino);
    const handle = await open(path, flags | constants.O_NOFOLLOW);
    try {
      const real = await realpath(`/proc/self/fd/${handle.fd}`);
      if (!this.dirs.some((dir) => inside(real, dir))) throw new FsError(Errno.EACCES);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return handle;
  }

  #register(stats: Stats, parent: number, name: string): number {
    const key = `${stats.dev}:${stats.ino}`;
    let ino = this.#numbers.get(key);
    if (ino === undefined) {
      ino = this.#next++;
      this.#numbers.set(key, ino);
    }
    this.#places.set(ino, { parent, name });
    return ino;
  }

  #inode(ino: number, stats: Stats, path: string): ServedInode {
    const inode: ServedInode = {
      ino,
      mode: stats.mode,
      uid: this.#toGuest(stats.uid, this.#uid),
      gid: this.#toGuest(stats.gid, this.#gid),
      size: stats.size,
      atime: stats.atimeMs,
      mtime: stats.mtimeMs,
      ctime: stats.ctimeMs,
      nlink: stats.nlink,
      // Device numbers of the host mean nothing in the guest.
      rdev: 0,
    };
    if ((stats.mode & S_IFMT) === S_IFLNK) inode.target = attempt(() => readlinkSync(path, "utf8"));
    return inode;
  }

  get(ino: number): ServedInode {
    if (ino === ROOT_INO) {
      return {
        ino,
        mode: S_IFDIR | 0o555,
        uid: 0,
        gid: 0,
        size: 4096,
        atime: 0,
        mtime: 0,
        ctime: 0,
        nlink: 2,
        rdev: 0,
      };
    }
    const path = this.#path(ino);
    return this.#inode(
      ino,
      attempt(() => lstatSync(path)),
      path,
    );
  }

  lookup(dir: number, name: string): ServedInode {
    if (name === "." || name === "") return this.get(dir);
    if (name === "..") {
      const place = this.#places.get(dir);
      return this.get(place && dir !== ROOT_INO ? place.parent : ROOT_INO);
    }
    checkName(name);
    if (dir === ROOT_INO) {
      const index = /^\d+$/.test(name) ? Number(name) : -1;
      const path = this.dirs[index];
      if (path === undefined) throw new FsError(Errno.ENOENT);
      const stats = attempt(() => lstatSync(path));
      return this.#inode(this.#register(stats, ROOT_INO, name), stats, path);
    }
    const parent = this.get(dir);
    if ((parent.mode & S_IFMT) !== S_IFDIR) throw new FsError(Errno.ENOTDIR);
    const path = join(this.#path(dir), name);
    const stats = attempt(() => lstatSync(path));
    return this.#inode(this.#register(stats, dir, name), stats, path);
  }

  list(dir: number): { name: string; inode: ServedInode }[] {
    const self = this.get(dir);
    if ((self.mode & S_IFMT) !== S_IFDIR) throw new FsError(Errno.ENOTDIR);
    const listing = [
      { name: ".", inode: self },
      { name: "..", inode: this.lookup(dir, "..") },
    ];
    const names = dir === ROOT_INO ? this.dirs.map((_, i) => String(i)) : attempt(() => readdirSync(this.#path(dir)));
    for (const name of names) {
      try {
        listing.push({ name, inode: this.lookup(dir, name) });
      } catch {
        // Gone between the listing and its lstat: not listed.
      }
    }
    return listing;
  }

  #child(dir: number, name: string): string {
    checkName(name);
    if (dir === ROOT_INO) throw new FsError(Errno.EPERM);
    return join(this.#path(dir), name);
  }

  #own(path: string, node: ServedNewNode): void {
    // Only root may give a file away; a daemon run as a user makes every file its own (root in the guest).
    if (this.#uid === 0) attempt(() => lchownSync(path, node.uid, node.gid));
  }

  create(dir: number, name: string, node: ServedNewNode): ServedInode {
    const path = this.#child(dir, name);
    const type = node.mode & S_IFMT;
    if (type === S_IFREG) {
      const fd = attempt(() =>
        openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600),
      );
      try {
        attempt(() => fchmodSync(fd, node.mode & 0o7777));
      } finally {
        closeSync(fd);
      }
    } else if (type === S_IFLNK) {
      attempt(() => symlinkSync(node.target ?? "", path));
    } else if (type === S_IFDIR) {
      return this.mkdir(dir, name, node);
    } else {
      // Device nodes, fifos and sockets are not made on the host.
      throw new FsError(Errno.EPERM);
    }
    this.#own(path, node);
    return this.lookup(dir, name);
  }

  mkdir(dir: number, name: string, node: ServedNewNode): ServedInode {
    const path = this.#child(dir, name);
    attempt(() => mkdirSync(path, 0o700));
    attempt(() => chmodSync(path, node.mode & 0o7777));
    this.#own(path, node);
    return this.lookup(dir, name);
  }

  link(dir: number, name: string, ino: number): ServedInode {
    const path = this.#child(dir, name);
    const target = this.#path(ino);
    attempt(() => linkSync(target, path));
    return this.lookup(dir, name);
  }

  unlink(dir: number, name: string, directory: boolean): void {
    const path = this.#child(dir, name);
    const isDirectory = attempt(() => lstatSync(path)).isDirectory();
    if (isDirectory && !directory) throw new FsError(Errno.EISDIR);
    if (!isDirectory && directory) throw new FsError(Errno.ENOTDIR);
    const gone = this.lookup(dir, name).ino;
    attempt(() => (directory ? rmdirSync(path) : unlinkSync(path)));
    // A fid still naming it must not reach whatever takes its name next (a link out, made by the container).
    this.#places.delete(gone);
  }

  rename(fromDir: number, fromName: string, toDir: number, toName: string): void {
    const from = this.#child(fromDir, fromName);
    const to = this.#child(toDir, toName);
    let replaced: number | undefined;
    try {
      replaced = this.lookup(toDir, toName).ino;
    } catch {
      // Nothing there yet.
    }
    attempt(() => renameSync(from, to));
    if (replaced !== undefined) this.#places.delete(replaced);
    this.lookup(toDir, toName);
  }

  async setattr(
    ino: number,
    change: { mode?: number; uid?: number; gid?: number; size?: number; atime?: number; mtime?: number },
  ): Promise<void> {
    const path = this.#path(ino);
    const stats = attempt(() => lstatSync(path));
    const isLink = stats.isSymbolicLink();
    if (change.size !== undefined) {
      if (stats.isDirectory()) throw new FsError(Errno.EISDIR);
      if (!stats.isFile()) throw new FsError(Errno.EINVAL);
      const size = change.size;
      await attemptAsync(async () => {
        const handle = await this.#open(ino, constants.O_WRONLY);
        try {
          await handle.truncate(size);
        } finally {
          await handle.close();
        }
      });
    }
    // chmod follows links (and a link's own mode means nothing on Linux).
    if (change.mode !== undefined && !isLink) attempt(() => chmodSync(path, change.mode! & 0o7777));
    if (change.uid !== undefined || change.gid !== undefined) {
      const uid = change.uid === undefined ? stats.uid : this.#toHost(change.uid, this.#uid);
      const gid = change.gid === undefined ? stats.gid : this.#toHost(change.gid, this.#gid);
      if (uid !== stats.uid || gid !== stats.gid) attempt(() => lchownSync(path, uid, gid));
    }
    if (change.atime !== undefined || change.mtime !== undefined) {
      const atime = (change.atime ?? stats.atimeMs) / 1000;
      const mtime = (change.mtime ?? stats.mtimeMs) / 1000;
      attempt(() => lutimesSync(path, atime, mtime));
    }
  }

  async read(ino: number, offset: number, length: number): Promise<Uint8Array> {
    return attemptAsync(async () => {
      const handle = await this.#open(ino, constants.O_RDONLY);
      try {
        const buffer = new Uint8Array(length);
        const { bytesRead } = await handle.read(buffer, 0, length, offset);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    });
  }

  async write(ino: number, offset: number, data: Uint8Array): Promise<number> {
    return attemptAsync(async () => {
      const handle = await this.#open(ino, constants.O_WRONLY);
      try {
        let written = 0;
        while (written < data.byteLength) {
          const { bytesWritten } = await handle.write(data, written, data.byteLength - written, offset + written);
          written += bytesWritten;
        }
        return written;
      } finally {
        await handle.close();
      }
    });
  }

  setXattr(): void {
    throw new FsError(Errno.EOPNOTSUPP);
  }

  hold(): void {}

  drop(): void {}

  async sync(ino: number): Promise<void> {
    await attemptAsync(async () => {
      const handle = await this.#open(ino, constants.O_RDONLY);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }
}

const isMissing = (error: unknown) => ["ENOENT", "ENOTDIR"].includes((error as NodeJS.ErrnoException).code ?? "");

/** The real path of `path`, or of its deepest existing ancestor with the missing rest appended. */
async function realPathOf(path: string): Promise<{ real: string; exists: boolean }> {
  try {
    return { real: await realpath(path), exists: true };
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  const parts = path.split("/").filter(Boolean);
  for (let keep = parts.length - 1; keep >= 0; keep--) {
    const head = `/${parts.slice(0, keep).join("/")}`;
    try {
      const real = await realpath(head);
      return { real: join(real, ...parts.slice(keep)), exists: false };
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }
  return { real: path, exists: false };
}

/**
 * The daemon's `--allow-bind` directories: which bind sources are host directories, and the tree that serves them.
 * @example
 * const binds = await HostBinds.open(["/home/me/project"]);
 * await binds.resolve("/home/me/project/src", true); // { hostPath: "/home/me/project/src", share: "0/src" }
 */
export class HostBinds implements HostBindResolver {
  private constructor(
    /** The allowed directories as given. */
    readonly given: readonly string[],
    readonly tree: HostTree,
  ) {}

  /** Checks each DIR (it must be an existing directory) and takes its real path. */
  static async open(dirs: readonly string[]): Promise<HostBinds> {
    const real: string[] = [];
    for (const dir of dirs) {
      if (!dir.startsWith("/")) throw new Error(`--allow-bind wants an absolute directory, got ${dir}`);
      let resolved: string;
      try {
        resolved = await realpath(dir);
      } catch {
        throw new Error(`--allow-bind ${dir}: no such directory on this machine`);
      }
      if (!statSync(resolved).isDirectory()) throw new Error(`--allow-bind ${dir}: not a directory`);
      real.push(resolved);
    }
    return new HostBinds(dirs, new HostTree(real));
  }

  #refusal(source: string, why: string): string {
    const allowed = this.given.length
      ? `this daemon offers only ${this.given.join(", ")} (--allow-bind)`
      : "this daemon offers no host directory to containers";
    return `bind source path ${source} ${why}: ${allowed}; start \`drydock daemon\` with --allow-bind DIR naming a directory that holds it (a path that exists only in the guest binds the guest's)`;
  }

  async resolve(source: string, create: boolean): Promise<HostBindAnswer> {
    const dirs = this.tree.dirs;
    const lexical = this.given.findIndex((dir) => inside(source, dir.replace(/\/+$/, "") || "/"));
    const { real, exists } = await realPathOf(source);
    const index = dirs.findIndex((dir) => inside(real, dir));
    if (index < 0) {
      // Under an allowed DIR by its name but somewhere else by its links: refused, whatever the guest has there.
      if (lexical >= 0)
        return { refused: this.#refusal(source, `leads out of ${this.given[lexical]} (to ${real})`), final: true };
      if (exists) return { refused: this.#refusal(source, "is a path of this machine") };
      return undefined;
    }
    if (!exists) {
      if (!create)
        throw new EngineError(
          "invalidArgument",
          `invalid mount config for type "bind": bind source path does not exist: ${source}`,
        );
      // `-v` makes a missing source directory, as dockerd does on its host.
      await mkdir(real, { recursive: true });
    }
    const relative = real.slice(dirs[index]!.length).replace(/^\/+/, "");
    return { hostPath: source, share: relative ? `${index}/${relative}` : String(index) };
  }
}
