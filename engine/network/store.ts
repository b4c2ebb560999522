// The networks a Docker daemon knows (`docker network ls`): the predefined bridge, host and none, and user-defined
// bridge networks with their IPAM (a subnet picked from dockerd's default pools unless given, a gateway, an optional
// ip-range), and each running container's endpoints on them (address, MAC, aliases). Pure bookkeeping: the guest's
// bridges and veth pairs are made by engine/network/networking.ts from what this store decides.
import { EngineError } from "../errors.ts";
import {
  contains,
  formatIpv4,
  formatSubnet,
  isIpv4,
  macOf,
  overlaps,
  parseIpv4,
  parseSubnet,
  type Subnet,
  subnetSize,
} from "./addresses.ts";

export type NetworkDriver = "bridge" | "host" | "null";

export interface IpamConfig {
  subnet: string;
  gateway: string;
  ipRange?: string;
}

export interface Network {
  id: string;
  name: string;
  driver: NetworkDriver;
  created: number;
  /** `bridge`, `host` and `none`: always there, never removed. */
  predefined: boolean;
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Empty for host and none. */
  ipam: IpamConfig[];
  /** The bridge device in the guest (`docker0`, `br-<first 12 of the id>`). */
  bridge?: string;
  /** A swarm's overlay network on this node: its bridge joined to the other nodes' by a VXLAN device. */
  overlay?: Overlay;
}

/**
 * What makes a node's bridge one segment of a swarm's overlay network, as the swarm's manager gives it: the same VNI,
 * subnet and gateway on every node, the node's own address in the subnet, and where the other nodes' tunnel ends are.
 */
export interface Overlay {
  /** The VXLAN network identifier (Docker's first is 4096, the ingress network's; user networks from 4097). */
  vni: number;
  /** The VXLAN device on the bridge (`vxlan<vni>`). */
  device: string;
  /** The bridge's and containers' MTU: eth0's 1500 less VXLAN's 50 bytes. */
  mtu: number;
  /** This node's (underlay) eth0 address, the tunnel's local end. */
  local: string;
  /** This node's own address on the network (the bridge's primary one, so what the node sends comes from it). */
  nodeAddress: string;
  /** The other nodes with this network: their eth0 addresses (a flood entry each). */
  peers: string[];
}

/** The MTU of an overlay network: VXLAN's outer IPv4, UDP, VXLAN and Ethernet headers take 50 of eth0's 1500 bytes. */
export const OVERLAY_MTU = 1450;

/** What a container asks of one network (`--network-alias`, `--ip`): the create body's EndpointsConfig entry. */
export interface EndpointConfig {
  aliases: string[];
  ipv4Address?: string;
}

/** A running container's attachment to a network. */
export interface Endpoint {
  id: string;
  networkId: string;
  containerId: string;
  containerName: string;
  /** The container's address without and with its prefix length. */
  ip: string;
  prefix: number;
  mac: string;
  /** Empty on an internal network (no way out). */
  gateway: string;
  aliases: string[];
  /** The interface in the container (`eth0`, `eth1`…). */
  ifname: string;
  /** The guest's end of the veth pair, once made. */
  hostIfname?: string;
}

/** What network a container's `--network` names: none, host, another container's, or networks by name. */
export type NetworkMode =
  | { kind: "none" }
  | { kind: "host" }
  | { kind: "container"; container: string }
  | { kind: "bridge"; network: string };

/**
 * Reads `--network` (`HostConfig.NetworkMode`) as dockerd does: empty and `default` are the default bridge.
 * @example
 * parseNetworkMode("container:web"); // { kind: "container", container: "web" }
 */
export function parseNetworkMode(mode: string | undefined): NetworkMode {
  if (!mode || mode === "default" || mode === "bridge") return { kind: "bridge", network: "bridge" };
  if (mode === "none") return { kind: "none" };
  if (mode === "host") return { kind: "host" };
  if (mode.startsWith("container:")) {
    const container = mode.slice("container:".length);
    if (!container) throw new EngineError("invalidArgument", `invalid network mode: ${mode}`);
    return { kind: "container", container };
  }
  return { kind: "bridge", network: mode };
}

