// The guest's build outputs (BIOS, VGA BIOS, kernel with built-in initramfs) and their verification against the
// manifest written by vm-images/build.sh. Pure: the bytes come from a loader (Node fs, or fetch in the browser).
import { EngineError } from "../errors.ts";

export interface ArtifactEntry {
  size: number;
  sha256: string;
}

/** The part of vm-images/dist/manifest.json the engine reads. */
export interface ArtifactManifest {
  boot: { cmdline: string };
  outputs: Record<string, ArtifactEntry>;
}

export const ARTIFACT_FILES = { bios: "seabios.bin", vgaBios: "vgabios.bin", bzImage: "bzImage" } as const;
export type ArtifactName = keyof typeof ARTIFACT_FILES;

export interface GuestArtifacts {
  bios: Uint8Array;
  vgaBios: Uint8Array;
  bzImage: Uint8Array;
  cmdline: string;
}

export const REBUILD_HINT = "run `npm run build:vm` to rebuild the guest";

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Checks each artifact against the manifest, so a truncated download or a half-written build never boots.
 * @param where how to name a file in messages, e.g. `vm-images/dist/bzImage`
 * @example
 * const artifacts = await verifyArtifacts(manifest, { bios, vgaBios, bzImage }, (f) => `dist/${f}`);
 */
export async function verifyArtifacts(
  manifest: ArtifactManifest,
  files: Record<ArtifactName, Uint8Array | undefined>,
  where: (file: string) => string,
): Promise<GuestArtifacts> {
  const checked: Partial<Record<ArtifactName, Uint8Array>> = {};
  for (const [name, file] of Object.entries(ARTIFACT_FILES) as [ArtifactName, string][]) {
    const bytes = files[name];
    const expected = manifest.outputs[file];
    if (!bytes) throw new EngineError("notFound", `guest artifact ${where(file)} is missing: ${REBUILD_HINT}`);
    if (!expected) {
      throw new EngineError("dataLoss", `the guest manifest does not list ${where(file)}: ${REBUILD_HINT}`);
    }
    if (bytes.length !== expected.size) {
      throw new EngineError(
        "dataLoss",
        `guest artifact ${where(file)} is corrupt: ${bytes.length} bytes, expected ${expected.size}; ${REBUILD_HINT}`,
      );
    }
    const actual = await sha256Hex(bytes);
    if (actual !== expected.sha256) {
      throw new EngineError(
        "dataLoss",
        `guest artifact ${where(file)} is corrupt: sha256 ${actual.slice(0, 12)}…, expected ${expected.sha256.slice(0, 12)}…; ${REBUILD_HINT}`,
      );
    }
    checked[name] = bytes;
  }
  return { ...(checked as Record<ArtifactName, Uint8Array>), cmdline: manifest.boot.cmdline };
}
