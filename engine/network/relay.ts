// The engine's side of the relay (web/relay/): the guest's way out. Names that are not containers' are resolved by
// the relay's DNS over HTTPS (`<relay>/dns-query`); the guest's TCP connections leave through v86's Wisp adapter to
// `<relay>/wisp/`. Here: the resolver call, the Wisp URL v86 wants, and the Trace of every connection out (through
// the relay, refused by it, or going nowhere because no relay is configured).

import type { Tracer } from "../trace/index.ts";

/** Where the relay is: `url` is its base, e.g. "http://127.0.0.1:8090" or "https://example.org/relay". */
export interface RelayConfig {
  url: string;
}

/** What to tell a user whose container wanted the network while no relay is configured. */
export const NO_RELAY_MESSAGE =
  "no relay is configured, so containers cannot reach the network: start one (`npm run relay`, or `npm run dev`, which serves one at /relay) and give its URL to the engine (`drydock daemon --relay URL`, or the page's ?relay=URL)";

/**
 * What a failed `RUN` that wanted the network is told: which relay its container went out through and what that
 * relay allows, or that there is none.
 */
export function egressHint(config: RelayConfig | undefined): string {
  if (!config) return `It seems to need the network, but ${NO_RELAY_MESSAGE}`;
  return `It seems to need the network: containers reach the outside only through the relay at ${config.url}, and only the hosts on its allowlist (${base(config)}/ lists them); anything else is refused`;
}

function base(config: RelayConfig): string {
  return config.url.replace(/\/+$/, "");
}

/**
 * The URL v86's network card connects to: `wisp://` or `wisps://` (v86 picks its Wisp adapter by the scheme) at the
 * relay's `/wisp/`.
 * @example
 * relayWispUrl({ url: "http://127.0.0.1:8090" }) // "wisp://127.0.0.1:8090/wisp/"
 */
export function relayWispUrl(config: RelayConfig): string {
  const url = new URL(`${base(config)}/wisp/`);
  const secure = url.protocol === "https:" || url.protocol === "wss:" || url.protocol === "wisps:";
  return `${secure ? "wisps" : "wisp"}://${url.host}${url.pathname}${url.search}`;
}

// ---- DNS messages: just enough of RFC 1035 to answer SERVFAIL and to read an answer for the trace ----------------

const TYPE_A = 1;
const TYPE_OPT = 41;
const OPTION_EDE = 15;
const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

/** The offset just past the (possibly compressed) name at `offset`. */
function skipName(message: Uint8Array, offset: number): number {
  let at = offset;
  for (let guard = 0; guard < 128 && at < message.length; guard++) {
    const length = message[at]!;
    if (length === 0) return at + 1;
    if ((length & 0xc0) === 0xc0) return at + 2;
    at += 1 + length;
  }
  throw new Error("malformed DNS name");
}

/** The name at `offset` as text (following compression pointers). */
function readName(message: Uint8Array, offset: number): string {
  const labels: string[] = [];
  let at = offset;
  for (let guard = 0; guard < 128 && at < message.length; guard++) {
    const length = message[at]!;
    if (length === 0) break;
    if ((length & 0xc0) === 0xc0) {
      at = ((length & 0x3f) << 8) | message[at + 1]!;
      continue;
    }
    labels.push(new TextDecoder().decode(message.subarray(at + 1, at + 1 + length)));
    at += 1 + length;
  }
  return labels.join(".");
}

/** An OPT record carrying an Extended DNS Error (RFC 8914) with `text`. */
function extendedErrorRecord(infoCode: number, text: string): Uint8Array {
  const utf8 = new TextEncoder().encode(text.slice(0, 400));
  const record = new Uint8Array(11 + 4 + 2 + utf8.length);
  const view = new DataView(record.buffer);
  // name: root (0); type OPT; class: UDP payload size; TTL: extended rcode, version, flags (all 0).
  view.setUint16(1, TYPE_OPT);
  view.setUint16(3, 1232);
  view.setUint16(9, 4 + 2 + utf8.length);
  view.setUint16(11, OPTION_EDE);
  view.setUint16(13, 2 + utf8.length);
  view.setUint16(15, infoCode);
  record.set(utf8, 17);
  return record;
}