const DEFAULT_BRIDGE = { subnet: "172.17.0.0/16", gateway: "172.17.0.1" };

export interface NetworkStoreOptions {
  /**
   * All of this engine's container addresses come from this block (a node's, so that nodes on one switch can route
   * to each other's containers without NAT, the blocks left out of the masquerade): the default bridge takes its
   * first /24, new networks the next /24s. By default dockerd's: 172.17.0.0/16 for docker0, then 172.18–31.0.0/16
   * and 192.168.0.0/16 in /20s.
   */
  addressSpace?: string;
}

/** The default bridge and the pools new networks take, inside `space` (a /16 to a /23). */
function addressSpacePlan(space: string): {
  bridge: { subnet: string; gateway: string };
  pools: () => Generator<Subnet>;
} {
  const block = parseSubnet(space);
  if (formatSubnet(block) !== space.trim() || block.prefix < 8 || block.prefix > 23) {
    throw new EngineError(
      "invalidArgument",
      `address space ${space} must be a network address with a prefix from /8 to /23 (such as 10.2.0.0/16)`,
    );
  }
  if (overlaps(block, GUEST_LINK)) {
    throw new EngineError("invalidArgument", `address space ${space} overlaps the guests' own link 192.168.86.0/24`);
  }
  const count = 2 ** (24 - block.prefix);
  return {
    bridge: { subnet: formatSubnet({ base: block.base, prefix: 24 }), gateway: formatIpv4(block.base + 1) },
    pools: function* () {
      for (let i = 1; i < count; i++) yield { base: (block.base + i * 256) >>> 0, prefix: 24 };
    },
  };
}

/** The guest's own link to v86's router: no network may take it. */
const GUEST_LINK = parseSubnet("192.168.86.0/24");

/** dockerd's default address pools: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s. */
function* defaultPools(): Generator<Subnet> {
  for (let second = 17; second <= 31; second++) yield parseSubnet(`172.${second}.0.0/16`);
  for (let third = 0; third < 256; third += 16) yield parseSubnet(`192.168.${third}.0/20`);
}

function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** What `docker network create` sends (the fields Drydock reads). */
export interface NetworkCreateRequest {
  name: string;
  driver?: string;
  internal?: boolean;
  attachable?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  ipam?: { subnet?: string; gateway?: string; ipRange?: string }[];
  enableIPv6?: boolean;
  /** A swarm overlay network's segment on this node (its id, subnet and gateway are the swarm's). */
  overlay?: { id: string; vni: number; local: string; nodeAddress: string; peers: string[] };
}

const notFound = (ref: string) => new EngineError("notFound", `network ${ref} not found`);

export class NetworkStore {
  readonly #networks = new Map<string, Network>();
  /** Each container's endpoints, by network id. */
  readonly #endpoints = new Map<string, Map<string, Endpoint>>();
  /** The last address handed out on each network, so the next one follows it (dockerd's allocator does). */
  readonly #last = new Map<string, number>();

  readonly #pools: () => Generator<Subnet>;

  constructor(options: NetworkStoreOptions = {}) {
    const plan = options.addressSpace ? addressSpacePlan(options.addressSpace) : undefined;
    this.#pools = plan?.pools ?? defaultPools;
    const now = Date.now();
    const predefined = (name: string, driver: NetworkDriver, extra: Partial<Network> = {}): void => {
      const network: Network = {
        id: newId(),
        name,
        driver,
        created: now,
        predefined: true,
        internal: false,
        attachable: false,
        labels: {},
        options: {},
        ipam: [],
        ...extra,
      };
      this.#networks.set(network.id, network);
    };
    predefined("bridge", "bridge", {
      ipam: [{ ...(plan?.bridge ?? DEFAULT_BRIDGE) }],
      bridge: "docker0",
      options: {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
        "com.docker.network.bridge.name": "docker0",
        "com.docker.network.driver.mtu": "1500",
      },
    });
    predefined("host", "host");
    predefined("none", "null");
  }

