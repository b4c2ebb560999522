// Starts the worker and the guest's downloads. main.ts imports this module first, so it runs before the terminal's
// modules are evaluated: the downloads and the restore begin as early as the page can. Events that arrive before
// the page has its panels are kept and replayed.

import guest from "virtual:drydock-guest";
import * as Comlink from "comlink";
import wasmUrl from "v86/build/v86.wasm?url";
import type { DownloadProgress, PageSink, TraceEntry, WorkerApi } from "./protocol.ts";

performance.mark("drydock:page script runs");
export const api = Comlink.wrap<WorkerApi>(new Worker(new URL("./worker.ts", import.meta.url), { type: "module" }));

const early: Array<(sink: PageSink) => void> = [];
let sink: PageSink | undefined;

/** Where start-up events go from now on (those already received are delivered first). */
export function attachSink(target: PageSink): void {
  sink = target;
  for (const deliver of early.splice(0)) deliver(target);
}

/** The relay: `?relay=URL`, or none with `?relay=none`, else the dev/preview server's own at /relay. */
function relay(): { relayUrl?: string } {
  const asked = new URLSearchParams(location.search).get("relay");
  if (asked === "none" || asked === "") return {};
  return { relayUrl: new URL(asked ?? `${import.meta.env.BASE_URL}relay`, location.href).href.replace(/\/+$/, "") };
}

export const started = api.start(
  {
    state: guest.state,
    bios: guest.bios,
    vgaBios: guest.vgaBios,
    wasmUrl: new URL(wasmUrl, location.href).href,
    memoryMiB: guest.memoryMiB,
    timeOrigin: performance.timeOrigin,
    ...relay(),
    warmUp: new URLSearchParams(location.search).get("warmup") !== "0",
  },
  Comlink.proxy<PageSink>({
    trace: (entry: TraceEntry) => (sink ? sink.trace(entry) : early.push((s) => s.trace(entry))),
    download: (progress: DownloadProgress) =>
      sink ? sink.download(progress) : early.push((s) => s.download(progress)),
    fault: (message: string) => (sink ? sink.fault(message) : early.push((s) => s.fault(message))),
  }),
);
export const workerStartedAt = performance.now();
performance.mark("drydock:worker created, start sent");
