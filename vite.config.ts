import { resolve } from "node:path";
import { defineConfig } from "vite";
import { guestAssets } from "./web/guest-assets.ts";
import { precompressed } from "./web/precompress.ts";
import { previewServiceWorker } from "./web/preview/vite-plugin.ts";
import { registryProxy } from "./web/proxy/vite-plugin.ts";
import { relay } from "./web/relay/vite-plugin.ts";

export default defineConfig({
  root: "web",
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    target: "es2022",
    // Every browser the page supports has modulepreload; with several entries the polyfill became a request of its own.
    modulePreload: { polyfill: false },
    rollupOptions: {
      // The playground, the embedding example, and the module other sites load (at a stable URL, with its exports).
      input: {
        main: resolve(import.meta.dirname, "web/index.html"),
        example: resolve(import.meta.dirname, "web/examples/embed.html"),
        embed: resolve(import.meta.dirname, "web/embed/drydock.ts"),
      },
      preserveEntrySignatures: "exports-only",
      output: {
        entryFileNames: (chunk) => (chunk.name === "embed" ? "embed/drydock.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  worker: { format: "es" },
  server: { port: 5173 },
  plugins: [
    // The CORS registry proxy at /registry in `npm run dev` and `npm run preview`, so pulls need no second server.
    registryProxy(),
    // The relay (the containers' guarded way out) at /relay: Wisp at /relay/wisp/, DNS at /relay/dns-query.
    relay(),
    // The saved guest state (made on first use), zstd-compressed, and the BIOS images, under content-hashed URLs.
    guestAssets(),
    // The preview service worker at <base>preview-sw.js, answering /preview/<port>/ with the guest's servers.
    previewServiceWorker(),
    // A brotli and a gzip copy of each compressible file of the build (v86.wasm, scripts, BIOS), served by preview.
    precompressed(),
  ],
});
