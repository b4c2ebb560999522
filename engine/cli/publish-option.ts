// `-p`/`--publish` as docker's client reads it (its nat.ParsePortSpec): `[ip:][hostPort:]containerPort[/proto]`, with
// port ranges (`8000-8001:80-81` maps one to one; `8000-8010:80` lets the daemon pick one of the range).
import { FlagError } from "./flags.ts";

export interface PublishedSpec {
  /** `80/tcp` → its bindings, as HostConfig.PortBindings. */
  bindings: Record<string, { HostIp: string; HostPort: string }[]>;
  /** The container ports, exposed too (Config.ExposedPorts). */
  exposed: string[];
}

function range(text: string, what: "containerPort" | "hostPort"): [number, number] {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const low = Number(match?.[1]);
  const high = Number(match?.[2] ?? match?.[1]);
  if (!match || low < 1 || high > 65535 || high < low) throw new FlagError(`invalid ${what}: ${text}`);
  return [low, high];
}

/**
 * Reads every `-p` value into port bindings and exposed ports.
 * @example
 * parsePublish(["8080:80", "127.0.0.1::53/udp"]);
 * // { bindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }], "53/udp": [{ HostIp: "127.0.0.1", HostPort: "" }] }, … }
 */
export function parsePublish(specs: readonly string[]): PublishedSpec {
  const bindings: PublishedSpec["bindings"] = {};
  const exposed: string[] = [];
  for (const spec of specs) {
    const slash = spec.lastIndexOf("/");
    const proto = slash < 0 ? "tcp" : spec.slice(slash + 1).toLowerCase();
    const rest = slash < 0 ? spec : spec.slice(0, slash);
    if (!["tcp", "udp", "sctp"].includes(proto)) throw new FlagError(`invalid proto: ${proto}`);
    const parts = rest.split(":");
    if (parts.length > 3) throw new FlagError(`invalid port format: ${spec}`);
    const containerPart = parts.at(-1) ?? "";
    const hostPart = parts.length >= 2 ? parts.at(-2)! : "";
    const ip = parts.length === 3 ? parts[0]! : "";
    if (!containerPart) throw new FlagError(`no port specified: ${spec}<empty>`);
    if (ip && !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new FlagError(`invalid IP address: ${ip}`);
    const [low, high] = range(containerPart, "containerPort");
    const hostRange = hostPart ? range(hostPart, "hostPort") : undefined;
    const count = high - low + 1;
    if (hostRange && count > 1 && hostRange[1] - hostRange[0] + 1 !== count) {
      throw new FlagError(`invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
    }
    for (let i = 0; i < count; i++) {
      const key = `${low + i}/${proto}`;
      let hostPort = "";
      if (hostRange) {
        hostPort =
          count > 1
            ? String(hostRange[0] + i)
            : hostRange[0] === hostRange[1]
              ? String(hostRange[0])
              : `${hostRange[0]}-${hostRange[1]}`;
      }
      bindings[key] = [...(bindings[key] ?? []), { HostIp: ip, HostPort: hostPort }];
      if (!exposed.includes(key)) exposed.push(key);
    }
  }
  return { bindings, exposed };
}
