// The floor page's main thread (test/bench/page.bench.ts): it starts the worker at once, shows the guest's serial
// console and sends what is typed to it. Nothing else runs here, so the page costs no more than v86 itself does.
import guest from "virtual:drydock-guest";
import wasmUrl from "v86/build/v86.wasm?url";
import type { FloorMessage, FloorStart } from "./protocol.ts";

performance.mark("floor:page script runs");
const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const start: FloorStart = {
  state: new URL(guest.state.url, location.href).href,
  bios: new URL(guest.bios.url, location.href).href,
  vgaBios: new URL(guest.vgaBios.url, location.href).href,
  wasmUrl: new URL(wasmUrl, location.href).href,
  memoryMiB: guest.memoryMiB,
  timeOrigin: performance.timeOrigin,
};
worker.postMessage(start);

const out = document.getElementById("out") as HTMLPreElement;
const input = document.getElementById("input") as HTMLTextAreaElement;
worker.addEventListener("message", (event: MessageEvent<FloorMessage>) => {
  const message = event.data;
  if (message.type === "output") {
    out.textContent += message.text;
    return;
  }
  for (const step of message.steps) performance.measure(`floor:${step.name}`, { start: step.start, end: step.end });
  performance.mark("floor:restored");
  document.documentElement.dataset.state = "ready";
});
input.addEventListener("input", () => {
  worker.postMessage(input.value.replace(/\n/g, "\r"));
  input.value = "";
});
