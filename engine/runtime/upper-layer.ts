// A container's writable layer kept in the engine's storage, so its files outlive the guest (a daemon restart, a page
// reload, a guest fault). The layer is its overlay upper dir on the guest's tmpfs, archived as it is by busybox tar in
// the guest: files, directories, symlinks, hard links, owners, modes and times, and overlayfs's whiteouts (character
// devices 0/0, often hard links to one inode), which tar keeps as device entries and links and puts back with mknod
// and link. Busybox tar carries no extended attributes, so drydockd reads them (one XATTRS request for the whole
// upper dir) and, when any entry has some, the engine writes the archive again with them as PAX `SCHILY.xattr.*`
// records: a file's `security.capability`, and `trusted.overlay.opaque` on a directory removed and made again in the
// container, without which it would come back merged with the image's directory below it. overlayfs's other
// trusted.overlay.* xattrs describe this boot's lower inodes and are left out. On restore busybox tar unpacks the
// archive (it skips the records it does not know) and drydockd sets the xattrs back (SETXATTR). The archive is one
// document of the metadata store beside containers.json, `upper-<id>.tar`, replaced whole (a temporary file renamed
// into place in Node, OPFS's swap file in the page), so a save cut short leaves the last complete one.
import type { AgentClient } from "../agent/index.ts";
import type { MetadataStore } from "../content/metadata.ts";
import { EngineError } from "../errors.ts";
import { encodeTar, readTar } from "../images/tar-entries.ts";
import { HEADER_ONLY_TYPES, TAR_BLOCK, tarChecksumHolds, tarNumber } from "../images/tar-headers.ts";
import { OVERLAY_OPAQUE, OVERLAY_XATTR_PREFIX } from "../snapshots/diff.ts";
import type { Tracer } from "../trace/index.ts";

/** The metadata document holding a container's writable layer. */
export function upperLayerDocument(id: string): string {
  return `upper-${id}.tar`;
}

/**
 * Whether bytes are one whole tar archive: every header's checksum holds, every entry's data is there, and the
 * archive ends with the zero blocks that close it. A stream cut short fails this.
 * @example
 * isCompleteTar(new Uint8Array(1024)); // true: an empty archive
 * isCompleteTar(wholeArchive.subarray(0, 1536)); // false
 */
export function isCompleteTar(bytes: Uint8Array): boolean {
  if (bytes.length % TAR_BLOCK !== 0) return false;
  let at = 0;
  while (at + TAR_BLOCK <= bytes.length) {
    const header = bytes.subarray(at, at + TAR_BLOCK);
    if (header.every((byte) => byte === 0)) {
      // The end: a second zero block, then only zeros (padding to a record).
      return at + 2 * TAR_BLOCK <= bytes.length && bytes.subarray(at).every((byte) => byte === 0);
    }
    if (!tarChecksumHolds(header)) return false;
    const size = tarNumber(header.subarray(124, 136));
    if (size === undefined) return false;
    // Links, devices, directories and FIFOs carry no data whatever their size field says.
    const type = String.fromCharCode(header[156]!);
    const data = HEADER_ONLY_TYPES.includes(type) ? 0 : Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
    at += TAR_BLOCK + data;
  }
  return false;
}

