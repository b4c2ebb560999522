// What a stalled or vanishing client costs the registry proxy: the in-process proxy (createNodeProxy on
// @hono/node-server, real HTTP on loopback) in front of a loopback upstream that serves blobs of zeros as fast as they
// are read, counting what it sent. One client asks for a 512 MiB blob and reads nothing; ten clients each ask for a
// different 64 MiB blob, read a little and hang up. Figures: bytes the upstream sent (what the proxy pulled and could
// hold, kernel socket buffers included) and the growth of this process's resident memory.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { serve } from "@hono/node-server";
import { createNodeProxy } from "../../web/proxy/node.ts";
import type { BenchSuite } from "./harness.ts";

const MiB = 1024 * 1024;
const SETTLE_MS = 2000;

/** An upstream registry whose every blob is `size` zeros; `sent` counts the bytes it wrote. */
async function startUpstream(size: number) {
  const stats = { sent: 0 };
  const chunk = new Uint8Array(256 * 1024);
  const server: Server = createServer(async (request, response) => {
    if (!request.url?.includes("/blobs/")) return response.writeHead(404).end();
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(size) });
    response.on("error", () => {});
    for (let sent = 0; sent < size && !response.destroyed; sent += chunk.length) {
      stats.sent += chunk.length;
      if (!response.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            response.off("drain", done).off("close", done);
            resolve();
          };
          response.on("drain", done).on("close", done);
        });
      }
    }
    response.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stats, server };
}

/** A raw GET through the proxy; resolves once the answer's head has arrived, leaving the socket paused. */
async function get(proxyPort: number, path: string) {
  const socket = connect(proxyPort, "127.0.0.1");
  socket.write(`GET ${path} HTTP/1.1\r\nHost: proxy\r\n\r\n`);
  const [first] = (await once(socket, "data")) as [Buffer];
  socket.pause();
  return { socket, head: first.toString("latin1").split("\r\n")[0] ?? "" };
}

const digest = (i: number) => `sha256:${i.toString(16).padStart(64, "0")}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

async function measure(size: number, scenario: (port: number) => Promise<void>) {
  const upstream = await startUpstream(size);
  const app = createNodeProxy({
    upstreams: { local: { url: upstream.url, allowPrivate: true } },
    cacheMaxBytes: 4096 * MiB,
  });
  let server: ReturnType<typeof serve> | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => resolve(info.port));
  });
  const before = process.memoryUsage().rss;
  await scenario(port);
  await sleep(SETTLE_MS);
  const grown = process.memoryUsage().rss - before;
  const sent = upstream.stats.sent;
  server!.close();
  upstream.server.closeAllConnections();
  upstream.server.close();
  return { sent, grown };
}

const suite: BenchSuite = {
  name: "proxy-memory",
  async run(ctx) {
    const sockets: Array<{ destroy(): void }> = [];
    const unread = await measure(512 * MiB, async (port) => {
      const { socket, head } = await get(port, `/v2/local/big/blobs/${digest(1)}`);
      if (!head.includes("200")) throw new Error(`the proxy answered ${head}`);
      sockets.push(socket);
    });
    for (const socket of sockets.splice(0)) socket.destroy();
    ctx.record(
      "upstream bytes read for one client that reads nothing (512 MiB blob)",
      mb(unread.sent),
      "MB",
      "≤ 16 MB",
    );
    ctx.record("resident memory growth, one unread 512 MiB blob", mb(unread.grown), "MB", "≤ 32 MB");

    const cancelled = await measure(64 * MiB, async (port) => {
      for (let i = 0; i < 10; i++) {
        const { socket } = await get(port, `/v2/local/big/blobs/${digest(100 + i)}`);
        socket.destroy();
      }
    });
    ctx.record("upstream bytes read for ten cancelled 64 MiB blob requests", mb(cancelled.sent), "MB", "≤ 100 MB");
    ctx.record("resident memory growth, ten cancelled 64 MiB blobs", mb(cancelled.grown), "MB", "≤ 64 MB");
  },
};

export default suite;
