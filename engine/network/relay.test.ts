// The engine's side of the relay: DNS through a real relay on 127.0.0.1 (names from a fake resolver), SERVFAIL with
// the reason when there is no relay, and the Trace of connections out of the guest.
import { createServer, type Server } from "node:http";
import dnsPacket from "dns-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRelay, type Relay } from "../../web/relay/server.ts";
import { type TraceEvent, Tracer } from "../trace/index.ts";
import {
  describeDnsAnswer,
  NO_RELAY_MESSAGE,
  nameForAddress,
  type RelayConfig,
  relayWispUrl,
  resolveViaRelay,
  servfail,
  tcpSyn,
  traceEgress,
} from "./relay.ts";

const query = (name: string, id = 99) =>
  new Uint8Array(
    dnsPacket.encode({ type: "query", id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name }] }),
  );

let relay: Relay;
let server: Server;
let config: RelayConfig;

beforeAll(async () => {
  relay = createRelay({
    allow: ["*.mirror.test"],
    // A fake resolver: nothing is ever connected to in this file.
    resolve: async (name) => (name === "deb.mirror.test" ? ["203.0.114.20", "203.0.114.21"] : []),
    log: () => {},
  });
  server = createServer((req, res) => {
    if (!relay.handleRequest(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  config = { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` };
});

afterAll(async () => {
  await relay.close();
  server.close();
});

describe("resolveViaRelay", () => {
  it("answers an allowlisted name with the relay's addresses, and remembers them for the trace", async () => {
    const answer = await resolveViaRelay(config, query("deb.mirror.test"));
    expect(describeDnsAnswer(answer)).toEqual({
      rcode: "NOERROR",
      name: "deb.mirror.test",
      addresses: ["203.0.114.20", "203.0.114.21"],
    });
    expect(dnsPacket.decode(Buffer.from(answer)).id).toBe(99);
    expect(nameForAddress(config, "203.0.114.21")).toBe("deb.mirror.test");
  });

  it("passes the relay's refusal and its reason through", async () => {
    const summary = describeDnsAnswer(await resolveViaRelay(config, query("unlisted.example")));
    expect(summary.rcode).toBe("NXDOMAIN");
    expect(summary.reason).toBe("unlisted.example is not on the relay's allowlist (*.mirror.test)");
  });

  it("without a relay answers SERVFAIL at once, naming the missing relay, with the query's id and question", async () => {
    const answer = await resolveViaRelay(undefined, query("deb.mirror.test", 7));
    const packet = dnsPacket.decode(Buffer.from(answer));
    expect(packet.id).toBe(7);
    expect(packet.questions).toEqual([{ name: "deb.mirror.test", type: "A", class: "IN" }]);
    expect(describeDnsAnswer(answer)).toEqual({
      rcode: "SERVFAIL",
      name: "deb.mirror.test",
      addresses: [],
      reason: NO_RELAY_MESSAGE,
    });
    expect(NO_RELAY_MESSAGE).toMatch(/no relay is configured.*npm run relay.*--relay URL/);
  });

  it("answers SERVFAIL naming the relay when it cannot be reached or does not speak DNS", async () => {
    const refused = async () => Promise.reject(new TypeError("fetch failed"));
    const down = describeDnsAnswer(await resolveViaRelay({ url: "http://127.0.0.1:9" }, query("x.test"), refused));
    expect(down).toMatchObject({
      rcode: "SERVFAIL",
      reason: "the relay at http://127.0.0.1:9 cannot be reached (fetch failed)",
    });
    const html = async () => new Response("<html>", { status: 200, headers: { "content-type": "text/html" } });
    const wrong = describeDnsAnswer(await resolveViaRelay({ url: "http://relay.test" }, query("x.test"), html));
    expect(wrong.reason).toBe("the relay at http://relay.test answered HTTP 200 to a DNS query");
  });

  it("answers even a query too short to read", () => {
    expect(describeDnsAnswer(servfail(new Uint8Array([1, 2]), "why")).rcode).toBe("SERVFAIL");
  });
});

describe("relayWispUrl", () => {
  it("gives v86 the wisp:// or wisps:// URL of the relay's /wisp/", () => {
    expect(relayWispUrl({ url: "http://127.0.0.1:5173/relay" })).toBe("wisp://127.0.0.1:5173/relay/wisp/");
    expect(relayWispUrl({ url: "https://school.example/relay/" })).toBe("wisps://school.example/relay/wisp/");
  });
});

/** An Ethernet frame with an IPv4 TCP segment from the guest to `address:port` with `flags`. */
function tcpFrame(address: string, port: number, flags: number): Uint8Array {
  const frame = new Uint8Array(14 + 20 + 20);
  frame.set([0x08, 0x00], 12);
  frame[14] = 0x45;
  frame[14 + 9] = 6;
  frame.set([192, 168, 86, 100], 14 + 12);
  frame.set(address.split(".").map(Number), 14 + 16);
  frame.set([0xc0, 0x01, port >> 8, port & 0xff], 34);
  frame[34 + 13] = flags;
  return frame;
}

describe("tcpSyn", () => {
  it("finds the destination of a SYN, and ignores the rest of a connection and other frames", () => {
    expect(tcpSyn(tcpFrame("203.0.114.20", 80, 0x02))).toEqual({ address: "203.0.114.20", port: 80 });
    expect(tcpSyn(tcpFrame("203.0.114.20", 80, 0x12))).toBeUndefined(); // SYN+ACK
    expect(tcpSyn(tcpFrame("203.0.114.20", 80, 0x10))).toBeUndefined(); // ACK
    expect(tcpSyn(new Uint8Array(60))).toBeUndefined();
  });
});

/** A stand-in with the shape of v86's Wisp adapter (its methods keep these names in v86's build). */
function fakeWispAdapter() {
  const sent: { type: string; stream_id: number }[] = [];
  const closed: number[] = [];
  const adapter = {
    wispws: { readyState: 1 },
    connections: {} as Record<number, { close_callback: (reason: number) => void }>,
    send_wisp_frame(frame: { type: string; stream_id: number; hostname?: string; port?: number }) {
      sent.push(frame);
      if (frame.type === "CONNECT")
        this.connections[frame.stream_id] = { close_callback: () => closed.push(frame.stream_id) };
    },
    process_incoming_wisp_frame(_frame: Uint8Array) {},
  };
  return { adapter, sent, closed };
}

function closeFrame(streamId: number, reason: number): Uint8Array {
  const frame = new Uint8Array(6);
  frame[0] = 4;
  new DataView(frame.buffer).setUint32(1, streamId, true);
  frame[5] = reason;
  return frame;
}

describe("traceEgress", () => {
  it("puts each stream through the relay in the trace by the name it was resolved for, and a refusal with its reason", async () => {
    await resolveViaRelay(config, query("deb.mirror.test"));
    const { adapter, sent } = fakeWispAdapter();
    const tracer = new Tracer();
    const events: TraceEvent[] = [];
    tracer.subscribe((event) => events.push(event));
    const stop = traceEgress({ network_adapter: adapter }, config, tracer);
    adapter.send_wisp_frame({ type: "CONNECT", stream_id: 1, hostname: "203.0.114.20", port: 80 });
    adapter.send_wisp_frame({ type: "CONNECT", stream_id: 2, hostname: "10.1.2.3", port: 80 });
    adapter.process_incoming_wisp_frame(closeFrame(2, 0x48));
    adapter.process_incoming_wisp_frame(closeFrame(1, 0x02));
    expect(sent.map((f) => f.stream_id)).toEqual([1, 2]);
    expect(events.map((e) => e.command)).toEqual([
      "connect deb.mirror.test:80 (via relay, 203.0.114.20)",
      "connect 10.1.2.3:80 (via relay)",
      "connect 10.1.2.3:80 # refused: blocked by the relay's rules (only addresses its resolver handed out for allowlisted names, on allowed ports) (Wisp close 0x48)",
    ]);
    stop();
    adapter.send_wisp_frame({ type: "CONNECT", stream_id: 3, hostname: "203.0.114.20", port: 80 });
    expect(events).toHaveLength(3);
  });

  it("closes a stream at once when the relay's WebSocket is down, and says so", () => {
    const { adapter, closed } = fakeWispAdapter();
    adapter.wispws.readyState = 3;
    const tracer = new Tracer();
    const events: TraceEvent[] = [];
    tracer.subscribe((event) => events.push(event));
    traceEgress({ network_adapter: adapter }, config, tracer);
    adapter.send_wisp_frame({ type: "CONNECT", stream_id: 1, hostname: "203.0.114.20", port: 443 });
    expect(closed).toEqual([1]);
    expect(events[0]?.command).toBe(
      `connect deb.mirror.test:443 # refused: the relay at ${config.url} is not connected`,
    );
  });

  it("without a relay, tells of each connection the guest tries, naming the missing relay, once a minute", () => {
    const listeners = new Map<string, (data: Uint8Array) => void>();
    const bus = {
      register: (name: string, listener: (data: Uint8Array) => void) => listeners.set(name, listener),
      unregister: (name: string) => listeners.delete(name),
    };
    const tracer = new Tracer();
    const events: TraceEvent[] = [];
    tracer.subscribe((event) => events.push(event));
    const stop = traceEgress({ bus }, undefined, tracer);
    const send = listeners.get("net0-send")!;
    send(tcpFrame("203.0.114.20", 80, 0x02));
    send(tcpFrame("203.0.114.20", 80, 0x02)); // the guest's retry
    send(tcpFrame("203.0.114.20", 80, 0x10));
    expect(events.map((e) => e.command)).toEqual([`connect 203.0.114.20:80 # ${NO_RELAY_MESSAGE}`]);
    stop();
    expect(listeners.has("net0-send")).toBe(false);
  });
});
