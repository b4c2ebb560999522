// The page: starts the worker that runs the suites (the engine's stores live in a Web Worker) and exposes its results
// as a promise for the test to await.
import { type CaseResult, RESULTS_GLOBAL } from "./results.ts";

// The DOM types are not in this project's libs (test/ is type-checked for Node); this is all the page uses.
interface BrowserWorker {
  onmessage: ((event: { data: CaseResult[] }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
}
declare const Worker: new (url: URL, options: { type: "module" }) => BrowserWorker;

const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const results = new Promise<CaseResult[]>((resolve, reject) => {
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => reject(new Error(`the conformance worker failed: ${event.message ?? "(no message)"}`));
});
(globalThis as Record<string, unknown>)[RESULTS_GLOBAL] = results;
