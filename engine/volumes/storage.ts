// Where volume data lives outside the guest: the engine's storage (OPFS in the page, the data root in Node, memory in
// tests). A volume is a tree document (its inodes: names, modes, owners, times, links, xattrs) and one file per
// regular inode holding its bytes. The tree document is replaced atomically, so a volume is always read back as some
// complete state; file bytes are written in place, as a disk's blocks are.

/** The narrow store every implementation (memory, OPFS, Node fs) offers; one conformance suite runs against each. */
export interface VolumeDataStore {
  /** The volumes that have a tree document. */
  volumes(): Promise<string[]>;
  /** A volume's tree document, or undefined when it has none. */
  readTree(volume: string): Promise<Uint8Array | undefined>;
  /** Replaces a volume's tree document atomically (a reader sees the old or the new one). */
  writeTree(volume: string, bytes: Uint8Array): Promise<void>;
  /** Up to `length` bytes of inode `ino`'s file from `offset`; fewer (or none) past its end. */
  read(volume: string, ino: number, offset: number, length: number): Promise<Uint8Array>;
  /** Writes bytes at `offset`, making the file when missing. */
  write(volume: string, ino: number, offset: number, data: Uint8Array): Promise<void>;
  /** Cuts or extends (with zeros) the file to `size` bytes. */
  truncate(volume: string, ino: number, size: number): Promise<void>;
  /** Deletes the file of an inode nobody links to any more (missing is fine). */
  deleteFile(volume: string, ino: number): Promise<void>;
  /** Deletes a volume: its tree and every file. */
  deleteVolume(volume: string): Promise<void>;
  /** Pushes written bytes to stable storage (fsync). */
  flush(volume: string, ino: number): Promise<void>;
  /** Closes whatever the store holds open. */
  close(): Promise<void>;
}

/** Volume names become directory names in the fs and OPFS stores: the local driver's alphabet keeps them safe. */
export function checkStoredVolumeName(volume: string): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(volume)) throw new Error(`invalid volume directory name "${volume}"`);
  return volume;
}

/** Files grow by whole chunks so that many small appends do not copy the whole file each time. */
class GrowableFile {
  bytes = new Uint8Array(0);
  size = 0;

  ensure(size: number): void {
    if (size <= this.bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(size, this.bytes.byteLength * 2, 4096));
    grown.set(this.bytes.subarray(0, this.size));
    this.bytes = grown;
  }
}

/**
 * Volume data in memory: for tests, and for an engine started without storage (data then lasts as long as the
 * engine, which is still longer than the guest).
 * @example
 * const store = new MemoryVolumeDataStore();
 * await store.write("data", 3, 0, new TextEncoder().encode("hi"));
 */
export class MemoryVolumeDataStore implements VolumeDataStore {
  readonly #trees = new Map<string, Uint8Array>();
  readonly #files = new Map<string, GrowableFile>();

  async volumes(): Promise<string[]> {
    return [...this.#trees.keys()];
  }

  async readTree(volume: string): Promise<Uint8Array | undefined> {
    return this.#trees.get(volume)?.slice();
  }

  async writeTree(volume: string, bytes: Uint8Array): Promise<void> {
    this.#trees.set(checkStoredVolumeName(volume), bytes.slice());
  }

  async read(volume: string, ino: number, offset: number, length: number): Promise<Uint8Array> {
    const file = this.#files.get(`${volume}/${ino}`);
    if (!file || offset >= file.size) return new Uint8Array(0);
    return file.bytes.slice(offset, Math.min(file.size, offset + length));
  }

  async write(volume: string, ino: number, offset: number, data: Uint8Array): Promise<void> {
    const key = `${checkStoredVolumeName(volume)}/${ino}`;
    let file = this.#files.get(key);
    if (!file) {
      file = new GrowableFile();
      this.#files.set(key, file);
    }
    file.ensure(offset + data.byteLength);
    // A write past the end leaves zeros between, as a sparse file reads.
    if (offset > file.size) file.bytes.fill(0, file.size, offset);
    file.bytes.set(data, offset);
    file.size = Math.max(file.size, offset + data.byteLength);
  }

  async truncate(volume: string, ino: number, size: number): Promise<void> {
    const key = `${checkStoredVolumeName(volume)}/${ino}`;
    let file = this.#files.get(key);
    if (!file) {
      file = new GrowableFile();
      this.#files.set(key, file);
    }
    file.ensure(size);
    if (size > file.size) file.bytes.fill(0, file.size, size);
    file.size = size;
  }

  async deleteFile(volume: string, ino: number): Promise<void> {
    this.#files.delete(`${volume}/${ino}`);
  }

  async deleteVolume(volume: string): Promise<void> {
    this.#trees.delete(volume);
    for (const key of [...this.#files.keys()]) if (key.startsWith(`${volume}/`)) this.#files.delete(key);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  /** Bytes held in files (for tests that check a deleted volume's data is gone). */
  get storedBytes(): number {
    let total = 0;
    for (const file of this.#files.values()) total += file.size;
    return total;
  }
}
