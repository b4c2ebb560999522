/**
 * The Drydock relay: the guarded way out for containers and builds. v86's virtio-net card speaks Wisp (TCP streams
 * multiplexed over one WebSocket) to `<relay>/wisp/`; the engine's embedded DNS asks `<relay>/dns-query` (RFC 8484).
 *
 * The rules (policy.ts, limits.ts):
 * - only names on the allowlist resolve (default: Debian's and Alpine's domains and the registries the proxy
 *   fronts), and only to public addresses (the proxy's address checker, web/proxy/address.ts);
 * - a TCP stream to an address goes through only if the resolver handed that address to that client for an
 *   allowlisted name in the last ten minutes, and only to ports 80 and 443; a stream that names a host is resolved,
 *   checked and connected to the very address checked;
 * - UDP is refused, except DNS to port 53, which the relay answers itself under the same rules;
 * - per client: new streams per minute, streams open at once, bytes per minute, DNS queries per minute;
 * - every refusal is a Wisp CLOSE with the reason (0x48 blocked, 0x49 throttled) or a DNS error with an Extended
 *   DNS Error text, and a log line.
 *
 * Running it: `npm run dev` and `npm run preview` mount it at `/relay` (vite-plugin.ts); standalone,
 * `npm run relay -- --port 8090` (cli.ts, `--help` for the options).
 */

export { answerDnsQuery, type DnsOutcome } from "./dns.ts";
export { ClientLimits, DEFAULT_RELAY_LIMITS, type RelayLimits } from "./limits.ts";
export {
  Allowlist,
  DEFAULT_ALLOWLIST,
  DEFAULT_PORTS,
  Refusal,
  RelayPolicy,
  type RelayPolicyOptions,
  registryHosts,
} from "./policy.ts";
export { clientKey, createRelay, type Relay, type RelayOptions } from "./server.ts";
export * from "./wisp.ts";
