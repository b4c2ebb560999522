// How long v86's loop ran the guest, apart from the engine's code that runs inside it: for benches that ask how much of
// a figure is the emulated guest's own work (its floor) and how much the engine's.
import type { V86Machine } from "../../engine/index.ts";

interface V86Internals {
  v86: { do_tick(): void; cpu: { codegen_finalize(...args: unknown[]): void } };
  bus: { listeners: Record<string, { fn: (data: unknown) => void }[]> };
}

/**
 * Counts, from now on, the time v86's loop runs the guest less the engine's code that the agent port's output calls
 * from inside it (the engine reads a message and may answer at once), and the code blocks v86's compiler finishes.
 */
export function emulatorMeter(machine: V86Machine): () => { guestMs: number; compiled: number } {
  const { v86, bus } = machine.emulator as unknown as V86Internals;
  let loopMs = 0;
  let engineMs = 0;
  let compiled = 0;
  for (const listener of bus.listeners["virtio-console1-output-bytes"] ?? []) {
    const fn = listener.fn;
    listener.fn = function (this: unknown, data: unknown) {
      const started = performance.now();
      fn.call(this, data);
      engineMs += performance.now() - started;
    };
  }
  const tick = v86.do_tick.bind(v86);
  v86.do_tick = () => {
    const started = performance.now();
    tick();
    loopMs += performance.now() - started;
  };
  const finalize = v86.cpu.codegen_finalize.bind(v86.cpu);
  v86.cpu.codegen_finalize = (...args: unknown[]) => {
    compiled++;
    finalize(...args);
  };
  return () => ({ guestMs: loopMs - engineMs, compiled });
}
