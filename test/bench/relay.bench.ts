// Relay throughput: bytes through the relay's Wisp stream from and to a TCP server on loopback, against the same
// transfer straight over TCP. The relay runs in this process on 127.0.0.1 with the loopback source named by the
// operator's option for a private mirror (`privateNames`) and a fake resolver; its byte limit is raised so that what
// is measured is the relay's own cost (the default, 512 MiB a minute per client, would cap a long transfer at about
// 8.5 MiB/s once its 128 MiB burst is spent).
import { createServer, type Server } from "node:http";
import { connect, createServer as createTcpServer, type Server as TcpServer } from "node:net";
import dnsPacket from "dns-packet";
import { WispClient } from "../../web/relay/client.ts";
import { createRelay } from "../../web/relay/server.ts";
import type { BenchSuite } from "./harness.ts";

const MIB = 1024 * 1024;
const SIZE = 64 * MIB;
const RUNS = 5;
const CHUNK = new Uint8Array(64 * 1024).fill(0x5a);

async function listen(server: Server | TcpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

/** A source that sends SIZE bytes to whoever writes a byte to it, and a sink that answers one byte after SIZE. */
function startServers(): { source: TcpServer; sink: TcpServer } {
  const source = createTcpServer((socket) => {
    socket.once("data", () => {
      let left = SIZE;
      const pump = () => {
        while (left > 0) {
          left -= CHUNK.length;
          if (!socket.write(CHUNK)) return void socket.once("drain", pump);
        }
        socket.end();
      };
      pump();
    });
    socket.on("error", () => {});
  });
  const sink = createTcpServer((socket) => {
    let got = 0;
    socket.on("data", (chunk) => {
      got += chunk.length;
      if (got >= SIZE) socket.end("k");
    });
    socket.on("error", () => {});
  });
  return { source, sink };
}

const suite: BenchSuite = {
  name: "relay",
  async run(ctx) {
    const { source, sink } = startServers();
    const sourcePort = await listen(source);
    const sinkPort = await listen(sink);
    const relay = createRelay({
      allow: ["mirror.bench"],
      privateNames: ["mirror.bench"],
      ports: [sourcePort, sinkPort],
      resolve: async () => ["127.0.0.1"],
      limits: { bytesPerMinute: 1024 ** 4, connectionsPerMinute: 10_000 },
      log: () => {},
    });
    const http = createServer((req, res) => {
      if (!relay.handleRequest(req, res)) res.writeHead(404).end();
    });
    http.on("upgrade", (req, socket, head) => relay.handleUpgrade(req, socket, head));
    const base = `127.0.0.1:${await listen(http)}`;
    // The address must have been handed out by the relay's resolver before a stream to it is let through.
    await fetch(`http://${base}/dns-query`, {
      method: "POST",
      headers: { "content-type": "application/dns-message" },
      body: dnsPacket.encode({ type: "query", id: 1, questions: [{ type: "A", name: "mirror.bench" }] }),
    });
    const rate = (ms: number) => SIZE / MIB / (ms / 1000);
    try {
      const direct: number[] = [];
      const down: number[] = [];
      const up: number[] = [];
      const client = await WispClient.connect(`ws://${base}/wisp/`);
      for (let i = 0; i < RUNS + 1; i++) {
        let started = performance.now();
        await new Promise<void>((resolve, reject) => {
          let got = 0;
          const socket = connect({ host: "127.0.0.1", port: sourcePort }, () => socket.write("go"));
          socket.on("data", (chunk) => {
            got += chunk.length;
          });
          socket.on("end", () => (got >= SIZE ? resolve() : reject(new Error(`direct: ${got} bytes`))));
          socket.on("error", reject);
        });
        if (i > 0) direct.push(rate(performance.now() - started));

        started = performance.now();
        const from = client.open("127.0.0.1", sourcePort);
        await from.send("go");
        const got = await from.receivedBytes(SIZE);
        if (got < SIZE) throw new Error(`through the relay: ${got} of ${SIZE} bytes`);
        if (i > 0) down.push(rate(performance.now() - started));
        from.received.length = 0;
        await from.closed;

        started = performance.now();
        const to = client.open("127.0.0.1", sinkPort);
        for (let sent = 0; sent < SIZE; sent += CHUNK.length) await to.send(CHUNK);
        if ((await to.receivedBytes(1)) < 1) throw new Error("the sink did not answer");
        if (i > 0) up.push(rate(performance.now() - started));
        await to.closed;
      }
      client.close();
      ctx.samples("64 MiB straight over loopback TCP", direct, "MiB/s");
      ctx.samples("64 MiB from a server through the relay (Wisp download)", down, "MiB/s");
      ctx.samples("64 MiB to a server through the relay (Wisp upload)", up, "MiB/s");
    } finally {
      await relay.close();
      http.close();
      source.close();
      sink.close();
    }
  },
};

export default suite;