/**
 * A SERVFAIL answer to `query` (same id and question) with `reason` as an Extended DNS Error: what the guest gets
 * when the relay cannot answer. A query too short to have a header gets a bare SERVFAIL header.
 */
export function servfail(query: Uint8Array, reason: string): Uint8Array {
  let questionEnd = 12;
  try {
    const count = query.length >= 12 ? (query[4]! << 8) | query[5]! : 0;
    for (let i = 0; i < count; i++) questionEnd = skipName(query, questionEnd) + 4;
    if (questionEnd > query.length) questionEnd = 12;
  } catch {
    questionEnd = 12;
  }
  const opt = extendedErrorRecord(23 /* Network Error */, reason);
  const answer = new Uint8Array(questionEnd + opt.length);
  answer.set(query.subarray(0, Math.min(questionEnd, query.length)));
  const view = new DataView(answer.buffer);
  // QR, the query's opcode and RD; RA; rcode 2. Counts: the question(s) only, plus the OPT record.
  answer[2] = 0x80 | ((query[2] ?? 0) & 0x79);
  answer[3] = 0x80 | 2;
  if (questionEnd === 12) view.setUint16(4, 0);
  view.setUint16(6, 0);
  view.setUint16(8, 0);
  view.setUint16(10, 1);
  answer.set(opt, questionEnd);
  return answer;
}

/** A DNS answer as the trace tells it: the code, the name asked, the IPv4 addresses, and the relay's reason. */
export interface DnsAnswerSummary {
  rcode: string;
  name: string;
  addresses: string[];
  /** The Extended DNS Error text, when the answer carries one (the relay says why it refused). */
  reason?: string;
}

/** Reads a DNS answer for the trace; throws on a message too short or malformed to read. */
export function describeDnsAnswer(answer: Uint8Array): DnsAnswerSummary {
  if (answer.length < 12) throw new Error("a DNS message shorter than its header");
  const view = new DataView(answer.buffer, answer.byteOffset, answer.byteLength);
  const rcode = RCODES[answer[3]! & 0xf] ?? `RCODE${answer[3]! & 0xf}`;
  const counts = [view.getUint16(4), view.getUint16(6), view.getUint16(8), view.getUint16(10)];
  let at = 12;
  let name = "";
  for (let i = 0; i < counts[0]!; i++) {
    if (i === 0) name = readName(answer, at);
    at = skipName(answer, at) + 4;
  }
  const addresses: string[] = [];
  let reason: string | undefined;
  const records = counts[1]! + counts[2]! + counts[3]!;
  for (let i = 0; i < records && at < answer.length; i++) {
    at = skipName(answer, at);
    const type = view.getUint16(at);
    const length = view.getUint16(at + 8);
    const data = answer.subarray(at + 10, at + 10 + length);
    if (i < counts[1]! && type === TYPE_A && length === 4) addresses.push(data.join("."));
    if (type === TYPE_OPT) {
      for (let o = 0; o + 4 <= data.length; ) {
        const code = (data[o]! << 8) | data[o + 1]!;
        const size = (data[o + 2]! << 8) | data[o + 3]!;
        if (code === OPTION_EDE && size >= 2) {
          reason = new TextDecoder().decode(data.subarray(o + 6, o + 4 + size));
        }
        o += 4 + size;
      }
    }
    at += 10 + length;
  }
  return { rcode, name, addresses, ...(reason ? { reason } : {}) };
}

// Per relay: which name each address was handed out for, so the trace can say `connect <name>:80`.
const namesByRelay = new WeakMap<RelayConfig, Map<string, string>>();

