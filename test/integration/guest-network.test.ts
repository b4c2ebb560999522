// GuestNetwork against the real guest, restored once from its saved state: bridges, sandboxes joined by veth pairs,
// isolation by policy routing, the userland proxy, TCP connections opened by the engine and the DNS sockets whose
// queries the engine answers. Processes in a sandbox are the guest's busybox, spawned with the sandbox's NETNS.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect as netConnect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { Drydock, isEngineError } from "../../engine/index.ts";
import { AgentGuestNetwork } from "../../engine/network/index.ts";
import { ensureSavedState, loadGuestArtifacts, v86WasmPath } from "../../engine/node/index.ts";
import { type TraceEvent, Tracer } from "../../engine/trace/index.ts";

let drydock: Drydock;
let web: Server;
let wisp: Server;
/** The destinations the guest asked the Wisp server for. */
const wispConnects: string[] = [];
let wispSessions = 0;
let net: AgentGuestNetwork;
const trace: TraceEvent[] = [];
const PATH = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];
const paths: Record<string, string> = {};

/** Runs a command in a sandbox's network namespace (or the guest's) and returns its exit code and output. */
async function inSandbox(sandbox: string | undefined, argv: string[]) {
  const result = await drydock.agent.run(argv, {
    env: PATH,
    ...(sandbox ? { netns: paths[sandbox] } : {}),
  });
  return { code: result.code, output: result.stdout + result.stderr };
}

async function sandbox(id: string, bridge: string, ip: string, gateway: string): Promise<void> {
  paths[id] = (await net.createSandbox(id)).path;
  const mac = `02:42:${ip
    .split(".")
    .map((n) => Number(n).toString(16).padStart(2, "0"))
    .join(":")}`;
  await net.attach(id, { bridge, ifname: "eth0", cidr: `${ip}/16`, mac, gateway });
}

