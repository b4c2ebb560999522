// IPv4 addresses and subnets as numbers, for IPAM: parsing `172.18.0.0/16`, overlap, the n-th host of a subnet, and
// the MAC dockerd derives from an address (`02:42:` + its four bytes).
import { EngineError } from "../errors.ts";

/** A subnet as numbers: `base` is its first address (host bits zero), `prefix` its length. */
export interface Subnet {
  base: number;
  prefix: number;
}

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** Whether `text` is a dotted IPv4 address. */
export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

/**
 * A dotted IPv4 address as an unsigned 32-bit number.
 * @example
 * parseIpv4("172.17.0.1"); // 2886795265
 */
export function parseIpv4(text: string): number {
  const match = IPV4.exec(text);
  if (!match) throw new EngineError("invalidArgument", `invalid IP address: ${text}`);
  return ((Number(match[1]) << 24) | (Number(match[2]) << 16) | (Number(match[3]) << 8) | Number(match[4])) >>> 0;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * `172.18.0.0/16` as a Subnet; the address is reduced to its network (`172.18.5.0/16` → base 172.18.0.0) only when
 * `strict` is false, else host bits are refused as dockerd refuses them.
 * @example
 * parseSubnet("10.1.0.0/24"); // { base: 167837696, prefix: 24 }
 */
export function parseSubnet(text: string): Subnet {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  const prefix = Number(match?.[2]);
  if (!match || !isIpv4(match[1]!) || prefix > 32) {
    throw new EngineError("invalidArgument", `invalid CIDR address: ${text}`);
  }
  const address = parseIpv4(match[1]!);
  return { base: (address & mask(prefix)) >>> 0, prefix };
}

export function formatSubnet(subnet: Subnet): string {
  return `${formatIpv4(subnet.base)}/${subnet.prefix}`;
}

/** How many addresses a subnet spans. */
export function subnetSize(subnet: Subnet): number {
  return 2 ** (32 - subnet.prefix);
}

export function contains(subnet: Subnet, address: number): boolean {
  return (address & mask(subnet.prefix)) >>> 0 === subnet.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return (a.base & mask(prefix)) >>> 0 === (b.base & mask(prefix)) >>> 0;
}

/**
 * The MAC address dockerd gives an endpoint: the locally administered prefix 02:42, then the IPv4 address's bytes.
 * @example
 * macOf("172.17.0.2"); // "02:42:ac:11:00:02"
 */
export function macOf(ip: string): string {
  const value = parseIpv4(ip);
  const bytes = [2, 0x42, ...[24, 16, 8, 0].map((shift) => (value >>> shift) & 255)];
  return bytes.map((byte) => byte.toString(16).padStart(2, "0")).join(":");
}
