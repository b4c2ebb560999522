// Mounts the relay in `vite` (dev) and `vite preview` at /relay, beside the registry proxy at /registry: the page's
// guest reaches Wisp at `<origin>/relay/wisp/` and the engine's resolver asks `<origin>/relay/dns-query`.

import type { Connect, Plugin } from "vite";
import { relayOptions, settingsFromEnv } from "./options.ts";
import { createRelay } from "./server.ts";

/** Where the relay is mounted in the dev and preview servers. */
export const RELAY_PATH = "/relay";

export function relay(): Plugin {
  const attach = (server: {
    middlewares: Connect.Server;
    httpServer: import("node:http").Server | import("node:http2").Http2SecureServer | null;
  }) => {
    // The same DRYDOCK_RELAY_* settings the standalone relay reads.
    const instance = createRelay({ ...relayOptions(settingsFromEnv(process.env)), basePath: RELAY_PATH });
    server.middlewares.use((req, res, next) => {
      if (!instance.handleRequest(req, res)) next();
    });
    // Vite's own WebSocket (hot reload) takes only its own upgrades; the relay takes only /relay/wisp/.
    server.httpServer?.on("upgrade", (req, socket, head) => {
      instance.handleUpgrade(req, socket, head);
    });
    server.httpServer?.on("close", () => void instance.close());
  };
  return {
    name: "drydock-relay",
    configureServer(server) {
      attach(server);
    },
    configurePreviewServer(server) {
      attach(server);
    },
  };
}