/** An answer to a DNS query: one A record (`address`) for an A question, no records for anything else. */
function dnsAnswer(query: Uint8Array, address: number[]): Uint8Array {
  let at = 12;
  while (query[at] !== 0) at += query[at]! + 1;
  const questionEnd = at + 5;
  const qtype = (query[at + 1]! << 8) | query[at + 2]!;
  const header = query.slice(0, 12);
  header[2] = 0x81; // a response, recursion desired
  header[3] = 0x80; // recursion available, no error
  header[7] = qtype === 1 ? 1 : 0; // ANCOUNT
  header.fill(0, 8, 12); // no authority or additional records
  const record = qtype === 1 ? [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...address] : [];
  return Uint8Array.from([...header, ...query.slice(12, questionEnd), ...record]);
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/**
 * A minimal Wisp server on loopback for v86's Wisp adapter: every stream, whatever address the guest asked for, is
 * connected to the loopback web server, so nothing leaves this machine.
 */
function wispServer(webPort: number): Server {
  const server = createServer();
  const frame = (type: number, stream: number, body: Uint8Array) => {
    const head = Buffer.alloc(5);
    head[0] = type;
    head.writeUInt32LE(stream, 1);
    return Buffer.concat([head, body]);
  };
  const credit = (stream: number) => frame(3, stream, Buffer.from([128, 0, 0, 0]));
  new WebSocketServer({ server }).on("connection", (ws: WebSocket) => {
    const sockets = new Map<number, Socket>();
    wispSessions++;
    ws.send(credit(0));
    ws.on("message", (data: Buffer) => {
      const stream = data.readUInt32LE(1);
      if (data[0] === 1) {
        wispConnects.push(`${data.subarray(8).toString()}:${data.readUInt16LE(6)}`);
        const socket = netConnect(webPort, "127.0.0.1");
        sockets.set(stream, socket);
        socket.on("data", (chunk) => ws.send(frame(2, stream, chunk)));
        socket.on("close", () => {
          if (sockets.delete(stream)) ws.send(frame(4, stream, Buffer.from([2])));
        });
        socket.on("error", () => {});
      } else if (data[0] === 2) {
        sockets.get(stream)?.write(data.subarray(5));
        ws.send(credit(stream));
      } else if (data[0] === 4) {
        sockets.get(stream)?.destroy();
        sockets.delete(stream);
      }
    });
  });
  return server;
}

beforeAll(async () => {
  web = createServer((_, response) => response.end("hello through the relay\n"));
  wisp = wispServer(await listen(web));
  const relayUrl = `ws://127.0.0.1:${await listen(wisp)}/`;
  drydock = await Drydock.boot({
    artifacts: await loadGuestArtifacts(),
    wasmPath: v86WasmPath(),
    state: (await ensureSavedState()).state,
    relayUrl,
  });
  const tracer = new Tracer();
  tracer.subscribe((event) => trace.push(event));
  net = new AgentGuestNetwork(drydock.agent, tracer);
  await net.createBridge("br-gntest1", "172.30.0.1/16");
  await net.createBridge("br-gntest2", "172.31.0.1/16");
  await sandbox("gn-a", "br-gntest1", "172.30.0.2", "172.30.0.1");
  await sandbox("gn-b", "br-gntest1", "172.30.0.3", "172.30.0.1");
  await sandbox("gn-c", "br-gntest2", "172.31.0.2", "172.31.0.1");
  await drydock.agent.mkdir("/tmp/www-a", { parents: true });
  await drydock.agent.writeFile("/tmp/www-a/index.html", "hello from sandbox a\n");
  // A web server in sandbox a, for the others to reach (busybox httpd in the foreground, killed with the guest).
  await drydock.agent.spawn({ argv: ["httpd", "-f", "-p", "80", "-h", "/tmp/www-a"], env: PATH, netns: paths["gn-a"] });
}, 180_000);

afterAll(async () => {
  await drydock?.dispose();
  wisp?.closeAllConnections();
  await new Promise((resolve) => wisp?.close(resolve));
  await new Promise((resolve) => web?.close(resolve));
});

describe("the guest's own network", () => {
  it("has eth0 at 192.168.86.100 behind v86's router, forwards, and names the bridge gateway as its resolver", async () => {
    const { output } = await inSandbox(undefined, [
      "sh",
      "-c",
      "ip -4 addr show eth0; ip route; cat /proc/sys/net/ipv4/ip_forward /etc/resolv.conf",
    ]);
    expect(output).toContain("inet 192.168.86.100/24");
    expect(output).toMatch(/default via 192\.168\.86\.1 dev eth0/);
    expect(output).toMatch(/^1$/m);
    expect(output).toMatch(/^nameserver 172\.17\.0\.1$/m);
  });
});

describe("the way out through v86's router and a Wisp relay", () => {
  it("a container's own address goes out through the guest without NAT, and the answer comes back to it", async () => {
    // 192.168.86.5 is on eth0's link; v86's router answers for it and hands the stream to the relay, which here
    // leads to the loopback web server whatever the address.
    const fetched = await inSandbox("gn-a", ["timeout", "20", "wget", "-qO-", "http://192.168.86.5/"]);
    // On failure, say what the guest and the relay saw.
    const seen =
      fetched.code === 0
        ? ""
        : `relay sessions ${wispSessions}, streams ${JSON.stringify(wispConnects)}; the guest: ${
            (
              await inSandbox(undefined, [
                "sh",
                "-c",
                "ip route; cat /proc/net/arp /sys/class/net/eth0/statistics/tx_packets /sys/class/net/eth0/statistics/rx_packets",
              ])
            ).output
          }`;
    expect(fetched, seen).toEqual({ code: 0, output: "hello through the relay\n" });
    expect(wispConnects).toContain("192.168.86.5:80");
  });
});

describe("sandboxes on a bridge", () => {
  it("a sandbox has its own eth0 with the given address and MAC, lo up, and a default route via the gateway", async () => {
    const { code, output } = await inSandbox("gn-b", ["sh", "-c", "ip addr; ip route"]);
    expect(code).toBe(0);
    expect(output).toContain("inet 172.30.0.3/16");
    expect(output).toContain("link/ether 02:42:ac:1e:00:03");
    expect(output).toMatch(/lo: <LOOPBACK,UP/);
    expect(output).toMatch(/default via 172\.30\.0\.1 dev eth0/);
    expect(output).not.toContain("192.168.86.100");
  });

  it("two sandboxes on one bridge reach each other", async () => {
    expect((await inSandbox("gn-b", ["ping", "-c1", "-W3", "172.30.0.2"])).code).toBe(0);
    const fetched = await inSandbox("gn-b", ["timeout", "5", "wget", "-qO-", "http://172.30.0.2/"]);
    expect(fetched).toEqual({ code: 0, output: "hello from sandbox a\n" });
  });

  it("a sandbox on another bridge reaches them through the guest until the two networks are isolated", async () => {
    const fetch = ["timeout", "5", "wget", "-qO-", "http://172.30.0.2/"];
    expect((await inSandbox("gn-c", fetch)).output).toBe("hello from sandbox a\n");
    await net.isolate("172.30.0.0/16", "172.31.0.0/16");
    const refused = await inSandbox("gn-c", fetch);
    expect(refused.code).not.toBe(0);
    expect((await inSandbox("gn-c", ["ping", "-c1", "-W2", "172.30.0.2"])).code).not.toBe(0);
    expect((await inSandbox(undefined, ["ip", "rule"])).output).toMatch(
      /from 172\.31\.0\.0\/16 to 172\.30\.0\.0\/16 .*prohibit/,
    );
    // Isolating twice is harmless; lifting it restores the route.
    await net.isolate("172.30.0.0/16", "172.31.0.0/16");
    await net.unisolate("172.30.0.0/16", "172.31.0.0/16");
    expect((await inSandbox("gn-c", fetch)).output).toBe("hello from sandbox a\n");
    await net.isolate("172.30.0.0/16", "172.31.0.0/16");
  });

  it("traces each step as the command a person would type", () => {
    const commands = trace.map((event) => event.command);
    expect(commands).toContain("ip link add br-gntest1 type bridge # with a random MAC of its own, kept for good");
    expect(commands).toContain("ip addr add 172.30.0.1/16 dev br-gntest1");
    expect(
      commands.some((c) =>
        /^ip link add veth[0-9a-f]{7} type veth peer name eth0 address 02:42:ac:1e:00:02 netns \/run\/drydock\/netns\/gn-a$/.test(
          c,
        ),
      ),
    ).toBe(true);
    expect(commands).toContain("nsenter --net=/run/drydock/netns/gn-b ip route add default via 172.30.0.1");
    expect(commands).toContain("ip rule add from 172.30.0.0/16 to 172.31.0.0/16 prohibit priority 1000");
  });

  it("detaching removes the sandbox's interface and its end on the bridge", async () => {
    await sandbox("gn-d", "br-gntest1", "172.30.0.9", "172.30.0.1");
    // The bridge's ports, as sysfs lists them.
    const ports = async () =>
      (await inSandbox(undefined, ["ls", "/sys/class/net/br-gntest1/brif"])).output.split(/\s+/).filter(Boolean);
    const before = await ports();
    expect(before.length).toBe(3);
    await net.detach("gn-d", "eth0");
    expect((await ports()).length).toBe(2);
    expect((await inSandbox("gn-d", ["ip", "-o", "link"])).output).not.toContain("eth0");
    await net.removeSandbox("gn-d");
    expect((await inSandbox(undefined, ["ls", "/run/drydock/netns"])).output).not.toContain("gn-d");
  });

  it("refuses a second sandbox with the same id and a veth onto a bridge that is not there", async () => {
    await expect(net.createSandbox("gn-a")).rejects.toSatisfy((e) => isEngineError(e, "alreadyExists"));
    await net.createSandbox("gn-e");
    await expect(
      net.attach("gn-e", { bridge: "br-missing", ifname: "eth0", cidr: "172.30.0.10/16", mac: "02:42:ac:1e:00:0a" }),
    ).rejects.toSatisfy((e) => isEngineError(e, "notFound"));
    await net.removeSandbox("gn-e");
  });
});

describe("published ports", () => {
  it("answers on the guest's address from the guest's shell", async () => {
    await net.publish({ proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, targetIp: "172.30.0.2", targetPort: 80 });
    expect(await inSandbox(undefined, ["timeout", "5", "wget", "-qO-", "127.0.0.1:8080"])).toEqual({
      code: 0,
      output: "hello from sandbox a\n",
    });
    // And from another container, through the gateway's address.
    expect((await inSandbox("gn-b", ["timeout", "5", "wget", "-qO-", "172.30.0.1:8080"])).output).toBe(
      "hello from sandbox a\n",
    );
  });

  it("a port already taken is a conflict that names the address in use", async () => {
    const taken = net.publish({
      proto: "tcp",
      hostIp: "0.0.0.0",
      hostPort: 8080,
      targetIp: "172.30.0.3",
      targetPort: 80,
    });
    await expect(taken).rejects.toSatisfy((e) => isEngineError(e, "conflict"));
    await expect(taken).rejects.toThrow(/0\.0\.0\.0:8080.*Address in use/);
  });

  it("connectTcp reads an HTTP answer from the published port", async () => {
    const connection = await net.connectTcp("127.0.0.1", 8080);
    const writer = connection.writable.getWriter();
    await writer.write(new TextEncoder().encode("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"));
    await writer.close();
    const answer = await new Response(connection.readable).text();
    expect(answer).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
    expect(answer.endsWith("\r\n\r\nhello from sandbox a\n")).toBe(true);
  });

  it("connectTcp to a port nothing listens on is refused", async () => {
    await expect(net.connectTcp("127.0.0.1", 8099)).rejects.toThrow(/127\.0\.0\.1:8099: .*Connection refused/);
  });

  it("unpublishing closes the port", async () => {
    await net.unpublish({ proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080 });
    expect((await inSandbox(undefined, ["timeout", "5", "wget", "-qO-", "127.0.0.1:8080"])).code).not.toBe(0);
  });
});

describe("DNS served by the engine", () => {
  it("answers a query from inside a sandbox to 127.0.0.11", async () => {
    const asked: string[] = [];
    await net.serveDns("gn-b", "127.0.0.11", async (query) => {
      asked.push(new TextDecoder().decode(query.subarray(13, 13 + query[12]!)));
      return dnsAnswer(query, [172, 30, 0, 2]);
    });
    const { code, output } = await inSandbox("gn-b", ["nslookup", "web.test", "127.0.0.11"]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/Address:\s+172\.30\.0\.2/);
    expect(asked).toContain("web");
  });

  it("answers in the guest's own namespace on a bridge gateway", async () => {
    await net.serveDns(undefined, "172.30.0.1", async (query) => dnsAnswer(query, [10, 1, 2, 3]));
    const { output } = await inSandbox("gn-a", ["nslookup", "anything.example", "172.30.0.1"]);
    expect(output).toMatch(/Address:\s+10\.1\.2\.3/);
  });

  it("stops with its sandbox", async () => {
    // /proc/net/udp lists 127.0.0.11:53 as 0B00007F:0035.
    expect((await inSandbox("gn-b", ["cat", "/proc/net/udp"])).output).toContain("0B00007F:0035");
    await net.removeSandbox("gn-b");
    await net.createSandbox("gn-b");
    expect((await inSandbox("gn-b", ["cat", "/proc/net/udp"])).output).not.toContain("0B00007F:0035");
  });
});

describe("after other sandboxes are gone", () => {
  it("a sandbox still reaches its gateway: the bridge kept its MAC when its ports came and went", async () => {
    expect((await inSandbox("gn-a", ["ping", "-c1", "-W3", "172.30.0.1"])).code).toBe(0);
  });
});
