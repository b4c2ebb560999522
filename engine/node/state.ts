// The saved guest state: boot the committed guest once, wait for drydockd, park the learner's shell, save the machine. Restoring it is what
// makes a shell appear in a blink. Cached by the hash of everything that shapes it, so nobody has to remember a step.
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Drydock } from "../drydock.ts";
import { DEFAULT_MEMORY_MIB } from "../vm/v86-machine.ts";
import { GUEST_DIST_DIR, loadGuestArtifacts, v86WasmPath } from "./guest.ts";

export const STATE_CACHE_DIR = fileURLToPath(new URL("../../vm-images/.cache/state/", import.meta.url));
/** Bump when what happens before the save changes (and so the state's contents). */
// 3: a virtio-net card in every machine (the device set is part of the state); 4: the learner's shell parked
const STATE_RECIPE = 4;

export interface SavedState {
  path: string;
  state: ArrayBuffer;
  /** True when this call had to boot the guest to make it. */
  created: boolean;
}

/** The cache key: the guest's manifest, v86's version, the memory size and the recipe. */
export async function savedStateKey(memoryMiB = DEFAULT_MEMORY_MIB): Promise<string> {
  const v86Version = (createRequire(import.meta.url)("v86/package.json") as { version: string }).version;
  return createHash("sha256")
    .update(await readFile(join(GUEST_DIST_DIR, "manifest.json")))
    .update(`\0v86 ${v86Version}\0memory ${memoryMiB}\0recipe ${STATE_RECIPE}`)
    .digest("hex")
    .slice(0, 16);
}

/**
 * Returns the saved state for the committed guest, making it first if needed (one cold boot, a few seconds).
 * @example
 * const { state } = await ensureSavedState();
 */
export async function ensureSavedState(
  memoryMiB = DEFAULT_MEMORY_MIB,
  options: { dir?: string } = {},
): Promise<SavedState> {
  const dir = options.dir ?? STATE_CACHE_DIR;
  const path = join(dir, `guest-${memoryMiB}m-${await savedStateKey(memoryMiB)}.v86state`);
  try {
    const bytes = await readFile(path);
    return { path, state: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const drydock = await Drydock.boot({ artifacts: await loadGuestArtifacts(), wasmPath: v86WasmPath(), memoryMiB });
  let state: ArrayBuffer;
  try {
    // The learner's shell, started and at its prompt: the page adopts it instead of starting one after a restore.
    await drydock.parkLoginShell();
    state = await drydock.saveState();
  } finally {
    await drydock.dispose();
  }
  await mkdir(dir, { recursive: true });
  // Written aside and renamed, so a concurrent reader never sees half a state.
  const partial = `${path}.${process.pid}.partial`;
  await writeFile(partial, new Uint8Array(state));
  await rename(partial, path);
  return { path, state, created: true };
}

/** Forgets a saved state found damaged (it did not restore): the next `ensureSavedState` makes it again. */
export async function forgetSavedState(saved: SavedState): Promise<void> {
  await rm(saved.path, { force: true });
}
