// Which network addresses the proxy may connect to. A proxy that fetches URLs named by upstream responses (token
// realms, blob redirects) must not become a way into the network it runs in, so every host is classified after DNS
// resolution and anything but a public unicast address is refused unless the operator configured that host.

export type AddressKind =
  | "public"
  | "loopback"
  | "private"
  | "linkLocal"
  | "unspecified"
  | "sharedNat"
  | "multicast"
  | "reserved"
  | "documentation"
  | "invalid";

type Range4 = readonly [base: number, prefix: number, kind: AddressKind];

const ip4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

// IANA's special-purpose IPv4 registry, reduced to what matters for "may a proxy connect here".
const RANGES4: readonly Range4[] = [
  [ip4(0, 0, 0, 0), 8, "unspecified"],
  [ip4(10, 0, 0, 0), 8, "private"],
  [ip4(100, 64, 0, 0), 10, "sharedNat"],
  [ip4(127, 0, 0, 0), 8, "loopback"],
  [ip4(169, 254, 0, 0), 16, "linkLocal"],
  [ip4(172, 16, 0, 0), 12, "private"],
  [ip4(192, 0, 0, 0), 24, "reserved"],
  [ip4(192, 0, 2, 0), 24, "documentation"],
  [ip4(192, 88, 99, 0), 24, "reserved"],
  [ip4(192, 168, 0, 0), 16, "private"],
  [ip4(198, 18, 0, 0), 15, "reserved"],
  [ip4(198, 51, 100, 0), 24, "documentation"],
  [ip4(203, 0, 113, 0), 24, "documentation"],
  [ip4(224, 0, 0, 0), 4, "multicast"],
  [ip4(240, 0, 0, 0), 4, "reserved"],
];

function parseIPv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

function classify4(value: number): AddressKind {
  for (const [base, prefix, kind] of RANGES4) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if ((value & mask) >>> 0 === base) return kind;
  }
  return "public";
}

/** Parses an IPv6 address (without brackets or zone) into eight 16-bit groups. */
function parseIPv6(text: string): number[] | undefined {
  let head = text;
  // An embedded IPv4 tail (`::ffff:10.0.0.1`) stands for the last two groups: rewrite it in hex first.
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (!left || !right) return undefined;
  const explicit = left.length + right.length;
  if (halves.length === 1) return explicit === 8 ? left : undefined;
  if (explicit > 7) return undefined;
  return [...left, ...new Array<number>(8 - explicit).fill(0), ...right];
}

function classify6(g: number[]): AddressKind {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, h1 = 0, h2 = 0] = g;
  const embedded4 = (h1 << 16) | h2;
  if (g.every((x) => x === 0)) return "unspecified";
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0 && h1 === 0 && h2 === 1) return "loopback";
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses reach the IPv4 address they embed.
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && (f === 0xffff || f === 0)) {
    return classify4(embedded4 >>> 0);
  }
  // NAT64 (64:ff9b::/96) also embeds an IPv4 address a gateway would connect to.
  if (a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0) return classify4(embedded4 >>> 0);
  // 6to4 (2002::/16) embeds one in groups 2–3.
  if (a === 0x2002) return classify4(((b << 16) | c) >>> 0);
  if ((a & 0xfe00) === 0xfc00) return "private"; // unique local fc00::/7
  if ((a & 0xffc0) === 0xfe80) return "linkLocal"; // fe80::/10
  if ((a & 0xffc0) === 0xfec0) return "private"; // deprecated site-local fec0::/10
  if ((a & 0xff00) === 0xff00) return "multicast";
  if (a === 0x2001 && b === 0x0db8) return "documentation";
  if (a === 0x0100 && b === 0 && c === 0 && d === 0) return "reserved"; // discard-only 100::/64
  if (a === 0x2001 && b < 0x0200) return "reserved"; // 2001::/23: Teredo, benchmarking, ORCHID…
  if ((a & 0xe000) !== 0x2000) return "reserved"; // only 2000::/3 is global unicast
  return "public";
}

/** Classifies an IP address literal (IPv4 dotted quad or IPv6, with or without brackets). */
export function classifyAddress(address: string): AddressKind {
  const text = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return classify4(v4);
  // A zone index (`fe80::1%eth0`) only exists on link-local addresses.
  if (text.includes("%")) return "linkLocal";
  const v6 = parseIPv6(text);
  return v6 ? classify6(v6) : "invalid";
}

/** Whether `host` (a URL's hostname) is an IP literal rather than a DNS name. */
export function isIpLiteral(host: string): boolean {
  return classifyAddress(host) !== "invalid";
}

/** Names that never reach the public internet, whatever DNS says. */
export function isLocalName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost") || h.endsWith(".local") || h.endsWith(".internal");
}
