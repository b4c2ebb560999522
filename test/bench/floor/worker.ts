// The floor page's worker: v86 alone (engine/vm's V86Machine, the same device set as the playground's), restoring the
// playground's saved state from the same kind of content-hashed URLs, v86 loading its wasm itself. No agent, no
// engine, no verification: what the playground's start costs beyond this is the page's own.
import { V86Machine } from "../../../engine/vm/v86-machine.ts";
import type { FloorMessage, FloorStart } from "./protocol.ts";

const evaluatedAt = performance.now();
const post = (message: FloorMessage) => postMessage(message);

async function bytes(url: string): Promise<ArrayBuffer> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

let machine: V86Machine | undefined;
addEventListener("message", async (event: MessageEvent<FloorStart | string>) => {
  if (typeof event.data === "string") {
    machine?.serial.write(event.data);
    return;
  }
  const start = event.data;
  const received = performance.now();
  const offset = performance.timeOrigin - start.timeOrigin;
  const steps: { name: string; start: number; end: number }[] = [];
  const timed = (name: string, from: number, to = performance.now()) =>
    steps.push({ name, start: from + offset, end: to + offset });
  timed("worker module evaluated → start received", evaluatedAt, received);
  const [state, bios, vgaBios] = await Promise.all([start.state, start.bios, start.vgaBios].map((url) => bytes(url)));
  timed("fetch the state and BIOS images", received);
  machine = await V86Machine.boot({
    artifacts: { bios: new Uint8Array(bios!), vgaBios: new Uint8Array(vgaBios!) },
    wasmPath: start.wasmUrl,
    state: state!,
    memoryMiB: start.memoryMiB,
    onStep: (step, from, to) => timed(step, from, to),
  });
  const decoder = new TextDecoder();
  machine.serial.onData((data) => post({ type: "output", text: decoder.decode(data, { stream: true }) }));
  post({ type: "started", steps });
});
