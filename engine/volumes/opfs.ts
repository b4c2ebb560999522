// Volume data in the page's origin private file system, for the engine's dedicated worker (the only place
// `createSyncAccessHandle` exists): drydock/volumes/<name>/tree is the tree document (replaced through a writable
// stream, which swaps the file in whole on close), drydock/volumes/<name>/files/<ino> the bytes of each file, read
// and written in place through synchronous access handles kept open for the files in use.
import { EngineError } from "../errors.ts";
import { engineDirectory, type OpfsDirectory, type OpfsSyncAccess } from "../opfs.ts";
import { checkStoredVolumeName, type VolumeDataStore } from "./storage.ts";

const OPEN_HANDLES = 64;

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "NotFoundError" || name === "TypeMismatchError";
}

/**
 * Volume data in OPFS.
 * @example
 * const tree = await VolumeTree.open(await OpfsVolumeDataStore.open());
 */
export class OpfsVolumeDataStore implements VolumeDataStore {
  /** Open access handles, least recently used first. */
  readonly #handles = new Map<string, Promise<OpfsSyncAccess>>();

  private constructor(private readonly root: OpfsDirectory) {}

  static async open(root?: OpfsDirectory): Promise<OpfsVolumeDataStore> {
    if (root) return new OpfsVolumeDataStore(root);
    const drydock = await engineDirectory();
    return new OpfsVolumeDataStore(await drydock.getDirectoryHandle("volumes", { create: true }));
  }

  async volumes(): Promise<string[]> {
    const names: string[] = [];
    for await (const name of this.root.keys()) names.push(name);
    return names;
  }

  async readTree(volume: string): Promise<Uint8Array | undefined> {
    try {
      const dir = await this.root.getDirectoryHandle(volume);
      const file = await (await dir.getFileHandle("tree")).getFile();
      return new Uint8Array(await file.arrayBuffer());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async writeTree(volume: string, bytes: Uint8Array): Promise<void> {
    const dir = await this.root.getDirectoryHandle(checkStoredVolumeName(volume), { create: true });
    const stream = await (await dir.getFileHandle("tree", { create: true })).createWritable();
    await stream.write(bytes);
    await stream.close();
  }

  async #handle(volume: string, ino: number, create: boolean): Promise<OpfsSyncAccess | undefined> {
    const key = `${volume}/${ino}`;
    let handle = this.#handles.get(key);
    if (handle) {
      this.#handles.delete(key);
      this.#handles.set(key, handle);
      return handle;
    }
    const opening = (async () => {
      const dir = await this.root.getDirectoryHandle(checkStoredVolumeName(volume), { create });
      const files = await dir.getDirectoryHandle("files", { create });
      const file = await files.getFileHandle(String(ino), { create });
      if (!file.createSyncAccessHandle) {
        throw new EngineError("unavailable", "volume data needs OPFS's synchronous access handles: a dedicated worker");
      }
      return file.createSyncAccessHandle();
    })();
    handle = opening;
    this.#handles.set(key, handle);
    opening.catch(() => this.#handles.delete(key));
    while (this.#handles.size > OPEN_HANDLES) {
      const [oldest, old] = this.#handles.entries().next().value as [string, Promise<OpfsSyncAccess>];
      this.#handles.delete(oldest);
      old.then((h) => h.close()).catch(() => {});
    }
    try {
      return await handle;
    } catch (error) {
      if (!create && isNotFound(error)) return undefined;
      throw error;
    }
  }

  async read(volume: string, ino: number, offset: number, length: number): Promise<Uint8Array> {
    const handle = await this.#handle(volume, ino, false);
    if (!handle) return new Uint8Array(0);
    const buffer = new Uint8Array(Math.max(0, Math.min(length, handle.getSize() - offset)));
    const read = buffer.byteLength ? handle.read(buffer, { at: offset }) : 0;
    return buffer.subarray(0, read);
  }

  async write(volume: string, ino: number, offset: number, data: Uint8Array): Promise<void> {
    const handle = (await this.#handle(volume, ino, true))!;
    this.#quota(() => handle.write(data, { at: offset }));
  }

  async truncate(volume: string, ino: number, size: number): Promise<void> {
    const handle = (await this.#handle(volume, ino, true))!;
    this.#quota(() => handle.truncate(size));
  }

  #quota(write: () => unknown): void {
    try {
      write();
    } catch (error) {
      if ((error as { name?: unknown }).name === "QuotaExceededError")
        throw new EngineError(
          "unavailable",
          "the browser's storage quota for this page is full: remove volumes or images",
        );
      throw error;
    }
  }

  async #closeHandle(key: string): Promise<void> {
    const handle = this.#handles.get(key);
    this.#handles.delete(key);
    await handle?.then((h) => h.close()).catch(() => {});
  }

  async deleteFile(volume: string, ino: number): Promise<void> {
    await this.#closeHandle(`${volume}/${ino}`);
    try {
      const files = await (await this.root.getDirectoryHandle(volume)).getDirectoryHandle("files");
      await files.removeEntry(String(ino));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async deleteVolume(volume: string): Promise<void> {
    for (const key of [...this.#handles.keys()]) if (key.startsWith(`${volume}/`)) await this.#closeHandle(key);
    await this.root.removeEntry(volume, { recursive: true }).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }

  async flush(volume: string, ino: number): Promise<void> {
    (await this.#handles.get(`${volume}/${ino}`))?.flush();
  }

  async close(): Promise<void> {
    for (const key of [...this.#handles.keys()]) await this.#closeHandle(key);
  }
}
