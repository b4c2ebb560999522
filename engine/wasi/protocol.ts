// The messages between the engine and a WASI module's worker. One worker runs one module once: the engine sends
// `start` (the compiled module, its argv, environment, filesystem and the whole of its stdin), the worker streams
// `output` and `memory` while the module runs and ends with `exit` (the code, and the filesystem as the module left
// it). Stopping a module is terminating its worker: a module in a loop answers no message.
import type { FsDirectory } from "./filesystem.ts";
import type { WasmModule } from "./webassembly.ts";

export interface StartMessage {
  type: "start";
  module: WasmModule;
  /** argv, argv[0] included. */
  args: string[];
  env: string[];
  root: FsDirectory;
  stdin: Uint8Array;
  /** The memory cap in 64 KiB pages (`-m`), for a module that imports its memory rather than defining it. */
  maxPages?: number;
}

export type ToWorker = StartMessage;

export type FromWorker =
  | { type: "output"; stream: "stdout" | "stderr"; data: Uint8Array }
  /** The module's memory size now, in bytes: sent at start and at most every 250 ms while it calls WASI. */
  | { type: "memory"; bytes: number }
  | {
      type: "exit";
      code: number;
      /** Why the module stopped when it did not exit by itself: a trap, a missing import. */
      error?: string;
      /** Its memory at the end, in bytes. */
      memoryBytes: number;
      root: FsDirectory;
    };

/** The end of a worker the engine talks to: a Web Worker in a page, a worker thread in Node (engine/node). */
export interface WasiWorker {
  postMessage(message: ToWorker): void;
  onMessage(listener: (message: FromWorker) => void): void;
  /** The worker itself failed (its script did not load, it ran out of memory). */
  onError(listener: (error: Error) => void): void;
  terminate(): void;
}

/** Makes a new worker running {@link serveWasiModule}; the engine makes one per run. */
export type WasiWorkerFactory = () => WasiWorker;
