// The Docker Engine REST API as a Hono app: a fetch handler with no Node APIs, so the same app serves a unix socket
// in Node (engine/node/daemon.ts) and requests inside the page's Web Worker. This file assembles it: version
// negotiation and Docker's headers for every answer, errors as `{"message"}`, and the routes of each area.
import { Hono } from "hono";
import { registerArchiveRoutes } from "./archive.ts";
import { registerBuildRoutes } from "./build.ts";
import { type ApiOptions, PLATFORM } from "./common.ts";
import { registerContainerRoutes } from "./containers.ts";
import { errorBody, errorResponse } from "./errors.ts";
import { registerExecRoutes } from "./exec.ts";
import { registerImageRoutes } from "./images.ts";
import { registerNetworkRoutes } from "./networks.ts";
import { registerSwarmRoutes } from "./swarm.ts";
import { registerSystemRoutes } from "./system.ts";
import { API_VERSION, checkApiVersion, splitVersionedPath } from "./version.ts";
import { registerVolumeRoutes } from "./volumes.ts";

export type { ApiOptions } from "./common.ts";
export { containerJson } from "./containers.ts";

/**
 * The Engine API over Drydock's services.
 * @example
 * const app = createApiApp({ images, containers });
 * const answer = await app.fetch(new Request("http://docker/v1.43/containers/json?all=1"));
 */
export function createApiApp(options: ApiOptions): Hono {
  const version = options.version ?? "0.1.0";
  const app = new Hono({ getPath: (request) => splitVersionedPath(new URL(request.url).pathname).path });

  app.use("*", async (c, next) => {
    const { version: requested } = splitVersionedPath(new URL(c.req.url).pathname);
    const refusal = requested === undefined ? undefined : checkApiVersion(requested);
    if (refusal) c.res = errorResponse(400, refusal);
    else {
      // Containers kept by the engine's last run are back before anything is answered about them.
      await options.containers?.ready;
      await next();
    }
    c.res.headers.set("Api-Version", API_VERSION);
    c.res.headers.set("Docker-Experimental", "false");
    c.res.headers.set("Ostype", PLATFORM.os);
    c.res.headers.set("Server", `Drydock/${version} (${PLATFORM.os})`);
  });

  app.onError((error) => {
    const { status, body } = errorBody(error);
    return errorResponse(status, body.message);
  });
  app.notFound(() => errorResponse(404, "page not found"));

  registerSystemRoutes(app, options);
  // Before the image routes: /images/prune would otherwise be taken for an image called "prune".
  registerBuildRoutes(app, options);
  registerImageRoutes(app, options);
  registerArchiveRoutes(app, options);
  const execIdsOf = registerExecRoutes(app, options);
  registerContainerRoutes(app, options, execIdsOf);
  registerVolumeRoutes(app, options);
  registerNetworkRoutes(app, options);
  registerSwarmRoutes(app, options);
  return app;
}
