// Mounts the registry proxy in `vite` (dev) and `vite preview`, so `npm run dev` needs no second server: the page
// reaches registries at `<origin>/registry/v2/…`.

import { getRequestListener } from "@hono/node-server";
import type { Connect, Plugin } from "vite";
import { createNodeProxy, type NodeProxyOptions } from "./node.ts";

/** Where the proxy is mounted in the dev and preview servers. */
export const REGISTRY_PROXY_PATH = "/registry";

/**
 * A Vite plugin serving the registry proxy at `REGISTRY_PROXY_PATH`.
 *
 * @example
 * // vite.config.ts
 * export default defineConfig({ plugins: [registryProxy({ cacheDir: "node_modules/.cache/registry" })] });
 */
export function registryProxy(options: Omit<NodeProxyOptions, "basePath"> = {}): Plugin {
  const mount = (middlewares: Connect.Server) => {
    const app = createNodeProxy({ ...options, basePath: REGISTRY_PROXY_PATH });
    // Vite's process is shared with other plugins: keep Node's own Request and Response globals in place.
    const listener = getRequestListener(app.fetch, { overrideGlobalObjects: false });
    const handle: Connect.NextHandleFunction = (req, res, next) => {
      const url = req.url ?? "";
      const mounted =
        url === REGISTRY_PROXY_PATH ||
        url.startsWith(`${REGISTRY_PROXY_PATH}/`) ||
        url.startsWith(`${REGISTRY_PROXY_PATH}?`);
      if (!mounted) {
        next();
        return;
      }
      listener(req, res).catch(next);
    };
    // First in the stack, ahead of Vite's own CORS middleware (which answers every preflight itself, for local
    // origins only): the proxy then behaves the same here as standalone, with its own CORS policy.
    middlewares.stack.unshift({ route: "", handle });
  };
  return {
    name: "drydock-registry-proxy",
    configureServer(server) {
      mount(server.middlewares);
    },
    configurePreviewServer(server) {
      mount(server.middlewares);
    },
  };
}
