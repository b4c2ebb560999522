// Published ports (`-p`, `-P`): the create body's PortBindings read and checked, and the host ports handed out, as
// dockerd's port allocator does (a port asked for, the first free one of a range, or an ephemeral one from
// 32768–60999 following the last one given). The guest's userland proxy listens on what is allocated here.
import { EngineError } from "../errors.ts";
import { isIpv4 } from "./addresses.ts";

export type Protocol = "tcp" | "udp";

/** One entry of PortBindings as the API carries it: an empty HostPort asks for an ephemeral port. */
export interface PortBinding {
  hostIp: string;
  hostPort: string;
}

/** `80/tcp` → its bindings (HostConfig.PortBindings). */
export type PortBindings = Record<string, PortBinding[]>;

/** A port published while the container runs. */
export interface PublishedPort {
  proto: Protocol;
  containerPort: number;
  /** `0.0.0.0` when every address of the guest. */
  hostIp: string;
  hostPort: number;
}

export const EPHEMERAL_PORTS = { low: 32768, high: 60999 } as const;

const invalid = (message: string) => new EngineError("invalidArgument", message);

/**
 * A port key of ExposedPorts or PortBindings (`80`, `80/tcp`, `53/udp`) as number and protocol.
 * @example
 * parsePortKey("53/udp"); // { port: 53, proto: "udp" }
 */
export function parsePortKey(key: string): { port: number; proto: Protocol } {
  const match = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key.trim());
  const port = Number(match?.[1]);
  if (!match || port < 1 || port > 65535) throw invalid(`invalid port specification: "${key}"`);
  const proto = (match[2] ?? "tcp").toLowerCase();
  if (proto === "sctp") throw invalid(`Drydock's port proxy forwards tcp and udp, not sctp: ${key}`);
  return { port, proto: proto as Protocol };
}

/** A HostPort value: empty (ephemeral), one port, or a range `8000-8010`. */
export function parseHostPort(text: string): { low: number; high: number } | undefined {
  if (text === "" || text === "0") return undefined;
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const low = Number(match?.[1]);
  const high = Number(match?.[2] ?? match?.[1]);
  if (!match || low < 1 || high > 65535 || high < low) throw invalid(`invalid hostPort: ${text}`);
  return { low, high };
}

/**
 * The create body's PortBindings (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`) read and checked.
 * @example
 * readPortBindings({ "80/tcp": [{ HostIp: "", HostPort: "8080" }] }); // { "80/tcp": [{ hostIp: "", hostPort: "8080" }] }
 */
export function readPortBindings(raw: unknown): PortBindings {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw invalid("HostConfig.PortBindings must be an object");
  const bindings: PortBindings = {};
  for (const [key, list] of Object.entries(raw as Record<string, unknown>)) {
    const entries = Array.isArray(list) ? list : list === null ? [{}] : undefined;
    if (!entries) throw invalid(`HostConfig.PortBindings["${key}"] must be a list`);
    bindings[key] = entries.map((entry: unknown) => {
      const item = (entry ?? {}) as Record<string, unknown>;
      return {
        hostIp: typeof item.HostIp === "string" ? item.HostIp : "",
        hostPort: typeof item.HostPort === "string" ? item.HostPort : String(item.HostPort ?? ""),
      };
    });
  }
  return checkPortBindings(bindings);
}

/**
 * Checks port bindings: keys are ports (`80`, `80/tcp`; keyed back as `80/tcp`), host IPs IPv4 addresses (or
 * empty), host ports a port, a range, or empty.
 * @example
 * checkPortBindings({ "80": [{ hostIp: "", hostPort: "8080" }] }); // { "80/tcp": [{ hostIp: "", hostPort: "8080" }] }
 */
export function checkPortBindings(bindings: PortBindings): PortBindings {
  const checked: PortBindings = {};
  for (const [key, list] of Object.entries(bindings)) {
    const { port, proto } = parsePortKey(key);
    checked[`${port}/${proto}`] = list.map(({ hostIp, hostPort }) => {
      if (hostIp && !isIpv4(hostIp)) {
        throw invalid(
          hostIp.includes(":")
            ? `the guest has no IPv6: publish on an IPv4 address, not ${hostIp}`
            : `invalid IP address: ${hostIp}`,
        );
      }
      parseHostPort(hostPort);
      return { hostIp, hostPort };
    });
  }
  return checked;
}

/**
 * The host ports in use in the guest, per protocol: dockerd's allocator. 0.0.0.0 takes a port on every address.
 * @example
 * const ports = new PortAllocator();
 * ports.allocate("tcp", "0.0.0.0"); // 32768
 * ports.allocate("tcp", "0.0.0.0", { low: 8080, high: 8080 }); // 8080, or "port is already allocated"
 */
export class PortAllocator {
  /** `tcp/8080` → the host IPs listening on it. */
  readonly #used = new Map<string, Set<string>>();
  #last: Record<Protocol, number> = { tcp: EPHEMERAL_PORTS.high, udp: EPHEMERAL_PORTS.high };

  #free(proto: Protocol, hostIp: string, port: number): boolean {
    const ips = this.#used.get(`${proto}/${port}`);
    if (!ips || ips.size === 0) return true;
    return hostIp !== "0.0.0.0" && !ips.has("0.0.0.0") && !ips.has(hostIp);
  }

  #take(proto: Protocol, hostIp: string, port: number): number {
    const key = `${proto}/${port}`;
    const ips = this.#used.get(key) ?? new Set<string>();
    ips.add(hostIp);
    this.#used.set(key, ips);
    return port;
  }

  allocate(proto: Protocol, hostIp: string, wanted?: { low: number; high: number }): number {
    if (wanted) {
      for (let port = wanted.low; port <= wanted.high; port++) {
        if (this.#free(proto, hostIp, port)) return this.#take(proto, hostIp, port);
      }
      const shown = wanted.low === wanted.high ? `${wanted.low}` : `${wanted.low}-${wanted.high}`;
      throw new EngineError("conflict", `Bind for ${hostIp}:${shown} failed: port is already allocated`);
    }
    const span = EPHEMERAL_PORTS.high - EPHEMERAL_PORTS.low + 1;
    for (let step = 1; step <= span; step++) {
      const port = EPHEMERAL_PORTS.low + ((this.#last[proto] - EPHEMERAL_PORTS.low + step) % span);
      if (this.#free(proto, hostIp, port)) {
        this.#last[proto] = port;
        return this.#take(proto, hostIp, port);
      }
    }
    throw new EngineError("unavailable", "all ports are allocated");
  }

  release(proto: Protocol, hostIp: string, port: number): void {
    const key = `${proto}/${port}`;
    const ips = this.#used.get(key);
    ips?.delete(hostIp);
    if (ips?.size === 0) this.#used.delete(key);
  }
}
