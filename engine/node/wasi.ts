// WASI modules in Node: each runs in a worker thread of its own (engine/node/wasi-worker.ts). The worker is
// TypeScript, loaded through tsx's API as the rest of Drydock's Node side is loaded through tsx.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { type FromWorker, type WasiWorkerFactory, withSpareWorker } from "../wasi/index.ts";

const tsxApi = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist/esm/api/index.mjs"),
).href;

/**
 * The worker factory for a WasiRuntime in Node, with one worker started ahead of the next run.
 * @example
 * const containers = ContainerService.open(drydock, images, { wasiWorkers: nodeWasiWorkers() });
 */
export function nodeWasiWorkers(): WasiWorkerFactory {
  const script = new URL("./wasi-worker.ts", import.meta.url).href;
  // Registering tsx inside the thread makes its imports TypeScript-aware, whatever loaded the parent (tsx, vitest).
  const boot = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(script)}); })`;
  return withSpareWorker(() => {
    const worker = new Worker(boot, { eval: true });
    // A module that loops keeps its thread busy; the daemon must still be able to exit.
    worker.unref();
    return {
      postMessage: (message) => worker.postMessage(message),
      onMessage: (listener) => worker.on("message", (message: FromWorker) => listener(message)),
      onError: (listener) => worker.on("error", listener),
      terminate: () => void worker.terminate(),
    };
  });
}
