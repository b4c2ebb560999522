// The guest's manifest: what went into vm-images/dist/ (Debian packages, the sources in vm-images/) and what came
// out, by sha256. build.sh writes it; a unit test compares it with the tree so a stale build is caught at once.
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const VM_IMAGES_DIR = fileURLToPath(new URL(".", import.meta.url));
export const REPO_DIR = join(VM_IMAGES_DIR, "..");
export const DIST_DIR = join(VM_IMAGES_DIR, "dist");
export const MANIFEST_PATH = join(DIST_DIR, "manifest.json");

export interface FileEntry {
  size: number;
  sha256: string;
}

export interface PackageEntry {
  name: string;
  version: string;
  deb: string;
  sha256: string;
}

/** A Debian source package built into the guest: its .dsc pins the tarballs (dpkg-source checks them against it). */
export interface SourceEntry {
  name: string;
  version: string;
  dsc: string;
  sha256: string;
}

export interface GuestManifest {
  schema: 1;
  boot: { cmdline: string };
  inputs: { packages: PackageEntry[]; sources: SourceEntry[]; files: Record<string, string> };
  outputs: Record<string, FileEntry>;
  /** Built into bzImage rather than shipped on its own; recorded for its size. */
  embedded: Record<string, FileEntry>;
  build: { seconds: number; tools: Record<string, string> };
}

/** Files under vm-images/ that are not inputs of the build: outputs, caches, tests, docs and this file. */
const NOT_INPUTS = [/^dist\//, /^\.cache\//, /^\.build\//, /\.test\.ts$/, /^README\.md$/, /^manifest\.ts$/];

export async function hashFile(path: string): Promise<FileEntry> {
  const bytes = await readFile(path);
  return { size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** Every file under `dir`, as paths relative to `base`, leaving out those (and the folders) `skip` matches. */
async function walk(dir: string, base: string, skip: RegExp[] = []): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const rel = relative(base, path) + (entry.isDirectory() ? "/" : "");
    if (skip.some((re) => re.test(rel))) continue;
    if (entry.isDirectory()) found.push(...(await walk(path, base, skip)));
    else if (entry.isFile()) found.push(rel);
  }
  return found;
}

/** sha256 of every input file, keyed by its path relative to the repository. */
export async function inputFileHashes(): Promise<Record<string, string>> {
  const files = (await walk(VM_IMAGES_DIR, VM_IMAGES_DIR, NOT_INPUTS)).sort();
  const hashes: Record<string, string> = {};
  for (const file of files) hashes[`vm-images/${file}`] = (await hashFile(join(VM_IMAGES_DIR, file))).sha256;
  return hashes;
}

export async function readManifest(): Promise<GuestManifest> {
  return JSON.parse(await readFile(MANIFEST_PATH, "utf8")) as GuestManifest;
}

async function write(): Promise<void> {
  const env = (name: string): string => {
    const value = process.env[name];
    if (!value) throw new Error(`manifest.ts write: ${name} is not set (run it through vm-images/build.sh)`);
    return value;
  };
  const outputs: Record<string, FileEntry> = {};
  for (const name of (await walk(DIST_DIR, DIST_DIR, [/^manifest\.json$/])).sort()) {
    outputs[name] = await hashFile(join(DIST_DIR, name));
  }
  const { execFileSync } = await import("node:child_process");
  const firstLine = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8" }).split("\n")[0] ?? "";
  const manifest: GuestManifest = {
    schema: 1,
    boot: { cmdline: (await readFile(join(VM_IMAGES_DIR, "kernel/cmdline"), "utf8")).trim() },
    inputs: {
      packages: JSON.parse(env("DRYDOCK_PACKAGES")) as PackageEntry[],
      sources: JSON.parse(env("DRYDOCK_SOURCES")) as SourceEntry[],
      files: await inputFileHashes(),
    },
    outputs,
    embedded: {
      "initramfs.cpio": await hashFile(env("DRYDOCK_INITRAMFS")),
      drydockd: await hashFile(env("DRYDOCK_AGENT")),
      "xtables-legacy-multi": await hashFile(env("DRYDOCK_IPTABLES")),
    },
    build: {
      seconds: Number(env("DRYDOCK_BUILD_SECONDS")),
      tools: {
        gcc: firstLine("gcc", ["--version"]),
        "i686-linux-gnu-gcc": firstLine("i686-linux-gnu-gcc", ["--version"]),
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a JavaScript template.
        musl: firstLine("dpkg-query", ["-W", "-f", "${Version}", "musl-dev:i386"]),
        make: firstLine("make", ["--version"]),
      },
    },
  };
  await writeFile(MANIFEST_PATH, `${JSON.stringify(manifest, null, 2)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "write") await write();
