// TCP throughput of containers' networks in the real guest, with the real docker CLI against the Node daemon:
// container → container on a user network (busybox wget from busybox httpd, by name), host → a published port (an
// HTTP GET from this process to 127.0.0.1, which the daemon forwards into the guest, as Docker Desktop does), and a
// container → the relay → a web server on this machine's loopback.
// Inside the guest a transfer is timed as the difference between a `docker exec` fetching BLOB_MIB and one fetching a
// single byte over the same path, so that the exec, DNS and connection set-up cancel out. The relay allows one name
// for the bench only, answered by a fake resolver with a documentation address that its `connect` option leads to
// the loopback server (as test/integration/relay.test.ts does): nothing leaves this machine.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerService } from "../../engine/index.ts";
import { startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { createRelay } from "../../web/relay/server.ts";
import { runDocker } from "../fixtures/docker-cli.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import type { BenchSuite } from "./harness.ts";

const MIB = 1024 * 1024;
const BLOB_MIB = 16;
const RUNS = 3;
const HOST_PORT = 18091;
const RELAY_NAME = "bench.relay.test";
/** RFC 5737's documentation range: never routed; the relay's `connect` below turns it into the loopback server. */
const RELAY_ADDRESS = "192.0.2.80";

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
}

const suite: BenchSuite = {
  name: "network",
  async run(ctx) {
    const blob = new Uint8Array(BLOB_MIB * MIB).fill(0x5a);
    const web = createServer((request, response) => {
      const body = request.url === "/blob" ? blob : new Uint8Array(1);
      response.writeHead(200, { "content-length": String(body.length) }).end(body);
    });
    const webPort = await listen(web);
    const relay = createRelay({
      allow: [RELAY_NAME],
      privateNames: [RELAY_NAME],
      ports: [webPort],
      resolve: async (name) => {
        if (name !== RELAY_NAME) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
        return [RELAY_ADDRESS];
      },
      connect: (address, port) => {
        if (address !== RELAY_ADDRESS || port !== webPort) throw new Error(`unexpected connect ${address}:${port}`);
        return netConnect({ host: "127.0.0.1", port: webPort });
      },
      limits: { bytesPerMinute: 1024 ** 4, connectionsPerMinute: 10_000 },
      log: () => {},
    });
    const relayServer = createServer((req, res) => {
      if (!relay.handleRequest(req, res)) res.writeHead(404).end();
    });
    relayServer.on("upgrade", (req, socket, head) => {
      if (!relay.handleUpgrade(req, socket, head)) socket.destroy();
    });
    const relayUrl = `http://127.0.0.1:${await listen(relayServer)}`;

    const registry = await startRegistry();
    const dir = await mkdtemp(join(tmpdir(), "drydock-bench-network-"));
    const drydock = await bootDrydock({ relay: { url: relayUrl } });
    const images = await openNodeImageService(join(dir, "root"));
    const containers = ContainerService.open(drydock, images);
    const host = `unix://${join(dir, "docker.sock")}`;
    const daemon = await startDaemon({ host, images, containers });
    const docker = async (args: string[]) => {
      const result = await runDocker({ host, home: dir, timeoutMs: 600_000 }, args);
      if (result.code !== 0) throw new Error(`docker ${args.join(" ")}: ${result.stderr}`);
      return result.stdout;
    };
    const timeExec = async (args: string[]) => {
      const started = performance.now();
      await docker(args);
      return performance.now() - started;
    };
    /** MiB/s of BLOB_MIB fetched by `fetch(path)`, less the same fetch of a one-byte file. */
    const throughput = async (fetch: (path: string) => Promise<number>) => {
      const rates: number[] = [];
      await fetch("/one"); // warm-up: first DNS answer, ARP, page cache
      for (let i = 0; i < RUNS; i++) {
        const small = await fetch("/one");
        const big = await fetch("/blob");
        rates.push(BLOB_MIB / (Math.max(big - small, 1) / 1000));
      }
      return rates;
    };
    try {
      const { busybox: seeded } = await seedRegistry(registry, ["busybox"]);
      const busybox = (await images.pull(seeded.reference)).name;
      const serve =
        `mkdir -p /www && busybox dd if=/dev/zero of=/www/blob bs=1M count=${BLOB_MIB} 2>/dev/null && ` +
        "echo > /www/one && exec busybox httpd -f -p 80 -h /www";
      await docker(["network", "create", "benchnet"]);
      await docker([
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "benchnet",
        "-p",
        `${HOST_PORT}:80`,
        busybox,
        "sh",
        "-c",
        serve,
      ]);
      await docker(["run", "-d", "--name", "cli", "--network", "benchnet", busybox, "sleep", "3600"]);
      await docker(["run", "-d", "--name", "out", busybox, "sleep", "3600"]);
      // Wait for httpd (the blob is written first).
      for (let i = 0; i < 60; i++) {
        const probe = await runDocker({ host, home: dir }, [
          "exec",
          "cli",
          "wget",
          "-qO",
          "/dev/null",
          "http://srv/one",
        ]);
        if (probe.code === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }

      const c2c = await throughput((path) =>
        timeExec(["exec", "cli", "wget", "-qO", "/dev/null", `http://srv${path}`]),
      );
      ctx.samples(`container → container on a user network, ${BLOB_MIB} MiB (busybox wget ← httpd)`, c2c, "MiB/s");

      const published: number[] = [];
      for (let i = 0; i < RUNS + 1; i++) {
        const started = performance.now();
        const response = await fetch(`http://127.0.0.1:${HOST_PORT}/blob`);
        const got = (await response.arrayBuffer()).byteLength;
        if (got !== BLOB_MIB * MIB) throw new Error(`host → published port: ${got} bytes`);
        if (i > 0) published.push(BLOB_MIB / ((performance.now() - started) / 1000));
      }
      ctx.samples(`host 127.0.0.1 → published port (Node daemon), ${BLOB_MIB} MiB`, published, "MiB/s");

      const relayed = await throughput((path) =>
        timeExec(["exec", "out", "wget", "-qO", "/dev/null", `http://${RELAY_NAME}:${webPort}${path}`]),
      );
      ctx.samples(`container → relay → loopback web server, ${BLOB_MIB} MiB (busybox wget)`, relayed, "MiB/s");
    } finally {
      await daemon.close();
      await drydock.dispose();
      await registry.stop();
      await relay.close();
      relayServer.closeAllConnections();
      relayServer.close();
      web.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

export default suite;
