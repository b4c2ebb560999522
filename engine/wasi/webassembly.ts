// The few WebAssembly APIs the runtime uses, typed here: the engine's own config gets them from the WebWorker lib,
// but the Node config (which checks engine/ too) has no WebAssembly types at all. Both platforms have the global.

/** A compiled module: passed around and posted to workers, never looked into. */
export interface WasmModule {
  readonly [Symbol.toStringTag]: string;
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  compile(bytes: Uint8Array<ArrayBuffer>): Promise<WasmModule>;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
  Module: { imports(module: WasmModule): { module: string; name: string; kind: string }[] };
  LinkError: new () => Error;
}

export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
