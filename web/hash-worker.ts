// The Web Worker that hashes for the engine's worker (engine/oci/hash-offload): during a pull in the page, a blob's,
// its tar's and each large file's SHA-256 run here, on the other core, while the engine's worker inflates and writes.
// It imports engine/oci's own door rather than engine/index.ts, which would bring the whole engine into it.
import { loadWasmHashers, serveHashing } from "../engine/oci/index.ts";

const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
};
serveHashing(
  {
    postMessage: (message, transfer) => scope.postMessage(message, transfer),
    onMessage: (listener) => scope.addEventListener("message", (event) => listener(event.data)),
  },
  loadWasmHashers(),
);