export interface UpperLayerOptions {
  agent: Pick<AgentClient, "spawn" | "xattrTree" | "setXattrs">;
  /** The engine's metadata store (the one containers.json is in). */
  store: MetadataStore;
  /** The container's id (the trace's subject and the document's name). */
  id: string;
  /** Its overlay upper dir in the guest. */
  upperDir: string;
  tracer?: Tracer;
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Archives the container's upper dir from the guest into the store, replacing its last saved layer only once the
 * whole archive is in hand. Returns its size in bytes.
 * @example
 * await saveUpperLayer({ agent, store: metadata, id, upperDir: snapshotter.upperDir(id), tracer });
 */
export async function saveUpperLayer(options: UpperLayerOptions): Promise<number> {
  const { agent, store, id, upperDir, tracer } = options;
  const argv = ["tar", "-c", "-f", "-", "-C", upperDir, "."];
  tracer?.emit({ op: "exec", argv }, id);
  const process = await agent.spawn({ argv: ["/bin/busybox", ...argv], env: ["PATH=/bin"] });
  await process.stdin.close().catch(() => {});
  const [bytes, stderr, status] = await Promise.all([
    bytesOf(process.stdout),
    new Response(process.stderr).text(),
    process.exit,
  ]);
  if (status.code !== 0 || !isCompleteTar(bytes)) {
    const why = stderr.trim() || (status.code !== 0 ? `exit ${status.code}` : "the archive was cut short");
    throw new EngineError(
      "unavailable",
      `could not keep the files of container ${id.slice(0, 12)}: archiving its writable layer ${upperDir} failed (${why}); its last saved files stay`,
    );
  }
  const archive = await withXattrs(bytes, options);
  const name = upperLayerDocument(id);
  tracer?.emit(
    { op: "store", action: "write", name, bytes: archive.length, note: "the writable layer, replaced whole" },
    id,
  );
  await store.write(name, archive);
  return archive.length;
}

/** Whether the saved layer keeps an xattr: all but overlayfs's own, except its opaque mark. */
const keptXattr = (name: string) => name === OVERLAY_OPAQUE || !name.startsWith(OVERLAY_XATTR_PREFIX);

/** busybox's archive of the upper dir, written again with the xattrs of its entries when any has some. */
async function withXattrs(bytes: Uint8Array, options: UpperLayerOptions): Promise<Uint8Array> {
  const { agent, upperDir, tracer, id } = options;
  tracer?.emit({ op: "xattrs", action: "get", path: upperDir, recursive: true }, id);
  const tree = await agent.xattrTree(upperDir);
  const kept = new Map<string, Map<string, Uint8Array>>();
  for (const [path, xattrs] of tree) {
    const names = [...xattrs].filter(([name]) => keptXattr(name));
    if (names.length > 0) kept.set(path === "." ? "" : path, new Map(names));
  }
  if (kept.size === 0) return bytes;
  const entries = readTar(bytes);
  for (const entry of entries) {
    const xattrs = kept.get(entry.path);
    if (xattrs) entry.xattrs = xattrs;
  }
  return encodeTar(entries);
}

/**
 * Unpacks the container's saved layer, if it has one, into its new (empty) upper dir before its task starts.
 * Returns the archive's size, or undefined when nothing was saved.
 * @example
 * await restoreUpperLayer({ agent, store: metadata, id, upperDir: snapshotter.upperDir(id), tracer });
 */
export async function restoreUpperLayer(options: UpperLayerOptions): Promise<number | undefined> {
  const { agent, store, id, upperDir, tracer } = options;
  const name = upperLayerDocument(id);
  const bytes = await store.read(name);
  if (bytes === undefined) return undefined;
  tracer?.emit({ op: "store", action: "read", name, bytes: bytes.length, note: "the writable layer" }, id);
  if (!isCompleteTar(bytes)) {
    throw new EngineError(
      "dataLoss",
      `cannot start container ${id.slice(0, 12)}: its saved files (${name} in the engine's storage) are not a whole tar archive; remove the container, or move that file aside to start it from its image alone`,
    );
  }
  const argv = ["tar", "-x", "-f", "-", "-C", upperDir];
  tracer?.emit({ op: "exec", argv }, id);
  const process = await agent.spawn({ argv: ["/bin/busybox", ...argv], env: ["PATH=/bin"] });
  const writer = process.stdin.getWriter();
  const feeding = (async () => {
    await writer.write(bytes);
    await writer.close();
  })().catch(() => {});
  const [stderr, status] = await Promise.all([
    new Response(process.stderr).text(),
    process.exit,
    process.stdout.cancel().catch(() => {}),
    feeding,
  ]);
  if (status.code !== 0) {
    throw new EngineError(
      "unavailable",
      `cannot start container ${id.slice(0, 12)}: unpacking its saved files into ${upperDir} failed (${stderr.trim() || `exit ${status.code}`})`,
    );
  }
  for (const entry of readTar(bytes)) {
    if (!entry.xattrs) continue;
    const path = entry.path === "" ? upperDir : `${upperDir}/${entry.path}`;
    tracer?.emit({ op: "xattrs", action: "set", path, names: [...entry.xattrs.keys()] }, id);
    await agent.setXattrs(path, entry.xattrs);
  }
  return bytes.length;
}

/**
 * Deletes the container's saved layer (with the container).
 * @example
 * await forgetUpperLayer(metadata, id, tracer);
 */
export async function forgetUpperLayer(store: MetadataStore, id: string, tracer?: Tracer): Promise<void> {
  const name = upperLayerDocument(id);
  tracer?.emit({ op: "store", action: "remove", name }, id);
  await store.remove(name);
}
