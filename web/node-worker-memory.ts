// What a guest costs in memory, as the page can read it: v86's wasm memory (the guest's RAM lives inside it).
import type { Drydock } from "../engine/index.ts";

/** The bytes of `guest`'s v86 wasm memory; 0 without a guest (or a v86 that hides it). */
export function v86MemoryBytes(guest: Drydock | undefined): number {
  const emulator = guest?.machine.emulator as unknown as
    | { v86?: { cpu?: { wasm_memory?: { buffer: ArrayBuffer } } } }
    | undefined;
  return emulator?.v86?.cpu?.wasm_memory?.buffer.byteLength ?? 0;
}
