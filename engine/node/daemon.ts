// The Docker Engine API (engine/api) served on a unix socket by engine/http (the same HTTP server that answers the
// guest's /var/run/docker.sock), so any Docker client can talk to Drydock:
//   npx drydock daemon --host unix:///tmp/drydock.sock
//   docker -H unix:///tmp/drydock.sock version
import { existsSync } from "node:fs";
import { chmod, mkdir, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import { createApiApp, requestBodyLimit, type SwarmApi } from "../api/index.ts";
import type { ContainerService } from "../container-service.ts";
import { type HttpLimits, serveHttpConnection } from "../http/index.ts";
import type { ImageService } from "../image-service.ts";
import { guestTcpConnector } from "../preview/index.ts";
import type { GuestSupervisor } from "../supervisor/index.ts";
import { publishOnHost } from "./publish.ts";

export interface DaemonOptions {
  /** `unix:///path.sock` or a bare path. */
  host: string;
  images: ImageService;
  containers?: ContainerService;
  /** Instead of `containers`: the guest's keeper, whose container service is served (a fresh one after a fault). */
  supervisor?: GuestSupervisor;
  /** Shown as `Docker Root Dir`. */
  root?: string;
  /** `docker info`'s Name and ID (default drydock): a node's own when the daemon serves several. */
  name?: string;
  id?: string;
  /** The cluster's swarm and which node this daemon serves (`drydock daemon --nodes N`). */
  swarm?: SwarmApi;
  /** Overrides of the HTTP server's time and size limits (`DEFAULT_HTTP_LIMITS`, the API's body limits). */
  httpLimits?: Partial<HttpLimits>;
  /** Where a published port that cannot listen on the host's 127.0.0.1 is reported (default: stderr). */
  onPublishError?: (message: string) => void;
}

export interface Daemon {
  /** The socket's path. */
  socketPath: string;
  /** Stops listening and removes the socket. */
  close(): Promise<void>;
}

/**
 * The socket's incoming bytes as a web stream that ends when the client half-closes. (Duplex.toWeb's readable never
 * ends on an allowHalfOpen socket, so `echo x | docker run -i img wc -l` would wait for an end of input forever.)
 */
function socketReadable(socket: Socket): ReadableStream<Uint8Array> {
  let open = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      socket.on("data", (chunk: Buffer) => {
        if (!open) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) socket.pause();
      });
      socket.once("end", () => {
        if (open) controller.close();
        open = false;
      });
      socket.once("error", (error) => {
        if (open) controller.error(error);
        open = false;
      });
    },
    pull() {
      socket.resume();
    },
    cancel() {
      // The server is done reading; what it wrote still drains before it ends the socket.
      open = false;
      socket.resume();
    },
  });
}

/** The default place the Node daemon keeps its images. */
export const DEFAULT_DATA_ROOT = join(homedir(), ".local", "share", "drydock");

/** The socket path a `--host` value names (only unix sockets are served). */
export function socketPathOf(host: string): string {
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  if (host.includes("://")) throw new Error(`unsupported --host ${host}: only unix:///path.sock is served`);
  return host;
}

/**
 * Serves the Engine API on a unix socket until closed.
 * @example
 * const daemon = await startDaemon({ host: "unix:///tmp/d.sock", images: await openNodeImageService(dir) });
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const socketPath = socketPathOf(options.host);
  const { supervisor } = options;
  const app = createApiApp({
    images: options.images,
    root: options.root,
    ...(options.name ? { name: options.name } : {}),
    ...(options.id ? { id: options.id } : {}),
    ...(options.swarm ? { swarm: options.swarm } : {}),
    get containers() {
      return supervisor?.containers ?? options.containers;
    },
  });
  const sockets = new Set<Socket>();
  // Half-open: a hijacked client (docker attach) half-closes when its stdin ends and still reads the output.
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    void serveHttpConnection(
      { readable: socketReadable(socket), writable: Writable.toWeb(socket) as WritableStream<Uint8Array> },
      app.fetch,
      { limits: { maxBodyBytes: requestBodyLimit, ...options.httpLimits } },
    ).finally(() => socket.end());
  });
  await mkdir(dirname(socketPath), { recursive: true });
  if (existsSync(socketPath)) await rm(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  await chmod(socketPath, 0o660);
  // Published ports listen on the host's loopback too, as Docker Desktop's do.
  const publishing = publishOnHost({
    events: options.images.events,
    api: async (request) => app.fetch(request),
    connector: () => {
      const containers = supervisor?.containers ?? options.containers;
      return containers ? guestTcpConnector(containers.drydock.agent) : undefined;
    },
    report: options.onPublishError ?? ((message) => console.error(`drydock: ${message}`)),
  });
  const offRestore = supervisor?.onRestore(() => publishing.reset());
  let closed: Promise<void> | undefined;
  return {
    socketPath,
    close: () => {
      offRestore?.();
      closed ??= publishing
        .close()
        .then(
          () =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              for (const socket of sockets) socket.destroy();
            }),
        )
        .then(() => rm(socketPath, { force: true }));
      return closed;
    },
  };
}
