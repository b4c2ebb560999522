// The relay seen from the guest: the real guest (restored once) with v86's network card connected to the relay on
// 127.0.0.1, and the guest's resolver (the bridge gateway 172.17.0.1, where the engine's DNS listens) asking the
// relay's /dns-query. Names come from a fake resolver; the one allowlisted name's address is connected, by the relay's
// `connect` option, to a web server on loopback, so nothing leaves this machine. A private address and an unlisted
// name are refused, with the reason in the relay's log, in DNS and in the Trace.
import { createServer, type Server } from "node:http";
import { connect as netConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Drydock } from "../../engine/index.ts";
import { AgentGuestNetwork } from "../../engine/network/index.ts";
import { type EgressEmulator, resolveViaRelay, traceEgress } from "../../engine/network/relay.ts";
import { ensureSavedState, loadGuestArtifacts, v86WasmPath } from "../../engine/node/index.ts";
import { type TraceEvent, Tracer } from "../../engine/trace/index.ts";
import { createRelay, type Relay } from "../../web/relay/server.ts";

const PATH = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];
// What the fake resolver says; 203.0.114.20 is only ever "connected" to the loopback web server below.
const ZONE: Record<string, string[]> = { "mirror.test": ["203.0.114.20"] };

let drydock: Drydock;
let relay: Relay;
let relayServer: Server;
let web: Server;
const logs: string[] = [];
const dialled: string[] = [];
const trace: TraceEvent[] = [];

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
}

async function guest(script: string) {
  const result = await drydock.agent.run(["sh", "-c", script], { env: PATH });
  return { code: result.code, output: result.stdout + result.stderr };
}

beforeAll(async () => {
  web = createServer((_, response) => response.end("a package index, through the relay\n"));
  const webPort = await listen(web);
  relay = createRelay({
    allow: ["mirror.test"],
    resolve: async (name) => {
      const answer = ZONE[name];
      if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
      return answer;
    },
    connect: (address, port) => {
      dialled.push(`${address}:${port}`);
      return netConnect({ host: "127.0.0.1", port: webPort });
    },
    log: (line) => logs.push(line),
  });
  relayServer = createServer((req, res) => {
    if (!relay.handleRequest(req, res)) res.writeHead(404).end();
  });
  relayServer.on("upgrade", (req, socket, head) => {
    if (!relay.handleUpgrade(req, socket, head)) socket.destroy();
  });
  const config = { url: `http://127.0.0.1:${await listen(relayServer)}` };
  drydock = await Drydock.boot({
    artifacts: await loadGuestArtifacts(),
    wasmPath: v86WasmPath(),
    state: (await ensureSavedState()).state,
    relay: config,
  });
  const tracer = new Tracer();
  tracer.subscribe((event) => trace.push(event));
  traceEgress(drydock.machine.emulator as unknown as EgressEmulator, drydock.relay, tracer);
  // The guest's resolv.conf names 172.17.0.1: the default bridge's gateway, where the engine answers DNS.
  const net = new AgentGuestNetwork(drydock.agent, tracer);
  await net.createBridge("docker0", "172.17.0.1/16");
  await net.serveDns(undefined, "172.17.0.1", (query) => resolveViaRelay(drydock.relay, query));
}, 180_000);

afterAll(async () => {
  await drydock?.dispose();
  await relay?.close();
  relayServer?.closeAllConnections();
  await new Promise((resolve) => relayServer?.close(resolve));
  await new Promise((resolve) => web?.close(resolve));
});

describe("the relay, from the guest", () => {
  it("resolves an allowlisted name and carries the connection to the address it handed out", async () => {
    const fetched = await guest("timeout 30 wget -qO- http://mirror.test/");
    expect(fetched, logs.join("\n")).toEqual({ code: 0, output: "a package index, through the relay\n" });
    expect(dialled).toContain("203.0.114.20:80");
    expect(trace.map((e) => e.command)).toContain("connect mirror.test:80 (via relay, 203.0.114.20)");
  });

  it("refuses an unlisted name, saying so in DNS and in the relay's log", async () => {
    const looked = await guest("timeout 20 nslookup unlisted.example 172.17.0.1");
    expect(looked.code).not.toBe(0);
    expect(looked.output).toMatch(/NXDOMAIN|can't find|can't resolve/i);
    const fetched = await guest("timeout 20 wget -qO- http://unlisted.example/");
    expect(fetched.code).not.toBe(0);
    expect(fetched.output).toMatch(/bad address 'unlisted\.example'/);
    expect(logs).toContain(
      "relay: client loopback: refused DNS query for unlisted.example: unlisted.example is not on the relay's allowlist (mirror.test)",
    );
  });

  it("refuses a private address with the reason in the relay's log and the Trace, without connecting", async () => {
    const before = dialled.length;
    const fetched = await guest("timeout 20 wget -qO- http://10.1.2.3/");
    expect(fetched.code).not.toBe(0);
    expect(dialled.length).toBe(before);
    expect(logs).toContain(
      "relay: client loopback: refused 10.1.2.3:80: 10.1.2.3 is a private address, which the relay never connects to (Wisp close 0x48)",
    );
    await expect
      .poll(() => trace.map((e) => e.command))
      .toContain(
        "connect 10.1.2.3:80 # refused: blocked by the relay's rules (only addresses its resolver handed out for allowlisted names, on allowed ports) (Wisp close 0x48)",
      );
  });
});