  list(): Network[] {
    return [...this.#networks.values()];
  }

  /** The default bridge (`docker0`). */
  get defaultBridge(): Network {
    return this.get("bridge");
  }

  /**
   * A network by full id, name, or unique id prefix, as dockerd looks them up (an exact id, then a name, then a
   * prefix).
   */
  get(ref: string): Network {
    const found = this.find(ref);
    if (!found) throw notFound(ref);
    return found;
  }

  find(ref: string): Network | undefined {
    const all = this.list();
    const exact = all.find((n) => n.id === ref) ?? all.find((n) => n.name === ref);
    if (exact) return exact;
    const prefixed = ref ? all.filter((n) => n.id.startsWith(ref)) : [];
    if (prefixed.length > 1) {
      throw new EngineError("invalidArgument", `network ${ref} is ambiguous (${prefixed.length} matches found)`);
    }
    return prefixed[0];
  }

  /** User-defined networks and the default bridge: the ones with a subnet of their own. */
  bridges(): Network[] {
    return this.list().filter((n) => n.driver === "bridge");
  }

  /**
   * Adds a user-defined bridge network; its subnet is the first of dockerd's pools that overlaps nothing unless
   * given. Refuses a taken name, a subnet overlapping another network's, and a gateway or ip-range outside it.
   */
  create(request: NetworkCreateRequest): Network {
    const name = request.name;
    if (!name) throw new EngineError("invalidArgument", "network name is required");
    if (!NAME.test(name)) {
      throw new EngineError(
        "invalidArgument",
        `invalid network name "${name}": use letters, digits, _ . - (starting with a letter or digit)`,
      );
    }
    if (this.list().some((n) => n.name === name)) {
      throw new EngineError("conflict", `network with name ${name} already exists`);
    }
    const driver = request.driver || "bridge";
    if (driver === "host" || driver === "null") {
      throw new EngineError("forbidden", `only one instance of "${driver}" network is allowed`);
    }
    if (driver !== "bridge") {
      throw new EngineError(
        "invalidArgument",
        `Drydock has the bridge network driver only (no "${driver}"): leave out --driver to make a bridge network`,
      );
    }
    if (request.enableIPv6) {
      throw new EngineError("invalidArgument", "the guest has no IPv6: leave out --ipv6");
    }
    const configs = request.ipam?.length ? request.ipam : [{}];
    if (configs.length > 1) {
      throw new EngineError("invalidArgument", "Drydock gives a network one IPv4 subnet: give --subnet once");
    }
    const wanted = configs[0]!;
    if (!wanted.subnet && (wanted.gateway || wanted.ipRange)) {
      throw new EngineError("invalidArgument", "every ip-range or gateway must have a corresponding subnet");
    }
    const taken = this.bridges().flatMap((n) => n.ipam.map((c) => parseSubnet(c.subnet)));
    let subnet: Subnet;
    if (wanted.subnet) {
      subnet = parseSubnet(wanted.subnet);
      if (formatSubnet(subnet) !== wanted.subnet.trim()) {
        throw new EngineError("invalidArgument", `invalid subnet ${wanted.subnet}: it has host bits set`);
      }
      if (subnet.prefix > 30) {
        throw new EngineError(
          "invalidArgument",
          `invalid subnet ${wanted.subnet}: a /30 or larger leaves room for hosts`,
        );
      }
      if (taken.some((t) => overlaps(t, subnet)) || overlaps(GUEST_LINK, subnet)) {
        throw new EngineError("forbidden", "invalid pool request: Pool overlaps with other one on this address space");
      }
    } else {
      const free = [...this.#pools()].find(
        (pool) => !overlaps(GUEST_LINK, pool) && !taken.some((t) => overlaps(t, pool)),
      );
      if (!free) {
        throw new EngineError(
          "forbidden",
          "all predefined address pools have been fully subnetted: remove unused networks (docker network prune)",
        );
      }
      subnet = free;
    }
    let gateway = formatIpv4(subnet.base + 1);
    if (wanted.gateway) {
      if (!isIpv4(wanted.gateway) || !contains(subnet, parseIpv4(wanted.gateway))) {
        throw new EngineError(
          "invalidArgument",
          `no matching subnet for gateway ${wanted.gateway}: it must be inside ${formatSubnet(subnet)}`,
        );
      }
      gateway = wanted.gateway;
    }
    const config: IpamConfig = { subnet: formatSubnet(subnet), gateway };
    if (wanted.ipRange) {
      const range = parseSubnet(wanted.ipRange);
      if (range.prefix < subnet.prefix || !contains(subnet, range.base)) {
        throw new EngineError(
          "invalidArgument",
          `no matching subnet for range ${wanted.ipRange}: it must be inside ${formatSubnet(subnet)}`,
        );
      }
      config.ipRange = formatSubnet(range);
    }
    const overlay = request.overlay;
    if (overlay) {
      if (!wanted.subnet) throw new EngineError("invalidArgument", "an overlay network's segment needs its subnet");
      for (const address of [overlay.local, overlay.nodeAddress]) {
        if (!isIpv4(address)) throw new EngineError("invalidArgument", `${address} is not an IPv4 address`);
      }
      if (!contains(subnet, parseIpv4(overlay.nodeAddress))) {
        throw new EngineError(
          "invalidArgument",
          `the node's address ${overlay.nodeAddress} is not in ${formatSubnet(subnet)}`,
        );
      }
    }
    const id = overlay?.id ?? newId();
    const network: Network = {
      id,
      name,
      driver: "bridge",
      created: Date.now(),
      predefined: false,
      internal: request.internal ?? false,
      attachable: request.attachable ?? false,
      labels: { ...request.labels },
      options: { ...request.options },
      ipam: [config],
      bridge: request.options?.["com.docker.network.bridge.name"] || `br-${id.slice(0, 12)}`,
      ...(overlay
        ? {
            overlay: {
              vni: overlay.vni,
              device: `vxlan${overlay.vni}`,
              mtu: OVERLAY_MTU,
              local: overlay.local,
              nodeAddress: overlay.nodeAddress,
              peers: [...overlay.peers],
            },
          }
        : {}),
    };
    this.#networks.set(id, network);
    return network;
  }

  /** The running containers attached to a network. */
  endpointsOf(networkId: string): Endpoint[] {
    return [...this.#endpoints.values()].flatMap((byNetwork) => {
      const endpoint = byNetwork.get(networkId);
      return endpoint ? [endpoint] : [];
    });
  }

