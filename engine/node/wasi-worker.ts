// The worker thread a WASI module runs in, in Node: engine/wasi's worker side on worker_threads' parentPort.
import { parentPort } from "node:worker_threads";
import { serveWasiModule } from "../wasi/index.ts";

const port = parentPort;
if (!port) throw new Error("engine/node/wasi-worker.ts runs as a worker thread (see nodeWasiWorkers)");
serveWasiModule({
  postMessage: (message) => port.postMessage(message),
  onMessage: (listener) => port.on("message", listener),
});
