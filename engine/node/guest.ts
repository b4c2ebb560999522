// Node side of the guest: reads vm-images/dist from disk, verifies it against its manifest, and boots it.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { EngineError } from "../errors.ts";
import {
  ARTIFACT_FILES,
  type ArtifactManifest,
  type ArtifactName,
  type GuestArtifacts,
  REBUILD_HINT,
  verifyArtifacts,
} from "../vm/artifacts.ts";
import { V86Machine, type V86MachineOptions } from "../vm/v86-machine.ts";

export const GUEST_DIST_DIR = fileURLToPath(new URL("../../vm-images/dist/", import.meta.url));

/** Path of v86's WebAssembly module, which v86 cannot find by itself under Node ESM. */
export function v86WasmPath(): string {
  return createRequire(import.meta.url).resolve("v86/build/v86.wasm");
}

async function readIfPresent(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Reads and verifies the guest's BIOS, VGA BIOS and kernel.
 * @example
 * const artifacts = await loadGuestArtifacts();
 */
export async function loadGuestArtifacts(dir = GUEST_DIST_DIR): Promise<GuestArtifacts> {
  const where = (file: string) => relative(process.cwd(), join(dir, file)) || file;
  const manifestBytes = await readIfPresent(join(dir, "manifest.json"));
  if (!manifestBytes)
    throw new EngineError("notFound", `guest manifest ${where("manifest.json")} is missing: ${REBUILD_HINT}`);
  let manifest: ArtifactManifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as ArtifactManifest;
  } catch (cause) {
    throw new EngineError("dataLoss", `guest manifest ${where("manifest.json")} is not valid JSON: ${REBUILD_HINT}`, {
      cause,
    });
  }
  const files = {} as Record<ArtifactName, Uint8Array | undefined>;
  for (const [name, file] of Object.entries(ARTIFACT_FILES) as [ArtifactName, string][]) {
    files[name] = await readIfPresent(join(dir, file));
  }
  return verifyArtifacts(manifest, files, where);
}

/**
 * Boots the committed guest in Node (cold boot).
 * @example
 * const machine = await bootGuest();
 * try { ... } finally { await machine.dispose(); }
 */
export async function bootGuest(
  options: Omit<V86MachineOptions, "artifacts" | "wasmPath"> & { dir?: string } = {},
): Promise<V86Machine> {
  const { dir, ...rest } = options;
  return V86Machine.boot({ ...rest, artifacts: await loadGuestArtifacts(dir), wasmPath: v86WasmPath() });
}
