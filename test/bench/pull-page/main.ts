// The pull benchmark's page: it only relays the benchmark's requests (through `globalThis.bench`) to the worker, where
// the engine runs as it does in the playground's worker.
import type { PullBenchAnswer, PullBenchRequest } from "./protocol.ts";

type Request = PullBenchRequest extends infer R ? (R extends PullBenchRequest ? Omit<R, "id"> : never) : never;

const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const waiting = new Map<number, (answer: PullBenchAnswer) => void>();
let next = 1;
worker.addEventListener("message", (event: MessageEvent<PullBenchAnswer>) => {
  waiting.get(event.data.id)?.(event.data);
  waiting.delete(event.data.id);
});
(globalThis as unknown as { bench: (request: Request) => Promise<PullBenchAnswer> }).bench = (request) =>
  new Promise((resolve) => {
    const id = next++;
    waiting.set(id, resolve);
    worker.postMessage({ ...request, id });
  });
document.documentElement.dataset.state = "ready";
