// The guest's files as they were verified when first stored, kept in the origin-private file system (OPFS) of the
// page's worker. Each file is named by its sha256 and written under a temporary name that is renamed only once it is
// complete, so a file found under its digest is the file the page asks for: checked (size and sha256) before it was
// stored, and not hashed again. Reading uses a synchronous access handle (one copy, no stream) where the browser
// gives one; another tab holding that handle makes this one fall back to `getFile()`. Where OPFS is missing (an
// insecure origin, an old browser) nothing is kept and every download is verified.
import { type OpfsDirectory, type OpfsFile, opfsRoot } from "../engine/opfs.ts";

/** The directory beside the engine's own (`drydock`), which a workspace reset does not touch. */
export const VERIFIED_DIR = "drydock-guest-verified";
/** The Cache Storage cache earlier versions kept these files in; removed when the store is pruned. */
const OLD_CACHE = "drydock-guest-verified";

export interface StoredFile {
  sha256: string;
  size: number;
}

export class VerifiedStore {
  /** The temporary names this store is writing now (prune leaves them; others are left over from a stopped write). */
  private readonly writing = new Set<string>();

  private constructor(private readonly dir: OpfsDirectory) {}

  /** The store, or undefined where this context has no OPFS. */
  static async open(): Promise<VerifiedStore | undefined> {
    const root = opfsRoot();
    if (!root) return undefined;
    try {
      return new VerifiedStore(await (await root).getDirectoryHandle(VERIFIED_DIR, { create: true }));
    } catch {
      return undefined;
    }
  }

  /** The stored bytes of `file`, or undefined when it is not stored (or stored with another size). */
  async read(file: StoredFile): Promise<ArrayBuffer | undefined> {
    let handle: OpfsFile;
    try {
      handle = await this.dir.getFileHandle(file.sha256);
    } catch {
      return undefined;
    }
    const access = await handle.createSyncAccessHandle?.().catch(() => undefined);
    if (access) {
      try {
        if (access.getSize() !== file.size) return undefined;
        const bytes = new Uint8Array(file.size);
        let at = 0;
        while (at < file.size) {
          const n = access.read(bytes.subarray(at), { at });
          if (n <= 0) return undefined;
          at += n;
        }
        return bytes.buffer;
      } finally {
        access.close();
      }
    }
    const blob = await handle.getFile().catch(() => undefined);
    if (blob?.size !== file.size) return undefined;
    return blob.arrayBuffer().catch(() => undefined);
  }

  /** Stores `bytes`, already checked to be `file`: complete under its digest, or not at all. */
  async write(file: StoredFile, bytes: Uint8Array): Promise<void> {
    const partial = `.partial-${file.sha256}-${Math.random().toString(36).slice(2)}`;
    this.writing.add(partial);
    try {
      const handle = await this.dir.getFileHandle(partial, { create: true });
      const writable = await handle.createWritable();
      await writable.write(bytes);
      await writable.close();
      await handle.move(file.sha256);
    } catch {
      await this.dir.removeEntry(partial).catch(() => {});
    } finally {
      this.writing.delete(partial);
    }
  }

  /** Forgets the stored copies of `files`. */
  async forget(files: readonly StoredFile[]): Promise<void> {
    for (const file of files) await this.dir.removeEntry(file.sha256).catch(() => {});
  }

  /** Forgets every stored file but `keep` (an older state, after the guest changed), and the old Cache Storage copy. */
  async prune(keep: readonly StoredFile[]): Promise<void> {
    const names = new Set(keep.map((f) => f.sha256));
    const stale: string[] = [];
    for await (const name of this.dir.keys()) if (!names.has(name) && !this.writing.has(name)) stale.push(name);
    for (const name of stale) await this.dir.removeEntry(name).catch(() => {});
    if (typeof caches !== "undefined") await caches.delete(OLD_CACHE).catch(() => false);
  }
}
