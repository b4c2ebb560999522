// Precompressed files for the production build: a Vite plugin that writes a brotli (`.br`) and a gzip (`.gz`) copy
// next to every compressible file of the build (scripts, v86.wasm, the BIOS images), and serves them
// in `vite preview` to browsers that accept them. `vite preview` compresses only text types on the fly (gzip), so
// without this the 2.1 MB v86.wasm went out as is (~320 kB as brotli), and the already zstd-compressed saved state,
// which has no text type, was gzipped again on every request. Servers with a "static precompressed" mode (nginx's
// gzip_static/brotli_static, Caddy's precompressed) use the same `.br`/`.gz` files.
import { createReadStream } from "node:fs";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { brotliCompress, constants, gzip } from "node:zlib";
import type { Connect, Plugin } from "vite";

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

/**
 * Content types by extension, for the files this plugin serves. Stylesheets and fonts are left to preview's own
 * serving (gzip on the fly): with brotli copies of them the e2e test of the file editor saw Monaco lay out 1–10 lines
 * instead of 12 (test/e2e/page-access.test.ts; cause not found yet), and they are 2 % of a first visit.
 */
const TYPES: Record<string, string> = {
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".bin": "application/octet-stream",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".map": "application/json",
  ".zst": "application/octet-stream",
};
/** Already compressed: served as they are, never compressed again. */
const COMPRESSED = new Set([".zst"]);
/** Smaller files gain little and cost a request's worth of work either way. */
const MIN_SIZE = 1024;
/** Brotli quality: 9 is within ~10 % of 11 on these files at a tenth of the time (the build runs in every e2e suite). */
const BROTLI_QUALITY = 9;
/** Only these folders hold content-hashed files, which may be cached forever. */
const IMMUTABLE_DIRS = ["assets/", "guest/"];

/** The encodings written next to a file, in order of preference. */
export const ENCODINGS = [
  { name: "br", ext: ".br" },
  { name: "gzip", ext: ".gz" },
] as const;

/**
 * The encoding to send for an `Accept-Encoding` header among those `available`, in ENCODINGS' order of preference;
 * undefined for identity. A coding the client lists with `q=0` is refused.
 * @example
 * pickEncoding("gzip, deflate, br, zstd", ["br", "gzip"]) // "br"
 */
export function pickEncoding(acceptEncoding: string | undefined, available: readonly string[]): string | undefined {
  const accepted = new Set<string>();
  for (const part of (acceptEncoding ?? "").split(",")) {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    if (!coding) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    if (q && Number(q.slice(2)) === 0) continue;
    accepted.add(coding);
  }
  return ENCODINGS.find((e) => available.includes(e.name) && (accepted.has(e.name) || accepted.has("*")))?.name;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

/**
 * Writes `<file>.br` and `<file>.gz` next to every compressible file under `dir` of at least MIN_SIZE bytes, where the
 * compressed copy is smaller. Returns the files it compressed.
 */
export async function precompressDirectory(dir: string): Promise<string[]> {
  const jobs: Promise<string | undefined>[] = [];
  for await (const path of walk(dir)) {
    const ext = extname(path);
    if (!(ext in TYPES) || COMPRESSED.has(ext)) continue;
    jobs.push(
      (async () => {
        const bytes = await readFile(path);
        if (bytes.length < MIN_SIZE) return undefined;
        const [br, gz] = await Promise.all([
          brotli(bytes, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
              [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
            },
          }),
          gzipped(bytes, { level: 9 }),
        ]);
        let wrote = false;
        for (const [suffix, out] of [
          [".br", br],
          [".gz", gz],
        ] as const) {
          if (out.length >= bytes.length) continue;
          await writeFile(`${path}${suffix}`, out);
          wrote = true;
        }
        return wrote ? path : undefined;
      })(),
    );
  }
  return (await Promise.all(jobs)).filter((p): p is string => p !== undefined);
}

/**
 * Serves files of the build in `dir` under `base`: a precompressed copy when the request accepts its encoding, an
 * already compressed file (the zstd state) as it is with its type, and anything else falls through (to sirv).
 */
export function servePrecompressed(dir: string, base: string): Connect.NextHandleFunction {
  const root = resolve(dir);
  return (req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    let path: string;
    try {
      path = decodeURIComponent((req.url ?? "").split("?")[0] ?? "");
    } catch {
      return next();
    }
    if (!path.startsWith(base)) return next();
    const relative = path.slice(base.length);
    const ext = extname(relative);
    const type = TYPES[ext];
    const file = resolve(root, relative);
    if (!type || !file.startsWith(root + sep)) return next();
    void (async () => {
      const candidates = COMPRESSED.has(ext) ? [] : ENCODINGS.map((e) => e.name);
      const present: string[] = [];
      const sizes = new Map<string, number>();
      for (const name of candidates) {
        const suffix = ENCODINGS.find((e) => e.name === name)!.ext;
        const size = await stat(`${file}${suffix}`).then(
          (s) => (s.isFile() ? s.size : undefined),
          () => undefined,
        );
        if (size !== undefined) {
          present.push(name);
          sizes.set(name, size);
        }
      }
      const encoding = pickEncoding(req.headers["accept-encoding"], present);
      if (!encoding && !COMPRESSED.has(ext)) return next();
      const served = encoding ? `${file}${ENCODINGS.find((e) => e.name === encoding)!.ext}` : file;
      const size = encoding ? sizes.get(encoding) : await stat(file).then((s) => (s.isFile() ? s.size : undefined));
      if (size === undefined) return next();
      res.statusCode = 200;
      res.setHeader("Content-Type", type);
      res.setHeader("Content-Length", String(size));
      if (present.length) res.setHeader("Vary", "Accept-Encoding");
      if (encoding) res.setHeader("Content-Encoding", encoding);
      if (IMMUTABLE_DIRS.some((d) => relative.startsWith(d))) {
        res.setHeader("Cache-Control", "public, max-age=31536000, immutable");
      }
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      createReadStream(served).on("error", next).pipe(res);
    })().catch(() => next());
  };
}

/**
 * The plugin: precompresses the build's output after it is written, and serves the copies in `vite preview`.
 * @example
 * // vite.config.ts
 * export default defineConfig({ plugins: [precompressed()] });
 */
export function precompressed(): Plugin {
  let outDir = "";
  let base = "/";
  return {
    name: "drydock-precompressed",
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
      base = config.base;
    },
    async writeBundle(options) {
      // Workers are bundled apart (into the same folder): compress once, after the page's own bundle.
      if (!options.dir || resolve(options.dir) !== outDir) return;
      await precompressDirectory(outDir);
    },
    configurePreviewServer(server) {
      // After preview's CORS and host checks (already in the stack when this hook runs), before its static files: put
      // first, it answered another site's request for the embed's chunks without Access-Control-Allow-Origin.
      server.middlewares.use(servePrecompressed(outDir, base));
    },
  };
}
