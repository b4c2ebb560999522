// The embedded DNS server's answers (dockerd's 127.0.0.11): a query for a name the asking container can reach on its
// networks (a container name, a `--network-alias`, a short id) or an `--add-host` entry is answered here; anything
// else goes to the upstream resolver (the relay's DNS-over-HTTPS endpoint), and without one the answer is SERVFAIL.
// Messages are read and written in DNS wire format by @dnsquery/dns-packet (Uint8Array, no Node Buffer).
import * as packet from "@dnsquery/dns-packet";

/** Hands a whole DNS query to a resolver outside and resolves with its whole answer. */
export type DnsUpstream = (query: Uint8Array) => Promise<Uint8Array>;

/** The IPv4 addresses `name` (lower case, no trailing dot) has for the asker, or undefined when it is not known here. */
export type DnsNames = (name: string) => string[] | undefined;

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
  const known = names(name);
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
