// The parts of the origin private file system (OPFS) that the engine's stores and the page's worker use, declared here
// rather than taken from the WebWorker lib: engine files are also type-checked with Node's libs, and the lib lacks
// keys() and move(), which Chromium has.
import { EngineError } from "./errors.ts";

export interface OpfsDirectory {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<OpfsDirectory>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<OpfsFile>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  keys(): AsyncIterable<string>;
}
export interface OpfsFile {
  getFile(): Promise<Blob & { lastModified: number }>;
  createWritable(): Promise<OpfsWritable>;
  /** Dedicated workers only (Chromium, Firefox, Safari): synchronous reads and writes, no swap file. */
  createSyncAccessHandle?(): Promise<OpfsSyncAccess>;
  /** Renames the file in its directory, or moves it to another. */
  move(name: string): Promise<void>;
  move(destination: OpfsDirectory, name: string): Promise<void>;
}
export interface OpfsWritable {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}
export interface OpfsSyncAccess {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(data: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

/** The origin's OPFS root, or undefined where this runtime has none (Node, an insecure origin, an old browser). */
export function opfsRoot(): Promise<OpfsDirectory> | undefined {
  const storage = (globalThis as unknown as { navigator?: { storage?: { getDirectory?(): Promise<OpfsDirectory> } } })
    .navigator?.storage;
  return storage?.getDirectory?.();
}

/** The engine's own directory in OPFS (`drydock`), made if missing; an `unavailable` error where there is no OPFS. */
export async function engineDirectory(): Promise<OpfsDirectory> {
  const root = opfsRoot();
  if (!root) throw new EngineError("unavailable", "this runtime has no origin private file system (navigator.storage)");
  return (await root).getDirectoryHandle("drydock", { create: true });
}
