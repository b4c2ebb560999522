// The build context: the tar a client sends with `POST /build` (the docker CLI's classic builder, docker-py and
// Drydock's own CLI all send one), read into memory, less what `.dockerignore` leaves out. COPY and ADD take their
// sources from it; the Dockerfile is read from it too.
import { createTarDecoder, type TarHeader } from "modern-tar";
import picomatch from "picomatch";
import { EngineError } from "../errors.ts";
import { decompressor } from "../images/decompress.ts";

/** A file, directory or link of the context. */
export interface ContextEntry {
  /** Relative, without `./` or a trailing slash. */
  path: string;
  type: "file" | "directory" | "symlink" | "link";
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname?: string;
  data: Uint8Array;
}

export interface BuildContext {
  /** By path; every directory on the way to an entry is there too. */
  entries: Map<string, ContextEntry>;
  /** Bytes of the files, what the classic builder reports as the context's size. */
  size: number;
}

/** Cleans a path the way Go's filepath.Clean does, relative to the context's root. */
export function cleanPath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

/**
 * A `.dockerignore` matcher with Docker's rules: one pattern a line (Go filepath.Match globs and `**`), `#`
 * comments, `!` re-includes, the last matching line wins, and a pattern that matches a directory leaves out all of it.
 * @example
 * const ignored = dockerignore("*.log\n!keep.log\nnode_modules\n");
 * ignored("a.log"); // true
 * ignored("node_modules/x/y.js"); // true
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const exclude = !line.startsWith("!");
      const pattern = cleanPath(exclude ? line : line.slice(1).trim());
      return { exclude, match: picomatch(pattern, { dot: true, windows: false }) };
    })
    .filter((rule) => rule.exclude || true);
  if (rules.length === 0) return () => false;
  return (path) => {
    const clean = cleanPath(path);
    const parents: string[] = [];
    for (let i = clean.indexOf("/"); i >= 0; i = clean.indexOf("/", i + 1)) parents.push(clean.slice(0, i));
    let ignored = false;
    for (const rule of rules) {
      if (rule.match(clean) || parents.some((parent) => rule.match(parent))) ignored = rule.exclude;
    }
    return ignored;
  };
}

const TYPES: Partial<Record<NonNullable<TarHeader["type"]>, ContextEntry["type"]>> = {
  file: "file",
  directory: "directory",
  symlink: "symlink",
  link: "link",
};

/**
 * Reads a build context tar (plain or gzip, as `docker build` may compress it). `.dockerignore` at its root leaves
 * files out, except the Dockerfile named by `dockerfile` and `.dockerignore` itself, which the builder still reads.
 * @example
 * const context = await readBuildContext(request.body, { dockerfile: "Dockerfile" });
 * context.entries.get("Dockerfile")?.data;
 */
export async function readBuildContext(
  tar: ReadableStream<Uint8Array> | Uint8Array,
  options: { dockerfile?: string } = {},
): Promise<BuildContext> {
  const bytes = tar instanceof Uint8Array ? tar : new Uint8Array(await new Response(tar).arrayBuffer());
  const compressed = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(decompressor(compressed ? "gzip" : "none"))
    .pipeThrough(createTarDecoder());
  const entries = new Map<string, ContextEntry>();
  const reader = stream.getReader();
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      const { header, body } = next.value;
      const data = new Uint8Array(await new Response(body).arrayBuffer());
      const type = TYPES[header.type ?? "file"];
      const path = cleanPath(header.name);
      if (!type || path === "") continue;
      const entry: ContextEntry = {
        path,
        type,
        mode: (header.mode ?? (type === "directory" ? 0o755 : 0o644)) & 0o7777,
        uid: header.uid ?? 0,
        gid: header.gid ?? 0,
        mtime: header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0,
        data,
      };
      if (header.linkname) entry.linkname = type === "link" ? cleanPath(header.linkname) : header.linkname;
      entries.set(path, entry);
    }
  } catch (error) {
    throw new EngineError("invalidArgument", `the build context is not a tar archive: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const ignoreFile = entries.get(".dockerignore");
  if (ignoreFile) {
    const ignored = dockerignore(new TextDecoder().decode(ignoreFile.data));
    const keep = new Set([".dockerignore", cleanPath(options.dockerfile ?? "Dockerfile")]);
    for (const path of [...entries.keys()]) if (!keep.has(path) && ignored(path)) entries.delete(path);
  }
  let size = 0;
  for (const entry of [...entries.values()]) {
    size += entry.data.byteLength;
    for (let parent = entry.path; parent.includes("/"); ) {
      parent = parent.slice(0, parent.lastIndexOf("/"));
      if (entries.has(parent)) break;
      entries.set(parent, {
        path: parent,
        type: "directory",
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
        data: new Uint8Array(),
      });
    }
  }
  return { entries, size };
}
