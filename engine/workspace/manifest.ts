// The table of contents of a workspace file (`workspace.json`, its first member): what the tar holds, with sizes
// and digests, so an import knows before writing anything whether it can read the file and what should follow.
import { EngineError } from "../errors.ts";
import { parseJson } from "../oci/json.ts";

export const WORKSPACE_FORMAT = "drydock-workspace";
export const WORKSPACE_VERSION = 1;
export const MANIFEST_NAME = "workspace.json";

export interface WorkspaceManifest {
  format: typeof WORKSPACE_FORMAT;
  version: typeof WORKSPACE_VERSION;
  createdAt: string;
  /** Every blob of the content store (images, layer indexes, file contents), verified by digest on import. */
  blobs: { digest: string; size: number }[];
  /** Metadata documents (images.json, containers.json, logs, writable layers) with their sha256. */
  documents: { name: string; size: number; digest: string }[];
  /** Image names, for a reader of the file. */
  images: string[];
  /** Each volume: its tree document's size and one entry per file holding bytes. */
  volumes: { name: string; treeSize: number; files: { ino: number; size: number }[] }[];
  containers: { id: string; name: string; image: string }[];
}

const notWorkspace = (what: string) =>
  new EngineError(
    "invalidArgument",
    `this is not a Drydock workspace: ${what}; make one with \`drydock workspace export\` (or Export in the page)`,
  );

const isSize = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isDigest = (value: unknown): value is string =>
  typeof value === "string" && /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/.test(value);

/**
 * Reads a workspace.json, refusing anything that is not a workspace of a version this engine knows.
 * @example
 * const manifest = parseWorkspaceManifest(bytes);
 */
export function parseWorkspaceManifest(bytes: Uint8Array): WorkspaceManifest {
  let value: Partial<WorkspaceManifest> & Record<string, unknown>;
  try {
    value = parseJson(bytes, MANIFEST_NAME) as typeof value;
  } catch {
    throw notWorkspace(`its ${MANIFEST_NAME} is not JSON`);
  }
  if (typeof value !== "object" || value === null || value.format !== WORKSPACE_FORMAT) {
    throw notWorkspace(`its ${MANIFEST_NAME} does not say format "${WORKSPACE_FORMAT}"`);
  }
  if (value.version !== WORKSPACE_VERSION) {
    throw new EngineError(
      "invalidArgument",
      `this workspace is format version ${JSON.stringify(value.version)}, this Drydock reads version ${WORKSPACE_VERSION}: import it with the Drydock that exported it, or a newer one`,
    );
  }
  const broken = (what: string) =>
    new EngineError("invalidArgument", `this workspace's ${MANIFEST_NAME} is damaged (${what}): export it again`);
  if (!Array.isArray(value.blobs) || !value.blobs.every((b) => isDigest(b?.digest) && isSize(b.size)))
    throw broken("its blob list");
  if (
    !Array.isArray(value.documents) ||
    !value.documents.every(
      (d) =>
        typeof d?.name === "string" && /^[a-z0-9][a-z0-9._-]*$/.test(d.name) && isSize(d.size) && isDigest(d.digest),
    )
  )
    throw broken("its document list");
  if (!Array.isArray(value.images) || !value.images.every((i) => typeof i === "string")) throw broken("its images");
  if (
    !Array.isArray(value.volumes) ||
    !value.volumes.every(
      (v) =>
        typeof v?.name === "string" &&
        /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(v.name) &&
        isSize(v.treeSize) &&
        Array.isArray(v.files) &&
        v.files.every((f) => Number.isSafeInteger(f?.ino) && f.ino > 1 && isSize(f.size)),
    )
  )
    throw broken("its volume list");
  if (
    !Array.isArray(value.containers) ||
    !value.containers.every(
      (c) => typeof c?.id === "string" && /^[0-9a-f]{64}$/.test(c.id) && typeof c.name === "string",
    )
  )
    throw broken("its container list");
  return value as WorkspaceManifest;
}

/** The tar member names, one place for export and import. */
export const memberName = {
  blob: (digest: string) => `blobs/${digest.replace(":", "/")}`,
  document: (name: string) => `metadata/${name}`,
  tree: (volume: string) => `volumes/${volume}/tree`,
  file: (volume: string, ino: number) => `volumes/${volume}/files/${ino}`,
};
