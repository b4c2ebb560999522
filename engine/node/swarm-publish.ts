// A swarm's published ports on the host, as Docker Desktop shows them: while the routing mesh listens on a port in
// some node's guest, the Node daemon listens on the host's 127.0.0.1:<port> and carries each connection into such a
// node (the lowest-numbered one), where the mesh forwards it to a running task.
import { createServer, type Server, type Socket } from "node:net";
import type { GuestTcpConnector } from "../preview/index.ts";
import type { SwarmManager } from "../swarm/index.ts";
import { carryToGuest } from "./publish.ts";

export interface SwarmHostPublishingOptions {
  swarm: SwarmManager;
  /** How to reach node `name`'s guest now; undefined when it has none. */
  connector: (member: string) => GuestTcpConnector | undefined;
  report: (message: string) => void;
}

/**
 * Follows the mesh's ports and listens on the host's loopback for each TCP one.
 * @example
 * const publishing = publishSwarmOnHost({ swarm, connector: (name) => connectors.get(name)?.(), report: console.error });
 */
export function publishSwarmOnHost(options: SwarmHostPublishingOptions): { close(): void } {
  const listening = new Map<number, { server: Server; sockets: Set<Socket> }>();
  const membersOf = (port: number) =>
    (options.swarm.meshPorts().find((entry) => entry.proto === "tcp" && entry.port === port)?.members ?? []).sort(
      (a, b) => a.localeCompare(b, "en", { numeric: true }),
    );
  const listen = (port: number) => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      const member = membersOf(port).find((name) => options.connector(name) !== undefined);
      void carryToGuest(socket, member ? options.connector(member) : undefined, port);
    });
    server.once("error", (error: NodeJS.ErrnoException) => {
      options.report(
        `cannot publish the swarm's port ${port} on the host's 127.0.0.1: ${error.code === "EADDRINUSE" ? "the port is already in use" : error.message}. ` +
          "It still answers on every node's address in the guests (wget -qO- 192.168.86.101:" +
          `${port})`,
      );
    });
    server.listen(port, "127.0.0.1");
    listening.set(port, { server, sockets });
  };
  const sync = () => {
    const wanted = new Set(
      options.swarm
        .meshPorts()
        .filter((entry) => entry.proto === "tcp")
        .map((entry) => entry.port),
    );
    for (const [port, { server, sockets }] of listening) {
      if (wanted.has(port)) continue;
      server.close();
      for (const socket of sockets) socket.destroy();
      listening.delete(port);
    }
    for (const port of wanted) if (!listening.has(port)) listen(port);
  };
  const off = options.swarm.onMeshChange(sync);
  return {
    close: () => {
      off();
      for (const { server, sockets } of listening.values()) {
        server.close();
        for (const socket of sockets) socket.destroy();
      }
      listening.clear();
    },
  };
}
