// Beside the immutable blobs, the engine keeps a few small mutable documents (which image names point at which
// manifests). A metadata store holds them by name and replaces one atomically: a reader sees the old or the new
// document, never half of one.

import { EngineError } from "../errors.ts";

export interface MetadataStore {
  /** The document's bytes, or undefined if it was never written. */
  read(name: string): Promise<Uint8Array | undefined>;
  /** Replaces the document atomically. */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** Removes the document; one that does not exist is already removed. */
  remove(name: string): Promise<void>;
}

export class MemoryMetadataStore implements MetadataStore {
  readonly #documents = new Map<string, Uint8Array>();

  async read(name: string): Promise<Uint8Array | undefined> {
    return this.#documents.get(name)?.slice();
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    this.#documents.set(name, bytes.slice());
  }

  async remove(name: string): Promise<void> {
    this.#documents.delete(name);
  }
}

/** Names become file names in the fs and OPFS stores, so they are kept to a safe alphabet. */
export function checkDocumentName(name: string): string {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name))
    throw new EngineError("invalidArgument", `invalid metadata document name "${name}"`);
  return name;
}
