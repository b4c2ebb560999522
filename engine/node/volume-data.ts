// Volume data under the Node daemon's data root: <root>/<name>/tree is the tree document (written aside and renamed
// over, so a crash leaves the old or the new one), <root>/<name>/files/<ino> the bytes of each file, written in place
// through file handles kept open for the files in use.
import { constants, type FileHandle, mkdir, open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkStoredVolumeName, type VolumeDataStore } from "../volumes/index.ts";

const OPEN_HANDLES = 64;

const isNotFound = (error: unknown) => (error as NodeJS.ErrnoException).code === "ENOENT";

/**
 * Volume data on disk.
 * @example
 * const tree = await VolumeTree.open(new FsVolumeDataStore("/var/lib/drydock/volumes"));
 */
export class FsVolumeDataStore implements VolumeDataStore {
  /** Open handles, least recently used first. */
  readonly #handles = new Map<string, Promise<FileHandle>>();

  constructor(readonly root: string) {}

  async volumes(): Promise<string[]> {
    try {
      return (await readdir(this.root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }

  async readTree(volume: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(join(this.root, volume, "tree")));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async writeTree(volume: string, bytes: Uint8Array): Promise<void> {
    const dir = join(this.root, checkStoredVolumeName(volume));
    await mkdir(dir, { recursive: true });
    const partial = join(dir, `tree.${process.pid}.partial`);
    await writeFile(partial, bytes);
    await rename(partial, join(dir, "tree"));
  }

  #path(volume: string, ino: number): string {
    return join(this.root, checkStoredVolumeName(volume), "files", String(ino));
  }

  async #handle(volume: string, ino: number, create: boolean): Promise<FileHandle | undefined> {
    const key = `${volume}/${ino}`;
    let handle = this.#handles.get(key);
    if (handle) {
      this.#handles.delete(key);
      this.#handles.set(key, handle);
      return handle;
    }
    const path = this.#path(volume, ino);
    handle = (async () => {
      if (create) await mkdir(join(path, ".."), { recursive: true });
      return open(path, create ? constants.O_RDWR | constants.O_CREAT : constants.O_RDWR);
    })();
    this.#handles.set(key, handle);
    handle.catch(() => this.#handles.delete(key));
    while (this.#handles.size > OPEN_HANDLES) {
      const [oldest, old] = this.#handles.entries().next().value as [string, Promise<FileHandle>];
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
    const buffer = new Uint8Array(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  }

  async write(volume: string, ino: number, offset: number, data: Uint8Array): Promise<void> {
    const handle = (await this.#handle(volume, ino, true))!;
    await handle.write(data, 0, data.byteLength, offset);
  }

  async truncate(volume: string, ino: number, size: number): Promise<void> {
    await (await this.#handle(volume, ino, true))!.truncate(size);
  }

  async #closeHandle(key: string): Promise<void> {
    const handle = this.#handles.get(key);
    this.#handles.delete(key);
    await handle?.then((h) => h.close()).catch(() => {});
  }

  async deleteFile(volume: string, ino: number): Promise<void> {
    await this.#closeHandle(`${volume}/${ino}`);
    await rm(this.#path(volume, ino), { force: true });
  }

  async deleteVolume(volume: string): Promise<void> {
    for (const key of [...this.#handles.keys()]) if (key.startsWith(`${volume}/`)) await this.#closeHandle(key);
    await rm(join(this.root, checkStoredVolumeName(volume)), { recursive: true, force: true });
  }

  async flush(volume: string, ino: number): Promise<void> {
    await (await this.#handles.get(`${volume}/${ino}`))?.sync();
  }

  async close(): Promise<void> {
    for (const key of [...this.#handles.keys()]) await this.#closeHandle(key);
  }
}
