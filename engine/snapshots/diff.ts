// A snapshot's changes as an OCI layer: the overlay upper dir, read in the guest with busybox `tar -c`, turned into a
// standard layer tar the way BuildKit reads an upper dir. A whiteout (a char device 0/0 overlayfs leaves for a
// deleted file) becomes an empty `.wh.<name>`; an opaque directory (a directory removed and made again, which
// overlayfs marks with the trusted.overlay.opaque xattr) gets a `.wh..wh..opq` entry.
//
// Neither the agent nor busybox reads xattrs, so opacity is found by what it does: a directory of the upper dir
// that also exists below is opaque when a name below it (not whited out, not in the upper dir) is missing from the
// merged view. A read-only overlay of the upper dir over the lower dirs shows that view after the container is gone.
// An opaque directory that hides nothing is left unmarked: on the same lower layers the result is the same tree.
import { createTarDecoder, packTar, type TarEntry } from "modern-tar";
import type { AgentClient } from "../agent/index.ts";
import { EngineError } from "../errors.ts";
import type { Tracer } from "../trace/index.ts";

const MS_RDONLY = 1;
const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";

export type DiffAgent = Pick<AgentClient, "spawn" | "mkdir" | "mount" | "umount" | "readdir" | "remove">;

export interface UpperDirDiffOptions {
  agent: DiffAgent;
  /** The snapshot's upper dir in the guest. */
  upperDir: string;
  /** The lower dirs it was mounted over, top first. */
  lowerDirs: readonly string[];
  /** A scratch directory on the guest's tmpfs for the views' mount points. */
  scratch: string;
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

interface Entry {
  path: string;
  header: TarEntry["header"];
  body: Uint8Array;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const parentOf = (path: string) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");
const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

/** Reads the upper dir as busybox tar writes it: every entry, paths without the leading `./`. */
async function readUpperDir(options: UpperDirDiffOptions): Promise<Entry[]> {
  const argv = ["tar", "-c", "-f", "-", "-C", options.upperDir, "."];
  options.tracer?.emit({ op: "exec", argv }, options.subject);
  const proc = await options.agent.spawn({ argv, env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] });
  const errors = collect(proc.stderr);
  const entries: Entry[] = [];
  const reading = (async () => {
    const reader = proc.stdout.pipeThrough(createTarDecoder()).getReader();
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      const { header, body } = next.value;
      const bytes = await collect(body);
      const path = header.name.replace(/^\.\/?/, "").replace(/\/$/, "");
      if (path === "") continue;
      const linkname = header.type === "link" ? header.linkname?.replace(/^\.\//, "") : header.linkname;
      entries.push({ path, header: { ...header, name: path, linkname }, body: bytes });
    }
  })();
  const [status] = await Promise.all([proc.exit, reading]);
  if (status.code !== 0) {
    const message = new TextDecoder().decode(await errors).trim();
    throw new EngineError(
      "unavailable",
      `reading the container's changes failed (tar exit ${status.code}): ${message}`,
    );
  }
  return entries;
}

/**
 * The changes of an overlay upper dir as an OCI layer tar. The upper dir must no longer be mounted as one.
 * @example
 * const { tar } = await diffUpperDir({ agent, upperDir: "/run/drydock/snapshots/4/fs",
 *   lowerDirs: ["/run/drydock/layers/ab…"], scratch: "/run/drydock/diff/4" });
 */
export async function diffUpperDir(options: UpperDirDiffOptions): Promise<UpperDirDiff> {
  const { agent, tracer, subject } = options;
  const entries = await readUpperDir(options);
  // Overlayfs may hard-link its whiteouts to one shared inode, which tar writes as links to the first one.
  const whiteouts = new Set<string>();
  for (const entry of entries) {
    const { type, linkname } = entry.header;
    if (type === "character-device" || (type === "link" && linkname && whiteouts.has(linkname))) {
      whiteouts.add(entry.path);
    }
  }
  const isWhiteout = (entry: Entry) => whiteouts.has(entry.path);
  const directories = entries.filter((entry) => entry.header.type === "directory");
  const opaque = new Set<string>();

  if (directories.length > 0 && options.lowerDirs.length > 0) {
    const merged = `${options.scratch}/merged`;
    const lower = options.lowerDirs.length === 1 ? options.lowerDirs[0]! : `${options.scratch}/lower`;
    const mounted: string[] = [];
    const mount = async (target: string, lowerDirs: readonly string[]) => {
      const data = `lowerdir=${lowerDirs.join(":")}`;
      tracer?.emit({ op: "mkdir", path: target }, subject);
      await agent.mkdir(target, { parents: true });
      tracer?.emit(
        { op: "mount", source: "overlay", target, fstype: "overlay", options: data, readonly: true },
        subject,
      );
      await agent.mount("overlay", target, "overlay", data, MS_RDONLY);
      mounted.push(target);
    };
    const names = async (dir: string) => {
      try {
        return new Set((await agent.readdir(dir)).map((entry) => entry.name));
      } catch {
        return undefined;
      }
    };
    try {
      await mount(merged, [options.upperDir, ...options.lowerDirs]);
      if (lower !== options.lowerDirs[0]) await mount(lower, options.lowerDirs);
      const byParent = new Map<string, Entry[]>();
      for (const entry of entries) {
        const siblings = byParent.get(parentOf(entry.path)) ?? [];
        siblings.push(entry);
        byParent.set(parentOf(entry.path), siblings);
      }
      for (const directory of directories) {
        const below = await names(`${lower}/${directory.path}`);
        if (!below || below.size === 0) continue;
        const upperNames = new Set(
          (byParent.get(directory.path) ?? []).map((entry) => entry.path.slice(directory.path.length + 1)),
        );
        const hidden = [...below].filter((name) => !upperNames.has(name));
        if (hidden.length === 0) continue;
        const shown = await names(`${merged}/${directory.path}`);
        if (shown && hidden.every((name) => !shown.has(name))) opaque.add(directory.path);
      }
    } finally {
      for (const target of mounted.reverse()) {
        tracer?.emit({ op: "umount", target, lazy: false }, subject);
        await agent.umount(target).catch(() => {});
      }
      tracer?.emit({ op: "rm", path: options.scratch, recursive: true }, subject);
      await agent.remove(options.scratch, { recursive: true }).catch(() => {});
    }
  }

  // busybox tar writes parents before their children, as a layer must have them.
  const layer: TarEntry[] = [];
  const changed: string[] = [];
  const deleted: string[] = [];
  for (const entry of entries) {
    const { header } = entry;
    if (isWhiteout(entry)) {
      const name = join(parentOf(entry.path), WHITEOUT_PREFIX + entry.path.slice(entry.path.lastIndexOf("/") + 1));
      layer.push({ header: { name, size: 0, mode: 0o644, type: "file", uid: 0, gid: 0, mtime: header.mtime } });
      deleted.push(entry.path);
      continue;
    }
    const name = header.type === "directory" ? `${entry.path}/` : entry.path;
    layer.push({ header: { ...header, name, size: entry.body.byteLength }, body: entry.body });
    changed.push(entry.path);
    if (opaque.has(entry.path)) {
      layer.push({
        header: { name: join(entry.path, OPAQUE_MARKER), size: 0, mode: 0o644, type: "file", mtime: header.mtime },
      });
    }
  }
  return { tar: await packTar(layer), changed, deleted, opaque: [...opaque] };
}
