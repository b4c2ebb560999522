// How the engine reaches a TCP port inside the guest (the page's preview, the Node daemon's host publishing): drydockd
// opens the connection in the guest's own network namespace (TCP_CONNECT, protocol 3) and carries its bytes over the
// agent link, as `nc <ip> <port>` run in the guest would. A refused connection rejects with drydockd's error.
import type { AgentClient } from "../agent/index.ts";
import type { ByteConnection } from "../http/index.ts";

/** A TCP connection opened inside the guest: bytes each way; `close()` drops it at once. */
export interface GuestTcpConnection extends ByteConnection {
  close(): void;
}

/** Opens TCP connections inside the guest (what `nc <ip> <port>` run in the guest would open). */
export type GuestTcpConnector = (ip: string, port: number) => Promise<GuestTcpConnection>;

/**
 * The one place that knows how a guest TCP connection is made.
 * @example
 * const connect = guestTcpConnector(drydock.agent);
 * const connection = await connect("127.0.0.1", 8080);
 */
export function guestTcpConnector(agent: AgentClient): GuestTcpConnector {
  return (ip, port) => agent.connectTcp(ip, port);
}