function rememberNames(config: RelayConfig, answer: Uint8Array): void {
  let summary: DnsAnswerSummary;
  try {
    summary = describeDnsAnswer(answer);
  } catch {
    return;
  }
  if (summary.addresses.length === 0) return;
  let names = namesByRelay.get(config);
  if (!names) {
    names = new Map();
    namesByRelay.set(config, names);
  }
  for (const address of summary.addresses) {
    names.delete(address);
    names.set(address, summary.name);
  }
  while (names.size > 512) names.delete(names.keys().next().value!);
}

/** The name the relay's resolver last handed `address` out for, if any. */
export function nameForAddress(config: RelayConfig | undefined, address: string): string | undefined {
  return config ? namesByRelay.get(config)?.get(address) : undefined;
}

/**
 * Asks the relay's resolver (`<relay>/dns-query`, RFC 8484, POST) to answer `query`, a DNS message. Without a relay,
 * or when the relay cannot be reached or answers with an error, the answer is SERVFAIL with the reason as an
 * Extended DNS Error: never an exception, so the guest's resolver fails at once instead of waiting.
 * @example
 * const answer = await resolveViaRelay({ url: "http://127.0.0.1:8090" }, query);
 */
export async function resolveViaRelay(
  config: RelayConfig | undefined,
  query: Uint8Array,
  fetchImpl: typeof fetch = fetch,
): Promise<Uint8Array> {
  if (!config) return servfail(query, NO_RELAY_MESSAGE);
  const url = `${base(config)}/dns-query`;
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: "POST",
      headers: { "content-type": "application/dns-message", accept: "application/dns-message" },
      body: query.slice(),
      signal: AbortSignal.timeout(5000),
    });
  } catch (error) {
    return servfail(query, `the relay at ${config.url} cannot be reached (${messageOf(error)})`);
  }
  if (!response.ok || !(response.headers.get("content-type") ?? "").startsWith("application/dns-message")) {
    await response.body?.cancel().catch(() => {});
    return servfail(query, `the relay at ${config.url} answered HTTP ${response.status} to a DNS query`);
  }
  const answer = new Uint8Array(await response.arrayBuffer());
  rememberNames(config, answer);
  return answer;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---- The Trace of connections out of the guest --------------------------------------------------------------------

const WISP_REASONS: Record<number, string> = {
  3: "network error",
  65: "invalid stream request",
  66: "destination unreachable",
  67: "destination did not answer",
  68: "destination refused the connection",
  71: "transfer timed out",
  72: "blocked by the relay's rules (only addresses its resolver handed out for allowlisted names, on allowed ports)",
  73: "throttled by the relay's rate limits",
};

/** The parts of v86's Wisp network adapter the trace watches (they keep their names in v86's build). */
interface WispAdapter {
  wispws?: { readyState: number } | null;
  connections?: Record<number, { close_callback?: (reason: number) => void } | undefined>;
  send_wisp_frame(frame: { type: string; stream_id: number; hostname?: string; port?: number }): void;
  process_incoming_wisp_frame(frame: Uint8Array): void;
}

/** The parts of v86's emulator object the trace watches. */
export interface EgressEmulator {
  network_adapter?: unknown;
  bus?: {
    register(name: string, listener: (data: Uint8Array) => void, context: unknown): void;
    unregister(name: string, listener: (data: Uint8Array) => void): void;
  };
}

function isWispAdapter(value: unknown): value is WispAdapter {
  const adapter = value as Partial<WispAdapter> | undefined;
  return typeof adapter?.send_wisp_frame === "function" && typeof adapter.process_incoming_wisp_frame === "function";
}

/**
 * Puts every connection out of the guest in the Trace: `connect deb.example:80 (via relay)` when v86's Wisp adapter
 * opens a stream, the relay's reason when it refuses one, and, without a relay, each TCP connection the guest tries
 * (seen on v86's `net0-send`) with `NO_RELAY_MESSAGE`. A stream opened while the relay's WebSocket is down is closed
 * at once, so the guest's program fails instead of hanging. Returns the function that stops watching.
 */