  /** A container's endpoints, in the order they were made (eth0 first). */
  endpointsOfContainer(containerId: string): Endpoint[] {
    return [...(this.#endpoints.get(containerId)?.values() ?? [])];
  }

  /**
   * Forgets a user-defined network with no endpoints. A predefined one is refused (403 in dockerd), one that running
   * containers are attached to too (naming them).
   */
  remove(ref: string): Network {
    const network = this.get(ref);
    if (network.predefined) {
      throw new EngineError("forbidden", `${network.name} is a pre-defined network and cannot be removed`);
    }
    const active = this.endpointsOf(network.id);
    if (active.length) {
      const names = active.map((e) => `name:"${e.containerName}" id:"${e.containerId.slice(0, 12)}"`).join(", ");
      throw new EngineError(
        "conflict",
        `error while removing network: network ${network.name} has active endpoints (${names})`,
      );
    }
    this.#networks.delete(network.id);
    this.#last.delete(network.id);
    return network;
  }

  /**
   * Gives a running container an address on a bridge network: `ipv4Address` if asked (`--ip`, user-defined
   * networks only), else the next free one after the last handed out, as dockerd's allocator picks.
   */
  allocate(
    network: Network,
    container: { id: string; name: string },
    config: EndpointConfig = { aliases: [] },
  ): Endpoint {
    if (network.driver !== "bridge") {
      throw new EngineError(
        "invalidArgument",
        `network ${network.name} gives no addresses: it is not a bridge network`,
      );
    }
    const byNetwork = this.#endpoints.get(container.id) ?? new Map<string, Endpoint>();
    if (byNetwork.has(network.id)) {
      throw new EngineError(
        "forbidden",
        `endpoint with name ${container.name} already exists in network ${network.name}`,
      );
    }
    if (network.name === "bridge" && config.ipv4Address) {
      throw new EngineError("invalidArgument", "user specified IP address is supported on user defined networks only");
    }
    if (network.name === "bridge" && config.aliases.length) {
      throw new EngineError(
        "invalidArgument",
        "network-scoped alias is supported only for containers in user defined networks",
      );
    }
    if (network.overlay && !config.ipv4Address) {
      throw new EngineError(
        "invalidArgument",
        `network ${network.name} is a swarm's overlay network, whose addresses the swarm's manager gives: only a service's tasks join it (docker service create --network ${network.name})`,
      );
    }
    const ipam = network.ipam[0]!;
    const subnet = parseSubnet(ipam.subnet);
    const used = new Set(this.endpointsOf(network.id).map((e) => parseIpv4(e.ip)));
    used.add(parseIpv4(ipam.gateway));
    if (network.overlay) used.add(parseIpv4(network.overlay.nodeAddress));
    let address: number;
    if (config.ipv4Address) {
      address = parseIpv4(config.ipv4Address);
      if (!contains(subnet, address)) {
        throw new EngineError(
          "invalidArgument",
          `no configured subnet or ip-range contain the IP address ${config.ipv4Address}`,
        );
      }
      if (used.has(address)) throw new EngineError("forbidden", "Address already in use");
    } else {
      const range = ipam.ipRange ? parseSubnet(ipam.ipRange) : subnet;
      const size = subnetSize(range);
      const first = subnet.base;
      const last = subnet.base + subnetSize(subnet) - 1;
      const start = this.#last.get(network.id) ?? range.base;
      let found: number | undefined;
      for (let step = 1; step <= size; step++) {
        const candidate = range.base + ((start - range.base + step) % size);
        if (candidate === first || candidate === last || used.has(candidate)) continue;
        found = candidate;
        break;
      }
      if (found === undefined) {
        throw new EngineError("unavailable", `no available IPv4 addresses on network ${network.name}`);
      }
      address = found;
      this.#last.set(network.id, address);
    }
    const ip = formatIpv4(address);
    const endpoint: Endpoint = {
      id: newId(),
      networkId: network.id,
      containerId: container.id,
      containerName: container.name,
      ip,
      prefix: subnet.prefix,
      mac: macOf(ip),
      gateway: network.internal ? "" : ipam.gateway,
      aliases: [...config.aliases],
      ifname: `eth${this.#nextInterface(byNetwork)}`,
    };
    byNetwork.set(network.id, endpoint);
    this.#endpoints.set(container.id, byNetwork);
    return endpoint;
  }

  /** The lowest `ethN` the container does not use yet. */
  #nextInterface(byNetwork: Map<string, Endpoint>): number {
    const used = new Set([...byNetwork.values()].map((e) => e.ifname));
    let n = 0;
    while (used.has(`eth${n}`)) n++;
    return n;
  }

  /** Releases a container's address on one network (`docker network disconnect`, a stop). */
  release(containerId: string, networkId: string): Endpoint | undefined {
    const byNetwork = this.#endpoints.get(containerId);
    const endpoint = byNetwork?.get(networkId);
    byNetwork?.delete(networkId);
    if (byNetwork?.size === 0) this.#endpoints.delete(containerId);
    return endpoint;
  }
}
