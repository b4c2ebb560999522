// Node entry points: the guest from vm-images/dist, its saved state, and a ready Drydock.
import { WebSocket as UndiciWebSocket } from "undici";
import { Drydock } from "../drydock.ts";
import { EngineError } from "../errors.ts";
import type { RelayConfig } from "../network/relay.ts";
import { DEFAULT_MEMORY_MIB } from "../vm/v86-machine.ts";
import { loadGuestArtifacts, v86WasmPath } from "./guest.ts";
import { ensureSavedState, forgetSavedState } from "./state.ts";

// v86's Wisp relay adapter needs WebSocket, a global from Node 22 on; Node 20 gets undici's (the same client).
if (typeof globalThis.WebSocket === "undefined") Object.assign(globalThis, { WebSocket: UndiciWebSocket });

export { bootGuest, GUEST_DIST_DIR, loadGuestArtifacts, v86WasmPath } from "./guest.ts";
export { openNodeImageService } from "./images.ts";
export { ensureSavedState, forgetSavedState, STATE_CACHE_DIR, savedStateKey } from "./state.ts";
export { FsVolumeDataStore } from "./volume-data.ts";
export { nodeWasiWorkers } from "./wasi.ts";

/**
 * Starts Drydock in Node: restores the saved guest state (made on first use) and connects to its agent.
 * @example
 * const drydock = await bootDrydock();
 * const { stdout } = await drydock.agent.run(["uname", "-r"]);
 */
export async function bootDrydock(
  options: { memoryMiB?: number; cold?: boolean; relay?: RelayConfig; stateDir?: string } = {},
): Promise<Drydock> {
  const memoryMiB = options.memoryMiB ?? DEFAULT_MEMORY_MIB;
  const artifacts = await loadGuestArtifacts();
  const stateOptions = options.stateDir ? { dir: options.stateDir } : {};
  const saved = options.cold ? undefined : await ensureSavedState(memoryMiB, stateOptions);
  const boot = (state: ArrayBuffer | undefined) =>
    Drydock.boot({
      artifacts,
      wasmPath: v86WasmPath(),
      memoryMiB,
      ...(state ? { state } : {}),
      ...(options.relay ? { relay: options.relay } : {}),
    });
  try {
    return await boot(saved?.state);
  } catch (error) {
    // A cached state damaged since it was saved (a disk, a copy cut short): made again from the guest, once.
    if (!saved || saved.created || !(error instanceof EngineError && error.kind === "dataLoss")) throw error;
    await forgetSavedState(saved);
    return boot((await ensureSavedState(memoryMiB, stateOptions)).state);
  }
}
