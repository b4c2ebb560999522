// The Web Worker one WASI module runs in (engine/wasi's worker side): the engine's worker starts one per run, so a
// module that computes or loops never blocks the engine, and `docker stop` terminates it. It imports engine/wasi's
// own door rather than engine/index.ts: a worker is started for every run, and the facade would bring the whole
// engine and v86 into it (about 390 KB against 24 KB, built).
import { serveWasiModule } from "../engine/wasi/index.ts";

const scope = globalThis as unknown as {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
};
serveWasiModule({
  postMessage: (message) => scope.postMessage(message),
  onMessage: (listener) => scope.addEventListener("message", (event) => listener(event.data)),
});
