// Docker inside the guest: its /var/run/docker.sock answers the Engine API, so a learner's `curl --unix-socket` (and
// any client in the guest) reaches the engine. drydockd forwards each connection to that socket over the agent link;
// the engine answers it with the same HTTP server and API app that the Node daemon serves.
import { createApiApp } from "./api/index.ts";
import type { ContainerService } from "./container-service.ts";
import type { Drydock } from "./drydock.ts";
import { type HttpExchange, serveHttpConnection } from "./http/index.ts";
import type { ImageService } from "./image-service.ts";

/** Where the guest's Docker socket is. */
export const GUEST_DOCKER_SOCKET = "/var/run/docker.sock";

export interface GuestDockerOptions {
  images: ImageService;
  /** Without one, container operations answer 503 (no guest to run them). */
  containers?: ContainerService;
  /** Called for every request answered on the socket: what the trace shows (`GET /v1.43/containers/json → 200`). */
  onExchange?: (exchange: HttpExchange) => void;
}

/** What serveDockerInGuest set up; the sockets live as long as the guest. */
export interface GuestDocker {
  /** The Engine API app answering the sockets, to call in process (`app.fetch(request)`). */
  fetch(request: Request): Promise<Response>;
}

/**
 * Makes the guest's `/var/run/docker.sock` answer the Docker Engine API.
 * @example
 * const drydock = await Drydock.boot(options);
 * const containers = ContainerService.open(drydock, images);
 * await serveDockerInGuest(drydock, { images, containers });
 * // in the guest: curl --unix-socket /var/run/docker.sock http://localhost/containers/json
 */
export async function serveDockerInGuest(drydock: Drydock, options: GuestDockerOptions): Promise<GuestDocker> {
  const app = createApiApp({ images: options.images, containers: options.containers });
  const fetch = async (request: Request) => app.fetch(request);
  await drydock.agent.mkdir("/var/run", { parents: true });
  await drydock.agent.listen(GUEST_DOCKER_SOCKET, (connection) => {
    void serveHttpConnection(connection, fetch, { onExchange: options.onExchange });
  });
  return { fetch };
}
