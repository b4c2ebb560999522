// SHA-256 and SHA-512 compiled to WebAssembly (the hash-wasm library), for the engine's hashers where node:crypto is
// not there (the page's worker): several times faster than the portable TypeScript ones, and streaming, which
// WebCrypto's digest is not. hash-wasm makes an instance asynchronously, but a HasherFactory must answer at once, so
// one instance per algorithm serves every hasher: a hasher that finds another one's state in the instance saves that
// state aside and loads its own (a few hundred bytes, once per switch, not per byte).
import { createSHA256, createSHA512, type IHasher } from "hash-wasm";
import type { Digest, DigestAlgorithm, HasherFactory } from "./digest.ts";

interface Slot {
  instance: IHasher;
  /** The hasher whose state the instance holds now. */
  owner: { park(): void } | undefined;
}

let loading: Promise<HasherFactory> | undefined;

/**
 * Loads the WebAssembly hashers once (later calls share them).
 * @example
 * const hashers = await loadWasmHashers();
 * const hasher = hashers("sha256");
 */
export function loadWasmHashers(): Promise<HasherFactory> {
  loading ??= Promise.all([createSHA256(), createSHA512()]).then(([sha256, sha512]) =>
    wasmHasherFactory({
      sha256: { instance: sha256, owner: undefined },
      sha512: { instance: sha512, owner: undefined },
    }),
  );
  return loading;
}

function wasmHasherFactory(slots: Record<DigestAlgorithm, Slot>): HasherFactory {
  return (algorithm) => {
    const slot = slots[algorithm];
    let saved: Uint8Array | undefined;
    let finished = false;
    const self = {
      park() {
        saved = slot.instance.save();
      },
    };
    const take = () => {
      if (finished) throw new Error("this hasher has already given its digest");
      if (slot.owner === self) return;
      slot.owner?.park();
      if (saved) slot.instance.load(saved);
      else slot.instance.init();
      slot.owner = self;
    };
    return {
      update(bytes) {
        take();
        slot.instance.update(bytes);
      },
      digest() {
        take();
        const hex = slot.instance.digest("hex");
        finished = true;
        slot.owner = undefined;
        return `${algorithm}:${hex}` as Digest;
      },
    };
  };
}
