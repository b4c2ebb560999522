// The relay served on 127.0.0.1, driven by a Wisp client and DNS-over-HTTPS requests. Names come from a fake
// resolver; the only destination ever connected to is an echo server on loopback, which the operator option
// `privateNames` allows by name (every other destination is refused before any connection is tried).
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer, connect as netConnect, type Server as TcpServer } from "node:net";
import dnsPacket from "dns-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WispClient } from "./client.ts";
import { createRelay, type Relay } from "./server.ts";
import { CloseReason } from "./wisp.ts";

const ZONE: Record<string, string[]> = {
  "mirror.test": ["127.0.0.1"],
  "rebind.test": ["203.0.114.9", "192.168.1.20"],
  "public.pkgs.test": ["203.0.114.10"],
};

let echo: TcpServer;
let echoPort: number;
let http: Server;
let base: string;
let relay: Relay;
const logs: string[] = [];
const connected: string[] = [];

async function listen(server: Server | TcpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

beforeAll(async () => {
  echo = createTcpServer((socket) => socket.pipe(socket));
  echoPort = await listen(echo);
  relay = createRelay({
    allow: ["mirror.test", "rebind.test", "*.pkgs.test"],
    privateNames: ["mirror.test"],
    ports: [80, 443, echoPort],
    limits: { concurrentStreams: 3, connectionsPerMinute: 600 },
    resolve: async (name) => {
      const answer = ZONE[name];
      if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
      return answer;
    },
    connect: (address, port) => {
      connected.push(`${address}:${port}`);
      // Only the loopback echo server is ever dialled; anything else would be a failed test, not traffic.
      if (address !== "127.0.0.1") throw new Error(`test tried to connect to ${address}`);
      return netConnect({ host: address, port });
    },
    log: (line) => logs.push(line),
  });
  http = createServer((req, res) => {
    if (!relay.handleRequest(req, res)) res.writeHead(404).end();
  });
  http.on("upgrade", (req, socket, head) => {
    if (!relay.handleUpgrade(req, socket, head)) socket.destroy();
  });
  base = `127.0.0.1:${await listen(http)}`;
});

afterAll(async () => {
  await relay.close();
  http.close();
  echo.close();
});

async function dnsQuery(name: string, type: "A" | "AAAA" = "A", method: "GET" | "POST" = "POST") {
  const query = dnsPacket.encode({
    type: "query",
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
  });
  const response =
    method === "POST"
      ? await fetch(`http://${base}/dns-query`, {
          method: "POST",
          headers: { "content-type": "application/dns-message" },
          body: query,
        })
      : await fetch(`http://${base}/dns-query?dns=${query.toString("base64url")}`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("application/dns-message");
  const packet = dnsPacket.decode(Buffer.from(await response.arrayBuffer()));
  const opt = packet.additionals?.find((a) => a.type === "OPT") as
    | { options: { code: number; data: Buffer }[] }
    | undefined;
  const ede = opt?.options.find((o) => o.code === 15)?.data;
  return {
    packet,
    rcode: (packet as { rcode?: string }).rcode,
    addresses: packet.answers?.flatMap((a) => (a.type === "A" ? [a.data] : [])),
    reason: ede ? ede.subarray(2).toString("utf8") : undefined,
  };
}

describe("relay /dns-query", () => {
  it("answers A for an allowlisted name (POST and GET), keeping the query's id and question", async () => {
    const post = await dnsQuery("mirror.test");
    expect(post.rcode).toBe("NOERROR");
    expect(post.packet.id).toBe(4242);
    expect(post.packet.questions).toEqual([{ name: "mirror.test", type: "A", class: "IN" }]);
    expect(post.addresses).toEqual(["127.0.0.1"]);
    expect((await dnsQuery("mirror.test", "A", "GET")).addresses).toEqual(["127.0.0.1"]);
  });

  it("answers NXDOMAIN with the reason for a name off the allowlist, and logs it", async () => {
    const answer = await dnsQuery("unlisted.example");
    expect(answer.rcode).toBe("NXDOMAIN");
    expect(answer.reason).toMatch(/^unlisted\.example is not on the relay's allowlist/);
    expect(logs.some((l) => /refused DNS query for unlisted\.example: .*not on the relay's allowlist/.test(l))).toBe(
      true,
    );
  });

  it("never hands out a private address for an allowlisted name", async () => {
    const answer = await dnsQuery("rebind.test");
    expect(answer.rcode).toBe("NXDOMAIN");
    expect(answer.addresses).toEqual([]);
    expect(answer.reason).toBe(
      "rebind.test resolves to 192.168.1.20, a private address, which the relay never connects to",
    );
  });

  it("answers AAAA for an allowed name with no records (the guest has only IPv4), and refuses it for others", async () => {
    expect((await dnsQuery("mirror.test", "AAAA")).rcode).toBe("NOERROR");
    expect((await dnsQuery("unlisted.example", "AAAA")).rcode).toBe("NXDOMAIN");
  });

  it("says what is wrong with a request that is not DNS", async () => {
    const response = await fetch(`http://${base}/dns-query`, { method: "POST", body: "hello" });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/content-type application\/dns-message/);
  });
});

describe("relay Wisp", () => {
  it("connects to an address its resolver handed out, and carries bytes both ways", async () => {
    await dnsQuery("mirror.test");
    const client = await WispClient.connect(`ws://${base}/wisp/`);
    expect(client.initialBuffer).toBeGreaterThan(0);
    const stream = client.open("127.0.0.1", echoPort);
    stream.send("hello through the relay");
    await stream.receivedBytes(23);
    expect(stream.text()).toBe("hello through the relay");
    // A megabyte, in Wisp-sized pieces, comes back whole and in order.
    const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) & 0xff);
    for (let i = 0; i < big.length; i += 16384) stream.send(big.subarray(i, i + 16384));
    await stream.receivedBytes(23 + big.length);
    const back = Buffer.concat(stream.received).subarray(23);
    expect(Buffer.compare(back, big)).toBe(0);
    expect(logs).toContain(`relay: client loopback: connect mirror.test (127.0.0.1):${echoPort}`);
    stream.close();
    client.close();
  });

  it("refuses a private address with close reason 0x48 and a log line, without connecting", async () => {
    const client = await WispClient.connect(`ws://${base}/wisp/`);
    const before = connected.length;
    expect(await client.open("10.1.2.3", 80).closed).toBe(CloseReason.blocked);
    expect(await client.open("169.254.169.254", 80).closed).toBe(CloseReason.blocked);
    expect(connected.length).toBe(before);
    expect(logs).toContain(
      "relay: client loopback: refused 10.1.2.3:80: 10.1.2.3 is a private address, which the relay never connects to (Wisp close 0x48)",
    );
    client.close();
  });

  it("refuses a public address the resolver did not hand out, and an unlisted or rebinding name", async () => {
    const client = await WispClient.connect(`ws://${base}/wisp/`);
    const before = connected.length;
    expect(await client.open("203.0.114.10", 443).closed).toBe(CloseReason.blocked);
    expect(logs.at(-1)).toMatch(
      /refused 203\.0\.114\.10:443: 203\.0\.114\.10 was not handed out by the relay's resolver/,
    );
    expect(await client.open("unlisted.example", 80).closed).toBe(CloseReason.blocked);
    expect(logs.at(-1)).toMatch(/refused unlisted\.example:80: unlisted\.example is not on the relay's allowlist/);
    expect(await client.open("rebind.test", 80).closed).toBe(CloseReason.blocked);
    expect(connected.length).toBe(before);
    client.close();
  });

  it("refuses ports other than the allowed ones", async () => {
    await dnsQuery("mirror.test");
    const client = await WispClient.connect(`ws://${base}/wisp/`);
    expect(await client.open("127.0.0.1", 22).closed).toBe(CloseReason.blocked);
    expect(logs.at(-1)).toMatch(/refused 127\.0\.0\.1:22: port 22 is not allowed/);
    client.close();
  });

  it("refuses UDP except DNS, which it answers itself under the same rules", async () => {
    const client = await WispClient.connect(`ws://${base}/wisp/`);
    expect(await client.open("203.0.114.10", 123, "udp").closed).toBe(CloseReason.blocked);
    expect(logs.at(-1)).toMatch(/refused udp 203\.0\.114\.10:123: UDP is refused \(only DNS/);
    const dns = client.open("203.0.114.53", 53, "udp");
    dns.send(dnsPacket.encode({ type: "query", id: 7, questions: [{ type: "A", name: "mirror.test" }] }));
    await dns.receivedBytes(12);
    const answer = dnsPacket.decode(Buffer.concat(dns.received));
    expect(answer.answers?.flatMap((a) => (a.type === "A" ? [a.data] : []))).toEqual(["127.0.0.1"]);
    dns.close();
    client.close();
  });

  it("throttles a client over its concurrent streams with close reason 0x49", async () => {
    await dnsQuery("mirror.test");
    const client = await WispClient.connect(`ws://${base}/wisp/`);
    const open = [1, 2, 3].map(() => client.open("127.0.0.1", echoPort));
    for (const s of open) s.send("x");
    await Promise.all(open.map((s) => s.receivedBytes(1)));
    expect(await client.open("127.0.0.1", echoPort).closed).toBe(CloseReason.throttled);
    expect(logs.at(-1)).toMatch(/too many streams open at once \(the relay allows 3 per client\) \(Wisp close 0x49\)/);
    // Closing one frees its place.
    open[0]!.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const again = client.open("127.0.0.1", echoPort);
    again.send("y");
    expect(await again.receivedBytes(1)).toBe(1);
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(relay.openStreams).toBe(0);
  });

  it("tells the client when the destination closes the connection", async () => {
    const closer = createTcpServer((socket) => socket.end("bye"));
    const port = await listen(closer);
    const local = createRelay({
      allow: ["mirror.test"],
      privateNames: ["mirror.test"],
      ports: [port],
      resolve: async () => ["127.0.0.1"],
      log: () => {},
    });
    const server = createServer();
    server.on("upgrade", (req, socket, head) => local.handleUpgrade(req, socket, head));
    const at = await listen(server);
    const client = await WispClient.connect(`ws://127.0.0.1:${at}/wisp/`);
    const stream = client.open("mirror.test", port);
    expect(await stream.closed).toBe(CloseReason.voluntary);
    expect(stream.text()).toBe("bye");
    client.close();
    await local.close();
    server.close();
    closer.close();
  });
});
