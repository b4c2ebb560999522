// The guest the page restores: a Vite plugin that makes the saved machine state when needed (one cold boot in Node,
// cached by engine/node), compresses it with zstd (v86 decodes .zst states itself, in wasm), and serves it (dev) or
// emits it (build) with the two BIOS images under content-hashed URLs, so browsers may keep them forever.
// The page learns the URLs from the virtual module `virtual:drydock-guest`.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Connect, Plugin, ResolvedConfig } from "vite";
import { DEFAULT_MEMORY_MIB } from "../engine/index.ts";
import { ensureSavedState, GUEST_DIST_DIR } from "../engine/node/index.ts";

const run = promisify(execFile);
const VIRTUAL_ID = "virtual:drydock-guest";
const RESOLVED_ID = `\0${VIRTUAL_ID}`;
/** Where the files are served from, under the app's base. */
const GUEST_DIR = "guest";
/** zstd level: 19 makes a ~16 MB state ~4.5 MB (level 3: ~5.5 MB); made once per state, then cached. */
const ZSTD_LEVEL = 19;
const IMMUTABLE = "public, max-age=31536000, immutable";

/** One file the page downloads: its URL path under the base, its size and digest. */
export interface GuestAsset {
  fileName: string;
  size: number;
  sha256: string;
  bytes: Uint8Array;
}

export interface GuestAssets {
  /** The saved state, zstd-compressed. */
  state: GuestAsset;
  bios: GuestAsset;
  vgaBios: GuestAsset;
  memoryMiB: number;
  /** Size of the uncompressed state. */
  rawStateSize: number;
}

function asset(name: string, ext: string, bytes: Uint8Array): GuestAsset {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { fileName: `${GUEST_DIR}/${name}-${sha256.slice(0, 12)}${ext}`, size: bytes.length, sha256, bytes };
}

/** The saved state, compressed (cached next to it), and the BIOS images. */
export async function prepareGuestAssets(memoryMiB = DEFAULT_MEMORY_MIB): Promise<GuestAssets> {
  const saved = await ensureSavedState(memoryMiB);
  const compressed = `${saved.path}.${ZSTD_LEVEL}.zst`;
  const fresh = await stat(compressed).then(
    (s) => s.size > 0,
    () => false,
  );
  if (!fresh) {
    await mkdir(join(compressed, ".."), { recursive: true });
    const partial = `${compressed}.${process.pid}.partial`;
    try {
      await run("zstd", ["-q", "-f", `-${ZSTD_LEVEL}`, saved.path, "-o", partial]);
    } catch (cause) {
      throw new Error(
        `could not compress the saved state with the zstd CLI (install Debian's zstd: bash scripts/system-deps.sh): ${String(cause)}`,
      );
    }
    await rename(partial, compressed);
  }
  const [state, bios, vgaBios] = await Promise.all(
    [compressed, join(GUEST_DIST_DIR, "seabios.bin"), join(GUEST_DIST_DIR, "vgabios.bin")].map(
      async (path) => new Uint8Array(await readFile(path)),
    ),
  );
  return {
    state: asset(`state-${memoryMiB}m`, ".v86state.zst", state!),
    bios: asset("seabios", ".bin", bios!),
    vgaBios: asset("vgabios", ".bin", vgaBios!),
    memoryMiB,
    rawStateSize: saved.state.byteLength,
  };
}

function moduleSource(assets: GuestAssets, base: string): string {
  const describe = (a: GuestAsset) => ({ url: `${base}${a.fileName}`, size: a.size, sha256: a.sha256 });
  const guest = {
    state: describe(assets.state),
    bios: describe(assets.bios),
    vgaBios: describe(assets.vgaBios),
    memoryMiB: assets.memoryMiB,
    rawStateSize: assets.rawStateSize,
  };
  return `export default ${JSON.stringify(guest)};\n`;
}

/** Adds a year-long cache to content-hashed files (the guest's and Vite's own `assets/`). */
function longCache(base: string): Connect.NextHandleFunction {
  return (req, res, next) => {
    const path = req.url?.split("?")[0] ?? "";
    if (path.startsWith(`${base}${GUEST_DIR}/`) || path.startsWith(`${base}assets/`)) {
      res.setHeader("Cache-Control", IMMUTABLE);
    }
    next();
  };
}

/**
 * Serves (dev, preview) or emits (build) the saved guest state and BIOS images, and provides
 * `virtual:drydock-guest` with their URLs, sizes and digests.
 * @example
 * // vite.config.ts
 * export default defineConfig({ plugins: [guestAssets()] });
 */
export function guestAssets(options: { memoryMiB?: number } = {}): Plugin {
  let assets: Promise<GuestAssets> | undefined;
  const prepared = () => {
    assets ??= prepareGuestAssets(options.memoryMiB);
    return assets;
  };
  let config: ResolvedConfig;
  return {
    name: "drydock-guest-assets",
    configResolved(resolved) {
      config = resolved;
    },
    resolveId(id) {
      return id === VIRTUAL_ID ? RESOLVED_ID : undefined;
    },
    async load(id) {
      if (id !== RESOLVED_ID) return undefined;
      return moduleSource(await prepared(), config.base);
    },
    async buildStart() {
      if (config.command !== "build") return;
      const { state, bios, vgaBios } = await prepared();
      for (const file of [state, bios, vgaBios]) {
        this.emitFile({ type: "asset", fileName: file.fileName, source: file.bytes });
      }
    },
    configureServer(server) {
      // Start making the state while Vite starts, so the first page load does not wait for a boot it could have had.
      prepared().catch((error: unknown) => server.config.logger.error(`drydock guest assets: ${String(error)}`));
      server.middlewares.use((req, res, next) => {
        const path = req.url?.split("?")[0] ?? "";
        if (!path.startsWith(`${config.base}${GUEST_DIR}/`)) {
          next();
          return;
        }
        prepared().then(
          ({ state, bios, vgaBios }) => {
            const file = [state, bios, vgaBios].find((a) => `${config.base}${a.fileName}` === path);
            if (!file) {
              res.statusCode = 404;
              res.end("no such guest file (the saved state was remade: reload the page)\n");
              return;
            }
            res.setHeader("Content-Type", "application/octet-stream");
            res.setHeader("Content-Length", String(file.size));
            res.setHeader("Cache-Control", IMMUTABLE);
            res.end(file.bytes);
          },
          (error: unknown) => next(error),
        );
      });
    },
    configurePreviewServer(server) {
      server.middlewares.stack.unshift({ route: "", handle: longCache(config.base) });
    },
  };
}