export function traceEgress(emulator: EgressEmulator, config: RelayConfig | undefined, tracer: Tracer): () => void {
  const adapter = emulator.network_adapter;
  if (config && isWispAdapter(adapter)) {
    const send = adapter.send_wisp_frame;
    const incoming = adapter.process_incoming_wisp_frame;
    const streams = new Map<number, { address: string; port: number }>();
    adapter.send_wisp_frame = function (frame) {
      send.call(this, frame);
      if (frame.type === "CLOSE") streams.delete(frame.stream_id);
      if (frame.type !== "CONNECT" || frame.hostname === undefined || frame.port === undefined) return;
      const address = frame.hostname;
      const port = frame.port;
      const name = nameForAddress(config, address);
      if (this.wispws?.readyState !== 1) {
        tracer.emit({
          op: "connect",
          address,
          port,
          ...(name ? { name } : {}),
          via: "refused",
          reason: `the relay at ${config.url} is not connected`,
        });
        this.connections?.[frame.stream_id]?.close_callback?.(0x03);
        return;
      }
      streams.set(frame.stream_id, { address, port });
      tracer.emit({ op: "connect", address, port, ...(name ? { name } : {}), via: "relay" });
    };
    adapter.process_incoming_wisp_frame = function (frame) {
      if (frame[0] === 0x04 && frame.length >= 6) {
        const id = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1, true);
        const reason = frame[5]!;
        const stream = streams.get(id);
        streams.delete(id);
        if (stream && reason >= 0x41) {
          const name = nameForAddress(config, stream.address);
          tracer.emit({
            op: "connect",
            ...stream,
            ...(name ? { name } : {}),
            via: "refused",
            reason: `${WISP_REASONS[reason] ?? `closed with reason 0x${reason.toString(16)}`} (Wisp close 0x${reason.toString(16)})`,
          });
        }
      }
      incoming.call(this, frame);
    };
    return () => {
      adapter.send_wisp_frame = send;
      adapter.process_incoming_wisp_frame = incoming;
    };
  }
  const bus = emulator.bus;
  if (!bus) return () => {};
  // No relay: the card leads nowhere. Tell of each TCP connection the guest tries (a SYN), once per destination a
  // minute, so a retrying program does not flood the trace.
  const told = new Map<string, number>();
  const reason = config ? `the relay at ${config.url} is not connected to the guest's network card` : NO_RELAY_MESSAGE;
  const listener = (frame: Uint8Array) => {
    const syn = tcpSyn(frame);
    if (!syn) return;
    const key = `${syn.address}:${syn.port}`;
    const now = Date.now();
    if ((told.get(key) ?? 0) > now - 60_000) return;
    told.set(key, now);
    if (told.size > 256) told.delete(told.keys().next().value!);
    tracer.emit({ op: "connect", address: syn.address, port: syn.port, via: "no relay", reason });
  };
  bus.register("net0-send", listener, undefined);
  return () => bus.unregister("net0-send", listener);
}

/** The destination of an Ethernet frame holding an IPv4 TCP SYN (without ACK), or undefined. */
export function tcpSyn(frame: Uint8Array): { address: string; port: number } | undefined {
  if (frame.length < 14 + 20 + 20) return undefined;
  if (frame[12] !== 0x08 || frame[13] !== 0x00) return undefined; // IPv4
  const ip = 14;
  if (frame[ip]! >> 4 !== 4 || frame[ip + 9] !== 6) return undefined; // TCP
  const tcp = ip + (frame[ip]! & 0xf) * 4;
  if (frame.length < tcp + 14) return undefined;
  const flags = frame[tcp + 13]!;
  if ((flags & 0x02) === 0 || (flags & 0x10) !== 0) return undefined; // SYN without ACK
  return {
    address: Array.from(frame.subarray(ip + 16, ip + 20)).join("."),
    port: (frame[tcp + 2]! << 8) | frame[tcp + 3]!,
  };
}
