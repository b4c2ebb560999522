// Starting a worker costs more than running a small module (loading its script; in Node, tsx compiling it), so the
// runtime keeps one started ahead: each run takes the spare and a new spare starts behind it.
import type { WasiWorkerFactory } from "./protocol.ts";

/**
 * Wraps a worker factory so one worker is always started and waiting.
 * @example
 * const workers = withSpareWorker(() => wrap(new Worker(url, { type: "module" })));
 */
export function withSpareWorker(factory: WasiWorkerFactory): WasiWorkerFactory {
  let spare: ReturnType<WasiWorkerFactory> | undefined;
  return () => {
    const worker = spare ?? factory();
    spare = factory();
    return worker;
  };
}
