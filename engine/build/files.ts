// Files for COPY and ADD: an image's merged tree (its layers' indexes applied in order, whiteouts and opaque
// directories honoured), the sources a COPY names (globs, directories copied by their contents), and the layer tar
// that puts them at the destination with Docker's ownership and modes.
import { createTarDecoder, packTar, type TarEntry } from "modern-tar";
import picomatch from "picomatch";
import { EngineError } from "../errors.ts";
import { decompressor } from "../images/decompress.ts";
import type { ImageDetails, ImageStore, NewImageLayer } from "../images/index.ts";
import { digestOf, MediaType } from "../oci/index.ts";
import { type BuildContext, cleanPath } from "./context.ts";

/** A file of a source tree (the context or an image): metadata, and its bytes on demand. */
export interface SourceFile {
  path: string;
  type: "file" | "directory" | "symlink" | "link";
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname?: string;
  /** A digest or hash of the bytes, for the build cache (files only). */
  contentKey: string;
  read(): Promise<Uint8Array>;
}

export type SourceTree = Map<string, SourceFile>;

const EMPTY = new Uint8Array();

/** The context as a source tree. */
export function contextTree(context: BuildContext): SourceTree {
  const tree: SourceTree = new Map();
  for (const entry of context.entries.values()) {
    const file: SourceFile = {
      path: entry.path,
      type: entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      contentKey: entry.type === "file" ? digestOf(entry.data) : "",
      read: async () => entry.data,
    };
    if (entry.linkname !== undefined) file.linkname = entry.linkname;
    tree.set(entry.path, file);
  }
  tree.set("", {
    path: "",
    type: "directory",
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: 0,
    contentKey: "",
    read: async () => EMPTY,
  });
  return tree;
}

/**
 * An image's filesystem as its layers stack up: each layer's entries over the ones below, a whiteout removing a
 * path and all under it, an opaque directory hiding what the layers below had in it.
 * @example
 * const tree = await imageTree(store, await store.get("busybox"));
 * tree.get("bin/sh")?.type; // "file" or "link"
 */
export async function imageTree(store: ImageStore, image: ImageDetails): Promise<SourceTree> {
  const tree: SourceTree = new Map();
  const removeUnder = (path: string) => {
    const prefix = path === "" ? "" : `${path}/`;
    for (const key of [...tree.keys()]) if (key !== path && key.startsWith(prefix)) tree.delete(key);
  };
  for (const layer of image.layers) {
    const index = await store.layerIndex(layer);
    for (const entry of index.entries) {
      if (entry.type === "whiteout") {
        removeUnder(entry.path);
        tree.delete(entry.path);
        continue;
      }
      if (entry.opaque) removeUnder(entry.path);
      const type =
        entry.type === "hardlink"
          ? "link"
          : entry.type === "file" || entry.type === "directory" || entry.type === "symlink"
            ? entry.type
            : undefined;
      if (type === undefined) continue;
      const content = entry.content;
      const file: SourceFile = {
        path: entry.path,
        type: type === "link" ? "file" : type,
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        mtime: entry.mtime,
        contentKey: content ?? "",
        read: async () => (content ? store.content.readBytes(content) : EMPTY),
      };
      // A hard link in a layer index carries its target's bytes: copy it as a file.
      if (type === "symlink" && entry.linkTarget !== undefined) file.linkname = entry.linkTarget;
      tree.set(entry.path, file);
    }
  }
  return tree;
}

/** A user or group name → id, from an image's /etc/passwd or /etc/group. */
export async function lookupId(tree: SourceTree, file: "passwd" | "group", name: string): Promise<number | undefined> {
  if (/^\d+$/.test(name)) return Number(name);
  const entry = tree.get(`etc/${file}`);
  if (!entry) return undefined;
  for (const line of new TextDecoder().decode(await entry.read()).split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name) return Number(fields[2]);
  }
  return undefined;
}

/** Resolves `user[:group]` (names or ids) against an image's files, as Docker does for USER and --chown. */
export async function resolveUser(tree: SourceTree, spec: string): Promise<{ uid: number; gid: number }> {
  const [user = "", group] = spec.split(":");
  const uid = await lookupId(tree, "passwd", user);
  if (uid === undefined)
    throw new EngineError("invalidArgument", `unable to find user ${user}: no matching entries in passwd file`);
  let gid: number | undefined;
  if (group !== undefined && group !== "") {
    gid = await lookupId(tree, "group", group);
    if (gid === undefined)
      throw new EngineError("invalidArgument", `unable to find group ${group}: no matching entries in group file`);
  } else if (/^\d+$/.test(user)) {
    gid = uid;
  } else {
    const entry = tree.get("etc/passwd");
    const line = entry
      ? new TextDecoder()
          .decode(await entry.read())
          .split("\n")
          .find((l) => l.split(":")[0] === user)
      : undefined;
    gid = Number(line?.split(":")[3] ?? uid);
  }
  return { uid, gid };
}

/** One file to put in the layer: where it goes and where its bytes and metadata come from. */
export interface PlannedFile {
  target: string;
  source: SourceFile;
}

