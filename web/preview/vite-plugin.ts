// Builds the preview service worker (web/preview-sw.ts) on its own, as one classic script with nothing imported, and
// emits it at `<base>preview-sw.js`: a service worker's scope may not reach above its script's folder, so it cannot
// live under assets/ with a hashed name, and as an entry of the page's own build it would share chunks with the page
// (an `import` a classic service worker cannot run). `vite dev` serves web/preview-sw.ts as a module instead.
import { resolve } from "node:path";
import { build, type Plugin, type Rolldown } from "vite";

export const PREVIEW_SW_FILE = "preview-sw.js";

export function previewServiceWorker(): Plugin {
  return {
    name: "drydock-preview-sw",
    apply: "build",
    async generateBundle() {
      const result = await build({
        configFile: false,
        logLevel: "warn",
        publicDir: false,
        build: {
          write: false,
          target: "es2022",
          minify: true,
          lib: {
            entry: resolve(import.meta.dirname, "../preview-sw.ts"),
            formats: ["iife"],
            name: "drydockPreviewServiceWorker",
            fileName: () => PREVIEW_SW_FILE,
          },
        },
      });
      const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[];
      const chunk = outputs.flatMap((output) => output.output).find((file) => file.type === "chunk");
      if (chunk?.type !== "chunk") throw new Error("the preview service worker did not build");
      this.emitFile({ type: "asset", fileName: PREVIEW_SW_FILE, source: chunk.code });
    },
  };
}
