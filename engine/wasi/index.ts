// The second runtime: containers of wasi/wasm images run as WebAssembly modules in the browser's (or Node's) own
// engine, each in a worker of its own, with @bjorn3/browser_wasi_shim as their system interface. The container
// service picks it from the image's platform; the API and CLI treat its containers as any other.
export {
  emptyDirectory,
  type FsDirectory,
  type FsFile,
  type FsNode,
  layerChanges,
  layerSize,
  mergeLayers,
  type WritableLayer,
} from "./filesystem.ts";
export { capMemory, WASM_PAGE_BYTES } from "./memory-limit.ts";
export type { FromWorker, StartMessage, ToWorker, WasiWorker, WasiWorkerFactory } from "./protocol.ts";
export {
  WASI_RUNTIME,
  type WasiImageSource,
  type WasiRunSpec,
  WasiRuntime,
  type WasiRuntimeOptions,
  type WasiTask,
} from "./runtime.ts";
export { withSpareWorker } from "./spare.ts";
export { serveWasiModule, type WorkerEndpoint } from "./worker.ts";
