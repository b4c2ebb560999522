// A snapshot's changes as an OCI layer: the overlay upper dir, read in the guest with busybox `tar -c`, turned into a
// standard layer tar the way BuildKit reads an upper dir. A whiteout (a character device 0:0 overlayfs leaves for a
// deleted file, or a hard link to one) becomes an empty `.wh.<name>`; any other device node stays the device it is.
// An opaque directory (a directory removed and made again, which overlayfs marks with the xattr
// trusted.overlay.opaque=y) gets a `.wh..wh..opq` entry. The other extended attributes of the upper dir's entries
// (drydockd reads them all in one XATTRS request) go into the layer as PAX `SCHILY.xattr.*` records, their values
// as bytes: a `security.capability` set with setcap, say. overlayfs's own trusted.overlay.* ones stay out: they
// describe this upper dir, not the files.
import type { AgentClient } from "../agent/index.ts";
import { EngineError } from "../errors.ts";
import { encodeTar, type RawTarEntry, readTar } from "../images/tar-entries.ts";
import type { Tracer } from "../trace/index.ts";

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
/** The xattr overlayfs sets on an upper directory that hides what the lower ones have there. */
export const OVERLAY_OPAQUE = "trusted.overlay.opaque";
/** overlayfs's own xattrs, none of which belongs in a layer. */
export const OVERLAY_XATTR_PREFIX = "trusted.overlay.";

export type DiffAgent = Pick<AgentClient, "spawn" | "xattrTree">;

export interface UpperDirDiffOptions {
  agent: DiffAgent;
  /** The snapshot's upper dir in the guest. */
  upperDir: string;
  tracer?: Tracer;
  /** Who the trace events are about (the container or build step). */
  subject?: string;
}

export interface UpperDirDiff {
  /** The layer, an uncompressed tar (`application/vnd.oci.image.layer.v1.tar`). */
  tar: Uint8Array;
  /** Paths the layer adds or changes, deletes (whiteouts) and makes opaque, for tests and `docker diff`. */
  changed: string[];
  deleted: string[];
  opaque: string[];
}

const parentOf = (path: string) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");
const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

/** Whether an upper dir's entry is overlayfs's whiteout: a character device numbered 0:0. */
export function isOverlayWhiteout(entry: Pick<RawTarEntry, "type" | "devMajor" | "devMinor">): boolean {
  return entry.type === "character-device" && (entry.devMajor ?? 0) === 0 && (entry.devMinor ?? 0) === 0;
}

/**
 * Reads an upper dir as busybox tar writes it (every entry, paths without the leading `./`, the root as ""), with
 * the extended attributes of each entry that has any.
 */
export async function readUpperDir(
  options: Pick<UpperDirDiffOptions, "agent" | "upperDir" | "tracer" | "subject">,
): Promise<RawTarEntry[]> {
  const argv = ["tar", "-c", "-f", "-", "-C", options.upperDir, "."];
  options.tracer?.emit({ op: "exec", argv }, options.subject);
  const proc = await options.agent.spawn({ argv, env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] });
  await proc.stdin.close().catch(() => {});
  const [bytes, errors, status] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exit,
  ]);
  if (status.code !== 0) {
    throw new EngineError(
      "unavailable",
      `reading the container's changes failed (tar exit ${status.code}): ${errors.trim()}`,
    );
  }
  const entries = readTar(new Uint8Array(bytes));
  options.tracer?.emit({ op: "xattrs", action: "get", path: options.upperDir, recursive: true }, options.subject);
  const xattrs = await options.agent.xattrTree(options.upperDir);
  for (const entry of entries) {
    const found = xattrs.get(entry.path === "" ? "." : entry.path);
    if (found && found.size > 0) entry.xattrs = found;
    else delete entry.xattrs;
  }
  return entries;
}

/**
 * The changes of an overlay upper dir as an OCI layer tar.
 * @example
 * const { tar } = await diffUpperDir({ agent, upperDir: "/run/drydock/snapshots/4/fs" });
 */
export async function diffUpperDir(options: UpperDirDiffOptions): Promise<UpperDirDiff> {
  const entries = (await readUpperDir(options)).filter((entry) => entry.path !== "");
  // Overlayfs may hard-link its whiteouts to one shared inode, which tar writes as links to the first one.
  const whiteouts = new Set<string>();
  for (const entry of entries) {
    if (isOverlayWhiteout(entry) || (entry.type === "link" && entry.linkname && whiteouts.has(entry.linkname))) {
      whiteouts.add(entry.path);
    }
  }
  const opaque = new Set<string>();
  for (const entry of entries) {
    const marker = entry.xattrs?.get(OVERLAY_OPAQUE);
    if (entry.type === "directory" && marker?.length === 1 && marker[0] === 0x79 /* y */) opaque.add(entry.path);
  }

  // busybox tar writes parents before their children, as a layer must have them.
  const layer: RawTarEntry[] = [];
  const changed: string[] = [];
  const deleted: string[] = [];
  for (const entry of entries) {
    if (whiteouts.has(entry.path)) {
      const name = join(parentOf(entry.path), WHITEOUT_PREFIX + entry.path.slice(entry.path.lastIndexOf("/") + 1));
      layer.push({ path: name, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: entry.mtime });
      deleted.push(entry.path);
      continue;
    }
    const kept = [...(entry.xattrs ?? [])].filter(([name]) => !name.startsWith(OVERLAY_XATTR_PREFIX));
    const { xattrs: _, ...rest } = entry;
    layer.push(kept.length > 0 ? { ...rest, xattrs: new Map(kept) } : rest);
    changed.push(entry.path);
    if (opaque.has(entry.path)) {
      layer.push({
        path: join(entry.path, OPAQUE_MARKER),
        type: "file",
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: entry.mtime,
      });
    }
  }
  return { tar: encodeTar(layer), changed, deleted, opaque: [...opaque] };
}