const hasGlob = (pattern: string) => /[*?[]/.test(pattern);

/**
 * The files a COPY or ADD source names, placed under `dest` (absolute, in the image): a file goes to `dest` (or into
 * it when `dest` ends with `/` or several sources are given), a directory's contents go into `dest`. Throws
 * invalidArgument naming a source that is not there, with Docker's words.
 */
export function planCopy(tree: SourceTree, sources: string[], dest: string, what = "build context"): PlannedFile[] {
  const destDir = dest.endsWith("/") || sources.length > 1;
  const destClean = cleanPath(dest);
  const planned: PlannedFile[] = [];
  const matched: SourceFile[] = [];
  for (const source of sources) {
    const clean = cleanPath(source);
    let found: SourceFile[];
    if (hasGlob(clean)) {
      const match = picomatch(clean, { dot: true, windows: false });
      found = [...tree.values()].filter((file) => file.path !== "" && match(file.path));
    } else {
      const file = tree.get(clean);
      found = file ? [file] : [];
    }
    if (found.length === 0) {
      throw new EngineError(
        "invalidArgument",
        hasGlob(clean)
          ? `COPY failed: no source files were specified (no file of the ${what} matches ${source})`
          : `COPY failed: file not found in ${what}: stat ${source}: file does not exist`,
      );
    }
    matched.push(...found);
  }
  const multiple = destDir || matched.length > 1;
  if (matched.length > 1 && !destDir) {
    throw new EngineError(
      "invalidArgument",
      "When using COPY with more than one source file, the destination must be a directory and end with a /",
    );
  }
  for (const file of matched) {
    if (file.type === "directory") {
      const prefix = file.path === "" ? "" : `${file.path}/`;
      for (const inner of tree.values()) {
        if (inner.path === file.path || !inner.path.startsWith(prefix)) continue;
        planned.push({ target: cleanPath(`${destClean}/${inner.path.slice(prefix.length)}`), source: inner });
      }
      continue;
    }
    const base = file.path.slice(file.path.lastIndexOf("/") + 1);
    planned.push({ target: multiple ? cleanPath(`${destClean}/${base}`) : destClean, source: file });
  }
  return planned;
}

/** A key for the build cache: what the planned files are, by path, metadata and content. */
export function plannedKey(planned: PlannedFile[]): string {
  const lines = planned
    .map(({ target, source }) =>
      [target, source.type, source.mode.toString(8), source.linkname ?? "", source.contentKey].join("\t"),
    )
    .sort();
  return digestOf(new TextEncoder().encode(lines.join("\n")));
}

export interface LayerFileOptions {
  /** --chown, resolved. */
  owner?: { uid: number; gid: number };
  /** --chmod, octal. */
  mode?: number;
  /** The image's tree, to know which parent directories exist already. */
  below: SourceTree;
  /** Seconds since the epoch for directories made on the way. */
  now: number;
}

/**
 * The layer tar of a COPY or ADD: the planned files (owned by root unless --chown, modes kept unless --chmod) and
 * any parent directories the image does not have yet (0755, root).
 */
export async function copyLayer(planned: PlannedFile[], options: LayerFileOptions): Promise<Uint8Array> {
  const entries = new Map<string, TarEntry>();
  const owner = options.owner ?? { uid: 0, gid: 0 };
  const addParents = (path: string) => {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (options.below.get(parent)?.type === "directory" || entries.has(parent)) continue;
      entries.set(parent, {
        header: {
          name: `${parent}/`,
          type: "directory",
          mode: 0o755,
          uid: owner.uid,
          gid: owner.gid,
          size: 0,
          mtime: new Date(options.now * 1000),
        },
      });
    }
  };
  for (const { target, source } of planned) {
    if (target === "") continue;
    addParents(target);
    const mode = options.mode ?? source.mode;
    const common = { uid: owner.uid, gid: owner.gid, mtime: new Date(source.mtime * 1000), mode };
    if (source.type === "directory") {
      entries.set(target, { header: { ...common, name: `${target}/`, type: "directory", size: 0 } });
    } else if (source.type === "symlink") {
      entries.set(target, {
        header: { ...common, name: target, type: "symlink", size: 0, linkname: source.linkname ?? "" },
      });
    } else {
      const data = await source.read();
      entries.set(target, { header: { ...common, name: target, type: "file", size: data.byteLength }, body: data });
    }
  }
  return packTar([...entries.values()]);
}

/**
 * A layer tar as it is stored and pushed: gzip-compressed, as Docker's builders make layers (the diff id is still the
 * digest of the tar itself).
 */
export async function gzipLayer(tar: Uint8Array): Promise<NewImageLayer> {
  const compressed = new Blob([tar as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return { tar: new Uint8Array(await new Response(compressed).arrayBuffer()), mediaType: MediaType.ociLayerGzip };
}

/** Whether bytes look like a tar archive (gzip'd or not) that ADD unpacks, and which compression. */
export function archiveCompression(data: Uint8Array): "gzip" | "none" | undefined {
  if (data[0] === 0x1f && data[1] === 0x8b) return "gzip";
  if (data.byteLength >= 262 && new TextDecoder().decode(data.subarray(257, 262)) === "ustar") return "none";
  return undefined;
}

/** The entries of a local archive ADD unpacks, as a source tree rooted at the archive's root. */
export async function archiveTree(data: Uint8Array, compression: "gzip" | "none"): Promise<SourceTree> {
  const tree: SourceTree = new Map();
  const reader = new Blob([data as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(decompressor(compression))
    .pipeThrough(createTarDecoder())
    .getReader();
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    const { header, body } = next.value;
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    const path = cleanPath(header.name);
    const type =
      header.type === "directory"
        ? "directory"
        : header.type === "symlink"
          ? "symlink"
          : header.type === "file" || header.type === undefined
            ? "file"
            : undefined;
    if (!type || path === "") continue;
    const file: SourceFile = {
      path,
      type,
      mode: (header.mode ?? 0o644) & 0o7777,
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      mtime: header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0,
      contentKey: type === "file" ? digestOf(bytes) : "",
      read: async () => bytes,
    };
    if (header.linkname) file.linkname = header.linkname;
    tree.set(path, file);
  }
  tree.set("", {
    path: "",
    type: "directory",
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: 0,
    contentKey: "",
    read: async () => EMPTY,
  });
  return tree;
}
