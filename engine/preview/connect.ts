// How the engine reaches a TCP port inside the guest (the page's preview, the Node daemon's host publishing). Until
// drydockd opens such connections itself (GuestNetwork.connectTcp, protocol 3), busybox `nc <ip> <port>` runs in the
// guest's own network namespace and its stdin/stdout are the connection: closing the writable half-closes the socket
// (nc shuts down its sending side at the end of its input), and nc exits when the server closes.
import type { AgentClient } from "../agent/index.ts";
import { EngineError } from "../errors.ts";
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
  return (ip, port) => connectWithNc(agent, ip, port);
}

const CONNECT_ERROR = /can't connect to remote host \([^)]*\): (.+)/;

async function connectWithNc(agent: AgentClient, ip: string, port: number): Promise<GuestTcpConnection> {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new EngineError("invalidArgument", `not an IPv4 address: ${ip}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new EngineError("invalidArgument", `invalid port ${port}: give a number from 1 to 65535`);
  }
  const process = await agent.spawn({ argv: ["nc", ip, String(port)] });
  // nc says nothing on success; a refused connection is a line on stderr and exit 1.
  let stderr = "";
  const decoder = new TextDecoder();
  const errors = (async () => {
    for (const reader = process.stderr.getReader(); ; ) {
      const { done, value } = await reader.read();
      if (done) return;
      stderr += decoder.decode(value, { stream: true });
    }
  })();
  const stdout = process.stdout.getReader();
  let ended = false;
  let received = false;
  // Nothing tells an open connection from one being refused until a byte comes or nc exits, and a server such as
  // HTTP's says nothing before it is asked: so a refusal shows as the readable's error, on the first read.
  const readable = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await stdout.read();
        if (!next.done) {
          received = true;
          controller.enqueue(next.value);
          return;
        }
        if (!received && !ended) {
          await errors;
          const { code } = await process.exit;
          if (code !== 0) {
            const reason = CONNECT_ERROR.exec(stderr)?.[1]?.trim() ?? (stderr.trim() || `nc exited with code ${code}`);
            controller.error(new EngineError("unavailable", `cannot connect to ${ip}:${port} in the guest: ${reason}`));
            return;
          }
        }
        controller.close();
      },
      cancel() {
        ended = true;
        process.kill(9);
      },
    },
    { highWaterMark: 0 },
  );
  return {
    readable,
    writable: process.stdin,
    close: () => {
      if (!ended) process.kill(9);
      ended = true;
    },
  };
}
