// Host publishing, as Docker Desktop does it: while a container with published ports runs, the Node daemon listens on
// the host's 127.0.0.1:<hostPort> and carries each connection to the same port in the guest (where drydockd's
// userland proxy forwards it to the container), through a TCP connection opened in the guest.
import { createServer, type Server, type Socket } from "node:net";
import { Readable } from "node:stream";
import type { EventLog } from "../events.ts";
import type { GuestTcpConnector } from "../preview/index.ts";

export interface HostPublishingOptions {
  events: EventLog;
  /** The Engine API in process (`app.fetch`): a started container's port bindings are read from its inspect. */
  api: (request: Request) => Promise<Response>;
  /** How to reach the guest now (a fresh guest after a fault has a fresh agent); undefined: no guest. */
  connector: () => GuestTcpConnector | undefined;
  /** Where a port that cannot be published is reported. */
  report: (message: string) => void;
}

interface Listening {
  server: Server;
  sockets: Set<Socket>;
}

/**
 * Follows container events and publishes each started container's ports on the host's loopback until it stops.
 * @example
 * const publishing = publishOnHost({ events: images.events, api: app.fetch, connector, report: console.error });
 */
export function publishOnHost(options: HostPublishingOptions): { close(): Promise<void>; reset(): void } {
  const byContainer = new Map<string, Listening[]>();
  const stop = (id: string) => {
    for (const { server, sockets } of byContainer.get(id) ?? []) {
      server.close();
      for (const socket of sockets) socket.destroy();
    }
    byContainer.delete(id);
  };
  const start = async (id: string, name: string) => {
    const answer = await options.api(new Request(`http://docker/containers/${encodeURIComponent(id)}/json`));
    if (!answer.ok) return;
    const details = (await answer.json()) as {
      NetworkSettings?: { Ports?: Record<string, { HostIp?: string; HostPort?: string }[] | null> };
    };
    const listening: Listening[] = [];
    byContainer.set(id, listening);
    const seen = new Set<number>();
    for (const [key, bindings] of Object.entries(details.NetworkSettings?.Ports ?? {})) {
      if (!key.endsWith("/tcp")) continue;
      for (const binding of bindings ?? []) {
        const hostPort = Number(binding.HostPort);
        if (!hostPort || seen.has(hostPort)) continue;
        seen.add(hostPort);
        listening.push(listen(hostPort, name));
      }
    }
  };
  const listen = (hostPort: number, name: string): Listening => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      void carryToGuest(socket, options.connector(), hostPort);
    });
    server.once("error", (error: NodeJS.ErrnoException) => {
      const why =
        error.code === "EADDRINUSE"
          ? `Bind for 127.0.0.1:${hostPort} failed: port is already allocated`
          : `${error.code ?? "error"}: ${error.message}`;
      options.report(
        `cannot publish port ${hostPort} of container ${name} on the host: ${why}. ` +
          "The port still answers inside the guest; free it on the host, or publish another (-p OTHER:…)",
      );
    });
    server.listen(hostPort, "127.0.0.1");
    return { server, sockets };
  };
  const off = options.events.on((event) => {
    if (event.type !== "container") return;
    if (event.action === "start") {
      void start(event.id, event.attributes.name ?? event.id.slice(0, 12)).catch((error: unknown) =>
        options.report(`cannot publish the ports of ${event.id.slice(0, 12)}: ${String(error)}`),
      );
    } else if (event.action === "die" || event.action === "destroy") stop(event.id);
  });
  const stopAll = () => {
    for (const id of [...byContainer.keys()]) stop(id);
  };
  return {
    close: async () => {
      off();
      stopAll();
    },
    /** Stops every listener: a fresh guest after a fault has none of the old containers (and sends no die for them). */
    reset: stopAll,
  };
}

/**
 * Carries one host connection to 127.0.0.1:`port` in a guest (where a proxy listens) until either side ends; without a
 * guest, or when nothing accepts there, the host's connection is closed, as docker-proxy does.
 */
export async function carryToGuest(
  socket: Socket,
  connect: GuestTcpConnector | undefined,
  port: number,
): Promise<void> {
  if (!connect) {
    socket.destroy();
    return;
  }
  let connection: Awaited<ReturnType<GuestTcpConnector>>;
  try {
    connection = await connect("127.0.0.1", port);
  } catch {
    socket.destroy();
    return;
  }
  socket.once("close", () => connection.close());
  const toGuest = (Readable.toWeb(socket) as ReadableStream<Uint8Array>).pipeTo(connection.writable);
  const toHost = Readable.fromWeb(connection.readable as import("node:stream/web").ReadableStream<Uint8Array>);
  toHost.pipe(socket);
  toHost.once("error", () => socket.destroy());
  await toGuest.catch(() => {});
}
