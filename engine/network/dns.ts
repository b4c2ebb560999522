// The embedded DNS server's answers (dockerd's 127.0.0.11): a query for a name the asking container can reach on its
// networks (a container name, a `--network-alias`, a short id) or an `--add-host` entry is answered here; anything
// else goes to the upstream resolver: the container's `--dns` servers when it has any (as dockerd forwards to them),
// else the relay's DNS-over-HTTPS endpoint; without one the answer is SERVFAIL.
// Messages are read and written in DNS wire format by @dnsquery/dns-packet (Uint8Array, no Node Buffer).
import * as packet from "@dnsquery/dns-packet";

/** Hands a whole DNS query to a resolver outside and resolves with its whole answer. */
export type DnsUpstream = (query: Uint8Array) => Promise<Uint8Array>;

/**
 * The IPv4 addresses `name` (lower case, no trailing dot) has for the asker, or undefined when it is not known here;
 * `type` is the question's (A, AAAA…), for answers that rotate per A query.
 */
export type DnsNames = (name: string, type: string) => string[] | undefined | Promise<string[] | undefined>;

/** dockerd answers its containers' names with this time to live. */
export const DNS_TTL = 600;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2 } as const;

function reply(query: packet.Packet, rcode: number, answers: packet.Answer[] = []): Uint8Array {
  const recursionDesired = (query.flags ?? 0) & packet.RECURSION_DESIRED;
  return packet.encode({
    type: "response",
    id: query.id ?? 0,
    flags: recursionDesired | packet.RECURSION_AVAILABLE | rcode,
    questions: query.questions ?? [],
    answers,
  });
}

/**
 * The answer to one DNS message from a container.
 * @example
 * const answer = await answerDns(query, (name) => (name === "web" ? ["172.18.0.2"] : undefined));
 */
export async function answerDns(
  query: Uint8Array,
  names: DnsNames,
  upstream?: DnsUpstream,
  onNoUpstream?: (name: string) => void,
): Promise<Uint8Array> {
  let decoded: packet.Packet;
  try {
    decoded = packet.decode(query);
  } catch {
    // Too short or malformed: a FORMERR with whatever id it had.
    const id = query.length >= 2 ? (query[0]! << 8) | query[1]! : 0;
    return reply({ id, flags: 0 }, RCODE.FORMERR);
  }
  const question = decoded.questions?.[0];
  if (!question || decoded.type === "response") return reply(decoded, RCODE.FORMERR);
  const name = question.name.toLowerCase().replace(/\.$/, "");
  const known = await names(name, question.type);
  if (known) {
    // A name the engine knows: its IPv4 addresses for A, and an empty NOERROR for any other type (no IPv6 here).
    const answers: packet.Answer[] =
      question.type === "A"
        ? known.map((ip) => ({ type: "A", name: question.name, ttl: DNS_TTL, class: "IN", data: ip }))
        : [];
    return reply(decoded, RCODE.NOERROR, answers);
  }
  if (!upstream) {
    onNoUpstream?.(name);
    return reply(decoded, RCODE.SERVFAIL);
  }
  try {
    return await upstream(query);
  } catch {
    return reply(decoded, RCODE.SERVFAIL);
  }
}

/** A TCP connection into the guest, as GuestNetwork.connectTcp opens it. */
export type TcpConnect = (
  ip: string,
  port: number,
) => Promise<{ readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }>;

/** How long one server may take to answer before the next is asked. */
export const DNS_SERVER_TIMEOUT_MS = 5000;

/**
 * An upstream that asks the `--dns` servers (IPv4 addresses, port 53), in order until one answers, over TCP (RFC 7766:
 * a two-byte length, then the message), through connections into the guest.
 * @example
 * const upstream = dnsServersUpstream(["172.18.0.53"], (ip, port) => guest.connectTcp(ip, port));
 */
export function dnsServersUpstream(servers: readonly string[], connect: TcpConnect): DnsUpstream {
  return async (query) => {
    const failures: string[] = [];
    for (const server of servers) {
      try {
        return await askOverTcp(server, query, connect);
      } catch (error) {
        failures.push(`${server}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    throw new Error(`no DNS server answered (${failures.join("; ")})`);
  };
}

async function askOverTcp(server: string, query: Uint8Array, connect: TcpConnect): Promise<Uint8Array> {
  if (query.length > 0xffff) throw new Error("a DNS message longer than TCP can carry");
  const connection = await connect(server, 53);
  const reader = connection.readable.getReader();
  const writer = connection.writable.getWriter();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no answer in time")), DNS_SERVER_TIMEOUT_MS);
  });
  try {
    const framed = new Uint8Array(2 + query.length);
    framed[0] = query.length >> 8;
    framed[1] = query.length & 0xff;
    framed.set(query, 2);
    await Promise.race([writer.write(framed), timeout]);
    let received = new Uint8Array(0);
    for (;;) {
      if (received.length >= 2) {
        const length = (received[0]! << 8) | received[1]!;
        if (received.length >= 2 + length) return received.slice(2, 2 + length);
      }
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error("the connection closed before a whole answer");
      const joined = new Uint8Array(received.length + value.length);
      joined.set(received);
      joined.set(value, received.length);
      received = joined;
    }
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
    writer.close().catch(() => {});
  }
}
