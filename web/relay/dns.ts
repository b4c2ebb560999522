// The relay's resolver, served as DNS over HTTPS (RFC 8484: wire-format messages in a POST body or a `dns` query
// parameter). It answers A queries for allowlisted names with the addresses the relay will then let that client
// connect to, and nothing else: a name off the allowlist, or one that resolves to a private address, gets NXDOMAIN
// with an Extended DNS Error (RFC 8914) saying why; a client over its query rate gets REFUSED.

import dnsPacket, { type Answer, type Packet } from "dns-packet";
import type { ClientLimits } from "./limits.ts";
import { Refusal, type RelayPolicy } from "./policy.ts";

/** The TTL of the relay's answers; shorter than the time a handed-out address stays connectable. */
export const ANSWER_TTL = 60;

const RCODE = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 } as const;
// RFC 8914's info codes the relay uses.
const EDE = { other: 0, blocked: 15, prohibited: 18, networkError: 23 } as const;
const RECURSION_DESIRED = 1 << 8;
const RECURSION_AVAILABLE = 1 << 7;

export interface DnsOutcome {
  readonly answer: Uint8Array;
  /** Why the query was not answered with addresses, for the log; undefined when it was. */
  readonly refused?: string;
  /** The name asked for, for the log. */
  readonly name?: string;
}

/** An OPT record carrying an Extended DNS Error with `text`. */
function extendedError(code: number, text: string): Answer {
  const utf8 = Buffer.from(text.slice(0, 400), "utf8");
  const data = Buffer.alloc(2 + utf8.length);
  data.writeUInt16BE(code, 0);
  utf8.copy(data, 2);
  // dns-packet writes an option with `data` as it is; its types only list the options it can build itself.
  const option = { code: 15, data } as unknown as Extract<Answer, { type: "OPT" }>["options"][number];
  return { type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0, options: [option] } as Answer;
}

/** A header-only answer for a message dns-packet could not read: FORMERR with the query's id when there is one. */
function formatError(query: Uint8Array): Uint8Array {
  const answer = new Uint8Array(12);
  if (query.length >= 2) answer.set(query.subarray(0, 2), 0);
  answer[2] = 0x80; // QR
  answer[3] = RCODE.formErr;
  return answer;
}

/** Answers one DNS query from `client` under the relay's rules. */
export async function answerDnsQuery(
  policy: RelayPolicy,
  limits: ClientLimits,
  client: string,
  query: Uint8Array,
): Promise<DnsOutcome> {
  let packet: ReturnType<typeof dnsPacket.decode>;
  try {
    packet = dnsPacket.decode(Buffer.from(query.buffer, query.byteOffset, query.byteLength));
  } catch {
    return { answer: formatError(query), refused: "a malformed DNS message" };
  }
  const question = packet.questions?.[0];
  const reply = (rcode: number, answers: Answer[], additionals: Answer[] = []): Uint8Array => {
    const response: Packet = {
      id: packet.id ?? 0,
      type: "response",
      flags: ((packet.flags ?? 0) & RECURSION_DESIRED) | RECURSION_AVAILABLE | rcode,
      questions: question ? [question] : [],
      answers,
      additionals,
    };
    return new Uint8Array(dnsPacket.encode(response));
  };
  // The opcode is in bits 11-14 of the flags; only a standard query (0) is served.
  const opcode = ((packet.flags ?? 0) >> 11) & 0xf;
  if (packet.type !== "query" || opcode !== 0 || packet.questions?.length !== 1 || !question) {
    return { answer: reply(RCODE.formErr, []), refused: "not a standard query with one question" };
  }
  const name = question.name;
  const limited = limits.query(client);
  if (limited) {
    return { answer: reply(RCODE.refused, [], [extendedError(EDE.prohibited, limited)]), refused: limited, name };
  }
  if (question.class !== undefined && question.class !== "IN") {
    return { answer: reply(RCODE.notImp, []), refused: `class ${question.class} is not served`, name };
  }
  if (question.type !== "A") {
    // Only IPv4 leaves the guest. For an allowed name the other types are empty (NODATA), so a stub resolver asking
    // A and AAAA together uses the A answer; for any other name they are refused as A would be.
    if (policy.allowlist.allows(name)) return { answer: reply(RCODE.noError, []), name };
    const why = `${name} is not on the relay's allowlist`;
    return { answer: reply(RCODE.nxDomain, [], [extendedError(EDE.blocked, why)]), refused: why, name };
  }
  try {
    const { addresses } = await policy.resolveFor(client, name);
    const v4 = addresses.filter((address) => /^\d+\.\d+\.\d+\.\d+$/.test(address));
    const answers: Answer[] = v4.map((data) => ({ type: "A", name, class: "IN", ttl: ANSWER_TTL, data }));
    return { answer: reply(RCODE.noError, answers), name };
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    if (error.kind === "unavailable") {
      return {
        answer: reply(RCODE.servFail, [], [extendedError(EDE.networkError, error.message)]),
        refused: error.message,
        name,
      };
    }
    const code = error.kind === "blocked" ? EDE.blocked : EDE.other;
    return { answer: reply(RCODE.nxDomain, [], [extendedError(code, error.message)]), refused: error.message, name };
  }
}

/** Reads the DNS message of an RFC 8484 request: a POST body, or the base64url `dns` parameter of a GET. */
export async function readDnsRequest(request: Request): Promise<Uint8Array | string> {
  if (request.method === "POST") {
    const type = request.headers.get("content-type") ?? "";
    if (!type.startsWith("application/dns-message"))
      return "a POST to /dns-query needs content-type application/dns-message";
    const body = new Uint8Array(await request.arrayBuffer());
    if (body.length > 4096) return "a DNS message of more than 4096 bytes";
    return body;
  }
  if (request.method === "GET") {
    const encoded = new URL(request.url).searchParams.get("dns");
    if (!encoded) return "a GET to /dns-query needs the dns parameter (base64url of a DNS message)";
    if (!/^[A-Za-z0-9_-]+$/.test(encoded) || encoded.length > 5500) return "the dns parameter is not base64url";
    return new Uint8Array(Buffer.from(encoded, "base64url"));
  }
  return `${request.method} is not served on /dns-query (GET or POST)`;
}
