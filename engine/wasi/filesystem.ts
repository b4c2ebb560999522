// A WASI container's filesystem: the image's layers merged into one tree in memory (whiteouts and opaque
// directories applied, as overlayfs would show them), under a writable layer of the container's own. The tree is
// plain data (Maps, Uint8Arrays), so it crosses to the module's worker by structured clone, and comes back changed
// when the module ends; the writable layer is what changed, kept as paths → node or deletion.
import type { LayerEntry, LayerIndex } from "../images/index.ts";
import type { Digest } from "../oci/index.ts";

export interface FsFile {
  type: "file";
  data: Uint8Array;
  /** Where the bytes came from in the image (a layer's file blob); absent for a file the container wrote. */
  digest?: Digest;
}

export interface FsDirectory {
  type: "directory";
  entries: Map<string, FsNode>;
}

export type FsNode = FsFile | FsDirectory;

/** A container's writable layer: each path it added or changed (the node as it is now), or deleted (null). */
export type WritableLayer = Map<string, FsNode | null>;

export function emptyDirectory(): FsDirectory {
  return { type: "directory", entries: new Map() };
}

/** The node at an absolute or root-relative path, or undefined. */
export function lookup(root: FsDirectory, path: string): FsNode | undefined {
  let node: FsNode = root;
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (node.type !== "directory") return undefined;
    const next = node.entries.get(part);
    if (!next) return undefined;
    node = next;
  }
  return node;
}

function parentOf(root: FsDirectory, path: string, create: boolean): FsDirectory | undefined {
  let node: FsDirectory = root;
  const parts = path.split("/").filter(Boolean);
  for (const part of parts.slice(0, -1)) {
    let next = node.entries.get(part);
    if (next?.type !== "directory") {
      if (!create) return undefined;
      next = emptyDirectory();
      node.entries.set(part, next);
    }
    node = next;
  }
  return node;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Merges image layers, base first, into one tree: a whiteout removes what lower layers had at its path, an opaque
 * directory hides their entries under it, a hard link shares its target's bytes. Symlinks, devices and fifos have no
 * WASI counterpart in the shim and are left out. File bytes are read with `read` (by their blob digest).
 * @example
 * const root = await mergeLayers(await Promise.all(layers.map((l) => store.layerIndex(l))), (d) => store.content.readBytes(d));
 */
export async function mergeLayers(
  layers: readonly LayerIndex[],
  read: (digest: Digest) => Promise<Uint8Array>,
): Promise<FsDirectory> {
  const root = emptyDirectory();
  const bytes = new Map<Digest, Promise<Uint8Array>>();
  const load = (digest: Digest) => {
    let loaded = bytes.get(digest);
    if (!loaded) {
      loaded = read(digest);
      bytes.set(digest, loaded);
    }
    return loaded;
  };
  for (const layer of layers) {
    const files: Promise<void>[] = [];
    for (const entry of layer.entries) {
      if (entry.path === "") continue;
      const parent = parentOf(root, entry.path, true)!;
      const name = baseName(entry.path);
      files.push(applyEntry(parent, name, entry, load));
    }
    await Promise.all(files);
  }
  return root;
}

async function applyEntry(
  parent: FsDirectory,
  name: string,
  entry: LayerEntry,
  load: (digest: Digest) => Promise<Uint8Array>,
): Promise<void> {
  switch (entry.type) {
    case "whiteout":
      parent.entries.delete(name);
      return;
    case "directory": {
      const existing = parent.entries.get(name);
      if (existing?.type === "directory" && !entry.opaque) return;
      parent.entries.set(name, emptyDirectory());
      return;
    }
    case "file":
    case "hardlink": {
      if (entry.type === "hardlink" && entry.content === undefined && entry.size > 0) return;
      const file: FsFile = { type: "file", data: new Uint8Array(0) };
      parent.entries.set(name, file);
      if (entry.content !== undefined) {
        file.digest = entry.content;
        file.data = await load(entry.content);
      }
      return;
    }
    default:
      return;
  }
}

/**
 * The tree a run starts from: the image's (never changed: nodes are copied where the layer differs) with the
 * writable layer's paths on top.
 */
export function withLayer(lower: FsDirectory, layer: WritableLayer): FsDirectory {
  const root = copyDirectory(lower);
  for (const [path, node] of [...layer].sort(([a], [b]) => a.length - b.length)) {
    const parent = parentOf(root, path, true)!;
    if (node === null) parent.entries.delete(baseName(path));
    else parent.entries.set(baseName(path), node.type === "directory" ? copyDirectory(node) : node);
  }
  return root;
}

function copyDirectory(directory: FsDirectory): FsDirectory {
  const entries = new Map<string, FsNode>();
  for (const [name, node] of directory.entries)
    entries.set(name, node.type === "directory" ? copyDirectory(node) : node);
  return { type: "directory", entries };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * What a run left, as a writable layer against the image: added and changed files, new directories, deleted paths.
 * A directory that replaced a file (or the reverse) is recorded whole.
 */
export function diffTrees(lower: FsDirectory, upper: FsDirectory): WritableLayer {
  const layer: WritableLayer = new Map();
  const walk = (below: FsDirectory, above: FsDirectory, prefix: string) => {
    for (const [name, node] of above.entries) {
      const path = `${prefix}/${name}`;
      const old = below.entries.get(name);
      if (!old || old.type !== node.type) {
        layer.set(path, node);
      } else if (node.type === "directory") {
        walk(old as FsDirectory, node, path);
      } else if (!sameBytes((old as FsFile).data, node.data)) {
        layer.set(path, { type: "file", data: node.data });
      }
    }
    for (const name of below.entries.keys()) if (!above.entries.has(name)) layer.set(`${prefix}/${name}`, null);
  };
  walk(lower, upper, "");
  return layer;
}

/** Paths of a writable layer as `docker diff` prints them: A(dded), C(hanged) or D(eleted) against the image. */
export function layerChanges(lower: FsDirectory, layer: WritableLayer): { kind: "A" | "C" | "D"; path: string }[] {
  const changes: { kind: "A" | "C" | "D"; path: string }[] = [];
  const parents = new Set<string>();
  const add = (path: string, node: FsNode | null) => {
    if (node === null) {
      changes.push({ kind: "D", path });
      return;
    }
    changes.push({ kind: lookup(lower, path) ? "C" : "A", path });
    if (node.type === "directory") {
      for (const [name, child] of node.entries) add(`${path}/${name}`, child);
    }
  };
  for (const [path, node] of layer) {
    add(path, node);
    for (let parent = path.slice(0, path.lastIndexOf("/")); parent; parent = parent.slice(0, parent.lastIndexOf("/"))) {
      parents.add(parent);
    }
  }
  // A directory whose contents changed is itself changed, as overlayfs copies it up.
  for (const parent of parents) if (!layer.has(parent)) changes.push({ kind: "C", path: parent });
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Bytes of the files in a writable layer (`docker ps -s`, `docker system df`). */
export function layerSize(layer: WritableLayer): number {
  const size = (node: FsNode | null): number => {
    if (node === null) return 0;
    if (node.type === "file") return node.data.byteLength;
    let total = 0;
    for (const child of node.entries.values()) total += size(child);
    return total;
  };
  let total = 0;
  for (const node of layer.values()) total += size(node);
  return total;
}
