// The files dockerd writes for each container and binds over its /etc: hosts (localhost, `--add-host` entries, the
// container's own address under its hostname) and resolv.conf (the embedded resolver on user-defined networks, the
// default bridge's gateway resolver there, or the `--dns` servers asked for).
import { EngineError } from "../errors.ts";
import { isIpv4 } from "./addresses.ts";

/** An `--add-host name:ip` entry (`host-gateway` already replaced by the gateway's address). */
export interface ExtraHost {
  host: string;
  ip: string;
}

/**
 * Reads `--add-host` values (`HostConfig.ExtraHosts`): `name:ip` or `name=ip`; `host-gateway` stands for the
 * container's gateway, resolved when it starts.
 * @example
 * parseExtraHost("db:10.0.0.5"); // { host: "db", ip: "10.0.0.5" }
 */
export function parseExtraHost(entry: string): ExtraHost {
  const at = entry.search(/[:=]/);
  const host = at < 0 ? "" : entry.slice(0, at);
  const ip = at < 0 ? "" : entry.slice(at + 1);
  if (!host || !/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(host) || (ip !== "host-gateway" && !isIpv4(ip))) {
    throw new EngineError(
      "invalidArgument",
      ip.includes(":")
        ? `invalid IP address in add-host: "${ip}" (the guest has no IPv6)`
        : `invalid argument "${entry}" for "--add-host" flag: use name:ip (an IPv4 address, or host-gateway)`,
    );
  }
  return { host, ip };
}

const LOCAL_LINES = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
];

/**
 * A container's /etc/hosts: localhost, its `--add-host` entries, then its own address under its hostname (with no
 * address, as with `--network none`, the hostname is on the loopback line).
 * @example
 * hostsFile("3f2a1b4c5d6e", ["172.17.0.2"], []); // "127.0.0.1\tlocalhost\n…172.17.0.2\t3f2a1b4c5d6e\n"
 */
export function hostsFile(hostname: string, addresses: readonly string[], extraHosts: readonly ExtraHost[]): string {
  const lines = [...LOCAL_LINES];
  if (addresses.length === 0) lines[0] = `127.0.0.1\tlocalhost ${hostname}`;
  for (const { host, ip } of extraHosts) lines.push(`${ip}\t${host}`);
  for (const ip of addresses) lines.push(`${ip}\t${hostname}`);
  return `${lines.join("\n")}\n`;
}

/**
 * A running container's /etc/hosts after `docker network connect`: its address on the new network under its
 * hostname, at the end (as dockerd adds it), the rest of the file as it was.
 * @example
 * addHostsEntry("127.0.0.1\tlocalhost\n", "172.19.0.2", "web"); // "127.0.0.1\tlocalhost\n172.19.0.2\tweb\n"
 */
export function addHostsEntry(text: string, ip: string, hostname: string): string {
  const body = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  return `${body}${ip}\t${hostname}\n`;
}

/**
 * A running container's /etc/hosts after `docker network disconnect`: the lines of its address on that network
 * under its hostname go; anything else (the user's own lines for that address too) stays.
 * @example
 * removeHostsEntry("127.0.0.1\tlocalhost\n172.19.0.2\tweb\n", "172.19.0.2", "web"); // "127.0.0.1\tlocalhost\n"
 */
export function removeHostsEntry(text: string, ip: string, hostname: string): string {
  return text
    .split(/(?<=\n)/)
    .filter((line) => {
      const [address, ...names] = line.trim().split(/\s+/);
      return !(address === ip && names.length === 1 && names[0] === hostname);
    })
    .join("");
}

/** What a container's resolv.conf points at. */
export type ResolverKind =
  | { kind: "embedded" }
  | { kind: "gateway"; gateway: string }
  | { kind: "servers"; servers: readonly string[] }
  | { kind: "none" };

/**
 * A container's /etc/resolv.conf. On user-defined networks the embedded resolver (127.0.0.11, `ndots:0` as dockerd
 * writes it; `--dns` servers become its upstreams); on the default bridge the gateway, where the same resolver
 * listens for the guest, or the `--dns` servers themselves.
 * @example
 * resolvConf({ kind: "embedded" }, [], []); // "…nameserver 127.0.0.11\noptions ndots:0\n"
 */
export function resolvConf(resolver: ResolverKind, search: readonly string[], options: readonly string[]): string {
  const lines: string[] = [];
  switch (resolver.kind) {
    case "embedded":
      lines.push("# Drydock's embedded resolver: container names and aliases on this container's networks.");
      lines.push("nameserver 127.0.0.11");
      break;
    case "gateway":
      lines.push("# The default bridge's gateway, where Drydock's resolver listens for the guest.");
      lines.push(`nameserver ${resolver.gateway}`);
      break;
    case "servers":
      for (const server of resolver.servers) lines.push(`nameserver ${server}`);
      break;
    case "none":
      lines.push("# This container has a loopback interface only: no name servers.");
      break;
  }
  if (search.length) lines.push(`search ${search.join(" ")}`);
  const opts =
    resolver.kind === "embedded" && !options.some((o) => o.startsWith("ndots:")) ? [...options, "ndots:0"] : options;
  if (opts.length) lines.push(`options ${opts.join(" ")}`);
  return `${lines.join("\n")}\n`;
}
