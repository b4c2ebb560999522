// Starts the page's hashing worker (web/hash-worker.ts) and speaks to it as engine/oci/hash-offload's HashPort: the
// playground's engine worker and the pull benchmark's worker start it the same way.
import type { HashPort } from "../engine/oci/index.ts";

export function startHashWorker(): HashPort {
  const worker = new Worker(new URL("./hash-worker.ts", import.meta.url), { type: "module", name: "hash" });
  return {
    postMessage: (message, transfer) => worker.postMessage(message, transfer),
    onMessage: (listener) => worker.addEventListener("message", (event) => listener(event.data)),
    onError: (listener) =>
      worker.addEventListener("error", (event) => listener(new Error(event.message || "the hashing worker failed"))),
  };
}
