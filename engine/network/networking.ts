// Container networking as dockerd does it, over the guest's GuestNetwork: the networks (store.ts) made real as
// bridges with isolation between them, and each container's network brought up when it starts (a sandbox, one
// endpoint per network, the embedded DNS server, published ports) and taken down when it stops, also after a start
// that failed half-way. Every guest step is traced by the GuestNetwork as the command behind it.
import { EngineError, isEngineError } from "../errors.ts";
import { answerDns, type DnsUpstream, dnsServersUpstream } from "./dns.ts";
import { addHostsEntry, type ExtraHost, hostsFile, type ResolverKind, removeHostsEntry, resolvConf } from "./files.ts";
import type { GuestNetwork } from "./guest.ts";
import type { PortRuleOptions } from "./iptables.ts";
import {
  PortAllocator,
  type PortBinding,
  type PortBindings,
  type PublishedPort,
  parseHostPort,
  parsePortKey,
} from "./ports.ts";
import {
  type Endpoint,
  type EndpointConfig,
  type Network,
  type NetworkCreateRequest,
  type NetworkMode,
  NetworkStore,
  parseNetworkMode,
} from "./store.ts";

/** Where the embedded resolver listens in a container on a user-defined network, as dockerd's. */
export const EMBEDDED_DNS = "127.0.0.11";

/** What a container asked for, from its checked run options. */
export interface ContainerNetworkRequest {
  /** `HostConfig.NetworkMode` as given (`default`, `bridge`, `none`, `host`, `container:web`, `mynet`). */
  networkMode: string;
  /** Per network name: `--network-alias`, `--ip`. */
  endpoints: Record<string, EndpointConfig>;
  portBindings: PortBindings;
  publishAllPorts: boolean;
  extraHosts: ExtraHost[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
}

/** The container as networking needs to know it when it starts. */
export interface StartingContainer {
  id: string;
  name: string;
  hostname: string;
  /** Ports it exposes (`80/tcp`), for `-P`. */
  exposedPorts: string[];
  request: ContainerNetworkRequest;
}

/** What a started container's spawn and /etc files get. */
export interface NetworkSetup {
  /**
   * The network namespace to join: a path (a sandbox, or another container's), `"host"` for the guest's own, or
   * undefined for a new one with lo only (`--network none`).
   */
  netns?: string;
  hosts: string;
  resolvConf: string;
}

/** A running container's network, to take down at its stop. */
interface Running {
  /** Whether it has a sandbox of its own (a bridge mode container). */
  sandbox: boolean;
  published: PublishedPort[];
  /** The iptables rules of its published ports (DNAT to its first endpoint), to delete at its stop. */
  nat: PortRuleOptions[];
  dns: boolean;
  setup: NetworkSetup;
  extraHosts: ExtraHost[];
  /** Its `--dns` servers: the embedded resolver forwards to them instead of the engine's upstream, as dockerd. */
  dnsServers?: DnsUpstream;
  /** The hostname its /etc/hosts gives its addresses. */
  hostname: string;
  /** Its `--dns-search` and `--dns-option` values, for a resolv.conf written again at `network connect`. */
  search: readonly string[];
  dnsOptions: readonly string[];
}

/** The files bound over a running container's /etc/hosts and /etc/resolv.conf in the guest, read and rewritten in place. */
export interface ContainerFiles {
  read(containerId: string, file: "hosts" | "resolv.conf"): Promise<string>;
  write(containerId: string, file: "hosts" | "resolv.conf", text: string): Promise<void>;
}

/** Finds another container for `--network container:<ref>`. */
export type PeerLookup = (ref: string) => { id: string; pid?: number; running: boolean };

export interface NetworkingOptions {
  /** The guest's kernel; without it only `--network none` and `host` containers can run. */
  guest?: GuestNetwork;
  /** The block container addresses come from (a node's; see NetworkStoreOptions). dockerd's pools by default. */
  addressSpace?: string;
  /** Where names the engine does not know are resolved (the relay's DNS); none: SERVFAIL. */
  upstream?: DnsUpstream;
  /** Where a running container's /etc/hosts and resolv.conf are kept, so `network connect`/`disconnect` edit them. */
  files?: ContainerFiles;
  /**
   * Destinations containers reach by their own addresses, left out of the masquerade (a cluster's container blocks,
   * routed between nodes); none: everything leaving a bridge is masqueraded, as dockerd does.
   */
  routed?: string;
}

const portError = (container: { name: string }, endpointId: string, error: unknown) =>
  isEngineError(error, "conflict")
    ? new EngineError(
        "conflict",
        `driver failed programming external connectivity on endpoint ${container.name} (${endpointId}): ${error.message}`,
      )
    : error;

export class Networking {
  readonly store: NetworkStore;
  readonly ports = new PortAllocator();
  readonly guest: GuestNetwork | undefined;
  upstream: DnsUpstream | undefined;
  readonly files: ContainerFiles | undefined;
  readonly #routed: string | undefined;
  /**
   * Names known beyond this guest, asked per user-defined network (a swarm's service names, answered with its tasks'
   * addresses on every node); undefined: none.
   */
  clusterNames:
    | ((network: string, name: string, type: string) => string[] | undefined | Promise<string[] | undefined>)
    | undefined;
  /** Bridges made in the guest (or being made), by network id. */
  readonly #bridges = new Map<string, Promise<void>>();
  /** The networks each container is connected to (by network id), running or not. */
  readonly #configs = new Map<string, Map<string, EndpointConfig>>();
  readonly #modes = new Map<string, NetworkMode>();
  readonly #running = new Map<string, Running>();

  constructor(options: NetworkingOptions = {}) {
    this.store = new NetworkStore(options.addressSpace ? { addressSpace: options.addressSpace } : {});
    this.guest = options.guest;
    this.upstream = options.upstream;
    this.files = options.files;
    this.#routed = options.routed;
  }

  #bridgeRules(network: Network): { bridge: string; subnet: string; routed?: string } {
    return {
      bridge: network.bridge!,
      subnet: network.ipam[0]!.subnet,
      ...(this.#routed ? { routed: this.#routed } : {}),
    };
  }

  /** Edits a running container's /etc/hosts in the guest (and what a `container:` joiner copies). */
  async #editHosts(id: string, running: Running, edit: (text: string) => string): Promise<void> {
    running.setup.hosts = edit(running.setup.hosts);
    if (!this.files) return;
    await this.files.write(id, "hosts", edit(await this.files.read(id, "hosts")));
  }

  #requireGuest(what: string): GuestNetwork {
    if (!this.guest) {
      throw new EngineError(
        "unavailable",
        `this engine's guest has no container networking, so ${what} cannot be set up: run with --network none`,
      );
    }
    return this.guest;
  }

  /**
   * `docker network create`: the network in the store, its bridge in the guest, and isolation from every other
   * bridge network's subnet.
   */
  async create(request: NetworkCreateRequest): Promise<Network> {
    const network = this.store.create(request);
    if (this.guest) {
      try {
        await this.#ensureBridge(network);
      } catch (error) {
        this.store.remove(network.id);
        throw error;
      }
    }
    return network;
  }

  #ensureBridge(network: Network): Promise<void> {
    let made = this.#bridges.get(network.id);
    if (!made) {
      const guest = this.#requireGuest(`the bridge of network ${network.name}`);
      made = (async () => {
        const ipam = network.ipam[0]!;
        const prefix = ipam.subnet.split("/")[1];
        const overlay = network.overlay;
        if (overlay) {
          // Every node's bridge holds the gateway, its containers' way out; the node's own address comes first, so
          // what the node itself sends into the subnet (the routing mesh, the engine's connections) is answered to it
          // and not to whichever node's gateway the answer meets first.
          await guest.createBridge(network.bridge!, [`${overlay.nodeAddress}/${prefix}`, `${ipam.gateway}/${prefix}`]);
          await guest.createVxlan({
            name: overlay.device,
            vni: overlay.vni,
            local: overlay.local,
            bridge: network.bridge!,
            mtu: overlay.mtu,
          });
          await Promise.all(overlay.peers.map((peer) => guest.floodEntry(overlay.device, peer, true)));
        } else {
          await guest.createBridge(network.bridge!, `${ipam.gateway}/${prefix}`);
        }
        const others = this.store
          .bridges()
          .filter((n) => n.id !== network.id)
          .map((n) => n.ipam[0]!.subnet);
        await Promise.all([
          guest.bridgeRules(this.#bridgeRules(network), true),
          ...others.map((subnet) => guest.isolate(ipam.subnet, subnet)),
        ]);
        // The default bridge's gateway is its containers' name server: the resolver listens there for them.
        if (network.name === "bridge") {
          await guest.serveDns(undefined, ipam.gateway, (query) => answerDns(query, () => undefined, this.upstream));
        }
      })().catch((error: unknown) => {
        this.#bridges.delete(network.id);
        throw error;
      });
      this.#bridges.set(network.id, made);
    }
    return made;
  }

  /** `docker network rm`: refused for a predefined network or one with running containers on it. */
  async remove(ref: string): Promise<Network> {
    const network = this.store.remove(ref);
    this.#dropConfigs(network.id);
    const made = this.#bridges.get(network.id);
    this.#bridges.delete(network.id);
    if (made && this.guest) {
      const guest = this.guest;
      await made.catch(() => {});
      const subnet = network.ipam[0]!.subnet;
      await Promise.all([
        guest.removeBridge(network.bridge!),
        ...(network.overlay ? [guest.removeVxlan(network.overlay.device)] : []),
        guest.bridgeRules(this.#bridgeRules(network), false),
        ...this.store.bridges().map((other) => guest.unisolate(subnet, other.ipam[0]!.subnet)),
      ]);
    }
    return network;
  }

  /**
   * The other nodes an overlay network's segment floods to (their eth0 addresses): a flood entry is added for each
   * new one and deleted for each gone, as nodes join the network or leave the swarm.
   */
  async setOverlayPeers(ref: string, peers: readonly string[]): Promise<void> {
    const network = this.store.get(ref);
    const overlay = network.overlay;
    if (!overlay) throw new EngineError("invalidArgument", `network ${network.name} is not an overlay network`);
    const before = overlay.peers;
    const added = peers.filter((peer) => !before.includes(peer));
    const gone = before.filter((peer) => !peers.includes(peer));
    overlay.peers = [...peers];
    const made = this.#bridges.get(network.id);
    if (!made || !this.guest) return;
    await made;
    const guest = this.guest;
    try {
      await Promise.all([
        ...added.map((peer) => guest.floodEntry(overlay.device, peer, true)),
        ...gone.map((peer) => guest.floodEntry(overlay.device, peer, false)),
      ]);
    } catch (error) {
      overlay.peers = before;
      throw error;
    }
  }

  /** Stopped containers connected to a removed network are no longer (dockerd keeps a dangling reference). */
  #dropConfigs(networkId: string): void {
    for (const configs of this.#configs.values()) configs.delete(networkId);
  }

  /** `docker network prune`: every user-defined network no running container is on (and `keep` spares). */
  async prune(keep: (network: Network) => boolean = () => false): Promise<string[]> {
    const removed: string[] = [];
    for (const network of this.store.list()) {
      if (network.predefined || keep(network) || this.store.endpointsOf(network.id).length) continue;
      await this.remove(network.id);
      removed.push(network.name);
    }
    return removed;
  }

  /** The containers (running or not) connected to a network. */
  containersOn(networkId: string): string[] {
    return [...this.#configs.entries()].filter(([, configs]) => configs.has(networkId)).map(([id]) => id);
  }

  /**
   * Checks a new container's network request against the networks there are, and records which networks it is on
   * (its endpoints are made when it starts). `--network container:` and host refuse what cannot apply to them.
   */
  register(id: string, request: ContainerNetworkRequest, peer: PeerLookup): void {
    const mode = parseNetworkMode(request.networkMode);
    const configs = new Map<string, EndpointConfig>();
    if (mode.kind === "container") {
      peer(mode.container);
      const published = Object.keys(request.portBindings).length > 0 || request.publishAllPorts;
      if (published) {
        throw new EngineError(
          "invalidArgument",
          "conflicting options: port publishing and the container type network mode",
        );
      }
      if (request.dns.length) throw new EngineError("invalidArgument", "conflicting options: dns and the network mode");
      if (request.extraHosts.length) {
        throw new EngineError("invalidArgument", "conflicting options: custom host-to-IP mapping and the network mode");
      }
    }
    if (mode.kind === "bridge") {
      const network = this.store.get(mode.network);
      const own = request.endpoints[mode.network] ?? request.endpoints[network.name] ?? { aliases: [] };
      this.#checkEndpointConfig(network, own);
      configs.set(network.id, {
        aliases: [...own.aliases],
        ...(own.ipv4Address ? { ipv4Address: own.ipv4Address } : {}),
      });
    }
    this.#modes.set(id, mode);
    this.#configs.set(id, configs);
  }

  #checkEndpointConfig(network: Network, config: EndpointConfig): void {
    if (network.overlay && !config.ipv4Address) {
      throw new EngineError(
        "invalidArgument",
        `network ${network.name} is a swarm's overlay network, whose addresses the swarm's manager gives: only a service's tasks join it (docker service create --network ${network.name})`,
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
  }

  /** Forgets a removed container. */
  forget(id: string): void {
    this.#configs.delete(id);
    this.#modes.delete(id);
  }

  /** The container's network mode (`none`, `host`, `container`, or a bridge network by name). */
  modeOf(id: string): NetworkMode | undefined {
    return this.#modes.get(id);
  }

  /** The networks a container is connected to, each with what it asked for and its endpoint while it runs. */
  networksOf(id: string): { network: Network; config: EndpointConfig; endpoint?: Endpoint }[] {
    const endpoints = this.store.endpointsOfContainer(id);
    return [...(this.#configs.get(id)?.entries() ?? [])].flatMap(([networkId, config]) => {
      const network = this.store.find(networkId);
      if (!network) return [];
      const endpoint = endpoints.find((e) => e.networkId === networkId);
      return [{ network, config, ...(endpoint ? { endpoint } : {}) }];
    });
  }

  /** The interfaces (`eth0`, `eth1`…) of a running container's endpoints, whose counters `docker stats` shows. */
  interfacesOf(id: string): string[] {
    return this.store.endpointsOfContainer(id).map((endpoint) => endpoint.ifname);
  }

  /** The ports published for a running container. */
  publishedOf(id: string): PublishedPort[] {
    return this.#running.get(id)?.published ?? [];
  }

  /** The names (container name, aliases, short id) a container's embedded resolver answers, with `--add-host`s. */
  async #lookup(id: string, name: string, type = "A"): Promise<string[] | undefined> {
    const found: string[] = [];
    for (const own of this.store.endpointsOfContainer(id)) {
      const network = this.store.find(own.networkId);
      if (!network || network.name === "bridge") continue;
      for (const peer of this.store.endpointsOf(network.id)) {
        const names = [peer.containerName, peer.containerId.slice(0, 12), ...peer.aliases].map((n) => n.toLowerCase());
        if (names.includes(name) && !found.includes(peer.ip)) found.push(peer.ip);
      }
      // The manager may be in another worker (the page's nodes): its answer can take a message's round trip.
      for (const ip of (await this.clusterNames?.(network.name, name, type)) ?? [])
        if (!found.includes(ip)) found.push(ip);
    }
    for (const extra of this.#running.get(id)?.extraHosts ?? []) {
      if (extra.host.toLowerCase() === name && !found.includes(extra.ip)) found.push(extra.ip);
    }
    return found.length ? found : undefined;
  }

  /**
   * Brings up a starting container's network: for a bridge mode container a sandbox with an endpoint per network,
   * the embedded resolver on user-defined networks and its published ports; for `container:` the other container's
   * namespace. Resolves with what the spawn joins and the /etc files to write. Whatever was made before a failure
   * is taken down again.
   */
  async setUp(container: StartingContainer, peer: PeerLookup): Promise<NetworkSetup> {
    const { request } = container;
    const mode = this.#modes.get(container.id) ?? parseNetworkMode(request.networkMode);
    const search = request.dnsSearch;
    const options = request.dnsOptions;
    // A guest without container networking (an older drydockd) still runs default containers, as with --network
    // none; anything that needs a network of its own says it cannot have one.
    const loopbackOnly =
      !this.guest &&
      mode.kind === "bridge" &&
      mode.network === "bridge" &&
      Object.keys(request.portBindings).length === 0 &&
      !request.publishAllPorts;
    if (mode.kind === "none" || loopbackOnly) {
      const setup = {
        hosts: hostsFile(container.hostname, [], request.extraHosts),
        resolvConf: resolvConf(
          request.dns.length ? { kind: "servers", servers: request.dns } : { kind: "none" },
          search,
          options,
        ),
      };
      return setup;
    }
    if (mode.kind === "host") {
      const gateway = this.store.defaultBridge.ipam[0]!.gateway;
      return {
        netns: "host",
        hosts: hostsFile(container.hostname, [], request.extraHosts),
        resolvConf: resolvConf(
          request.dns.length ? { kind: "servers", servers: request.dns } : { kind: "gateway", gateway },
          search,
          options,
        ),
      };
    }
    if (mode.kind === "container") {
      const other = peer(mode.container);
      if (!other.running || other.pid === undefined) {
        throw new EngineError(
          "conflict",
          `cannot join network namespace of a non running container: container ${other.id.slice(0, 12)} is not running`,
        );
      }
      const joined = this.#running.get(other.id)?.setup;
      const otherMode = this.#modes.get(other.id);
      return {
        ...(otherMode?.kind === "host" ? { netns: "host" } : { netns: `/proc/${other.pid}/ns/net` }),
        hosts: joined?.hosts ?? hostsFile(container.hostname, [], []),
        resolvConf: joined?.resolvConf ?? resolvConf({ kind: "none" }, [], []),
      };
    }
    const guest = this.#requireGuest(`the network of container ${container.name}`);
    const configs = this.#configs.get(container.id) ?? new Map<string, EndpointConfig>();
    const networks = [...configs.keys()].map((networkId) => {
      const network = this.store.find(networkId);
      if (!network) throw new EngineError("notFound", `network ${networkId} not found`);
      return network;
    });
    if (networks.length === 0) networks.push(this.store.defaultBridge);
    const running: Running = {
      sandbox: true,
      published: [],
      nat: [],
      dns: false,
      setup: { hosts: "", resolvConf: "" },
      extraHosts: [],
      hostname: container.hostname,
      search,
      dnsOptions: options,
    };
    this.#running.set(container.id, running);
    try {
      await Promise.all(networks.map((network) => this.#ensureBridge(network)));
      const endpoints = networks.map((network) =>
        this.store.allocate(network, container, configs.get(network.id) ?? { aliases: [] }),
      );
      const first = endpoints[0]!;
      running.extraHosts = request.extraHosts.map((extra) =>
        extra.ip === "host-gateway" ? { host: extra.host, ip: first.gateway || networks[0]!.ipam[0]!.gateway } : extra,
      );
      const published = this.#allocatePorts(container, first.id);
      running.published = published;
      const userNetwork = networks.some((n) => n.name !== "bridge");
      running.dns = userNetwork;
      if (request.dns.length) {
        running.dnsServers = dnsServersUpstream(request.dns, (ip, port) => guest.connectTcp(ip, port));
      }
      // Sent together: drydockd answers its requests in the order they arrive, so the sandbox exists before the
      // veth pairs go into it, and one round trip brings the whole network up.
      const steps: Promise<unknown>[] = [guest.createSandbox(container.id)];
      endpoints.forEach((endpoint, index) => {
        const network = networks[index]!;
        steps.push(
          guest
            .attach(container.id, {
              bridge: network.bridge!,
              ifname: endpoint.ifname,
              cidr: `${endpoint.ip}/${endpoint.prefix}`,
              mac: endpoint.mac,
              ...(index === 0 && endpoint.gateway ? { gateway: endpoint.gateway } : {}),
              ...(network.overlay ? { mtu: network.overlay.mtu } : {}),
            })
            .then((hostIfname) => {
              endpoint.hostIfname = hostIfname;
            }),
        );
      });
      if (userNetwork) {
        steps.push(guest.serveDns(container.id, EMBEDDED_DNS, (query) => this.answer(container.id, query)));
      }
      for (const port of published) {
        const rules: PortRuleOptions = {
          ...port,
          bridge: networks[0]!.bridge!,
          targetIp: first.ip,
          targetPort: port.containerPort,
        };
        running.nat.push(rules);
        steps.push(guest.portRules(rules, true));
        steps.push(
          guest.publish({ ...port, targetIp: first.ip, targetPort: port.containerPort }).catch((error: unknown) => {
            throw portError(container, first.id, error);
          }),
        );
      }
      const settled = await Promise.allSettled(steps);
      const failed = settled.find((result): result is PromiseRejectedResult => result.status === "rejected");
      if (failed) throw failed.reason;
      const { netns } = { netns: await steps[0]!.then((made) => (made as { path: string }).path) };
      const resolver: ResolverKind = userNetwork
        ? { kind: "embedded" }
        : request.dns.length
          ? { kind: "servers", servers: request.dns }
          : { kind: "gateway", gateway: first.gateway || networks[0]!.ipam[0]!.gateway };
      running.setup = {
        netns,
        // One line per network, as dockerd adds one for each endpoint the sandbox joins.
        hosts: hostsFile(
          container.hostname,
          endpoints.map((endpoint) => endpoint.ip),
          running.extraHosts,
        ),
        resolvConf: resolvConf(resolver, search, options),
      };
      return running.setup;
    } catch (error) {
      await this.tearDown(container.id).catch(() => {});
      throw error;
    }
  }

  /** The ports a starting container publishes: its PortBindings, and with `-P` each exposed port not bound. */
  #allocatePorts(container: StartingContainer, endpointId: string): PublishedPort[] {
    const { portBindings, publishAllPorts } = container.request;
    const wanted: [string, PortBinding][] = Object.entries(portBindings).flatMap(([key, list]) =>
      list.map((binding) => [key, binding] as [string, PortBinding]),
    );
    if (publishAllPorts) {
      for (const key of container.exposedPorts)
        if (!(key in portBindings)) wanted.push([key, { hostIp: "", hostPort: "" }]);
    }
    const published: PublishedPort[] = [];
    try {
      for (const [key, binding] of wanted) {
        const { port, proto } = parsePortKey(key);
        const hostIp = binding.hostIp || "0.0.0.0";
        const hostPort = this.ports.allocate(proto, hostIp, parseHostPort(binding.hostPort));
        published.push({ proto, containerPort: port, hostIp, hostPort });
      }
    } catch (error) {
      for (const port of published) this.ports.release(port.proto, port.hostIp, port.hostPort);
      throw portError(container, endpointId, error);
    }
    return published;
  }

  /** The embedded resolver's answer to a query from a container: other names go to its `--dns` servers, if any. */
  answer(containerId: string, query: Uint8Array): Promise<Uint8Array> {
    const upstream = this.#running.get(containerId)?.dnsServers ?? this.upstream;
    return answerDns(query, (name, type) => this.#lookup(containerId, name, type), upstream);
  }

  /**
   * Takes a stopped container's network down: its published ports, its sandbox (its veth pairs and DNS server go
   * with it) and its addresses. Safe to call for a container that has none.
   */
  async tearDown(id: string): Promise<void> {
    const running = this.#running.get(id);
    this.#running.delete(id);
    const endpoints = this.store.endpointsOfContainer(id);
    for (const endpoint of endpoints) this.store.release(id, endpoint.networkId);
    if (!running) return;
    for (const port of running.published) this.ports.release(port.proto, port.hostIp, port.hostPort);
    if (!running.sandbox || !this.guest) return;
    const guest = this.guest;
    const steps = [
      ...running.published.map((port) =>
        guest.unpublish({ proto: port.proto, hostIp: port.hostIp, hostPort: port.hostPort }),
      ),
      ...running.nat.map((rules) => guest.portRules(rules, false)),
      guest.removeSandbox(id),
    ];
    const settled = await Promise.allSettled(steps);
    const failed = settled.find((result): result is PromiseRejectedResult => result.status === "rejected");
    if (failed) throw failed.reason;
  }

  /**
   * `docker network connect`: records the network for the container, and when it runs gives it an endpoint there
   * at once (the next `ethN`, and the embedded resolver if it had none).
   */
  async connect(
    networkRef: string,
    container: { id: string; name: string; running: boolean },
    config: EndpointConfig,
  ): Promise<void> {
    const network = this.store.get(networkRef);
    const mode = this.#modes.get(container.id);
    if (network.driver !== "bridge" || (mode && mode.kind !== "bridge")) {
      throw new EngineError(
        "forbidden",
        mode?.kind === "none" || network.driver === "null"
          ? "container cannot be connected to multiple networks with one of the networks in private (none) mode"
          : mode?.kind === "container"
            ? "container sharing network namespace with another container or host cannot be connected to any other network"
            : "container cannot be disconnected from host network or connected to host network",
      );
    }
    this.#checkEndpointConfig(network, config);
    const configs = this.#configs.get(container.id) ?? new Map<string, EndpointConfig>();
    if (configs.has(network.id)) {
      throw new EngineError(
        "forbidden",
        `endpoint with name ${container.name} already exists in network ${network.name}`,
      );
    }
    const running = this.#running.get(container.id);
    if (container.running && running?.sandbox) {
      const guest = this.#requireGuest(`network ${network.name}`);
      await this.#ensureBridge(network);
      const endpoint = this.store.allocate(network, container, config);
      try {
        endpoint.hostIfname = await guest.attach(container.id, {
          bridge: network.bridge!,
          ifname: endpoint.ifname,
          cidr: `${endpoint.ip}/${endpoint.prefix}`,
          mac: endpoint.mac,
          ...(network.overlay ? { mtu: network.overlay.mtu } : {}),
        });
        if (!running.dns && network.name !== "bridge") {
          // Started on the default bridge, it asked the gateway (or its --dns servers): as dockerd, it moves to the
          // embedded resolver, which knows the new network's names and forwards the rest to the same upstreams.
          await guest.serveDns(container.id, EMBEDDED_DNS, (query) => this.answer(container.id, query));
          running.dns = true;
          running.setup.resolvConf = resolvConf({ kind: "embedded" }, running.search, running.dnsOptions);
          await this.files?.write(container.id, "resolv.conf", running.setup.resolvConf);
        }
        await this.#editHosts(container.id, running, (text) => addHostsEntry(text, endpoint.ip, running.hostname));
      } catch (error) {
        this.store.release(container.id, network.id);
        throw error;
      }
    }
    configs.set(network.id, config);
    this.#configs.set(container.id, configs);
  }

  /** `docker network disconnect`: the endpoint goes (now, if the container runs) and so does the network's entry. */
  async disconnect(networkRef: string, container: { id: string; name: string }): Promise<void> {
    const network = this.store.get(networkRef);
    const configs = this.#configs.get(container.id);
    if (!configs?.has(network.id)) {
      const mode = this.#modes.get(container.id);
      if ((mode?.kind === "host" && network.name === "host") || (mode?.kind === "none" && network.name === "none")) {
        throw new EngineError(
          "forbidden",
          "container cannot be disconnected from host network or connected to host network",
        );
      }
      throw new EngineError(
        "forbidden",
        `container ${container.id.slice(0, 12)} is not connected to network ${network.name}`,
      );
    }
    const endpoint = this.store.endpointsOfContainer(container.id).find((e) => e.networkId === network.id);
    if (endpoint && this.guest) {
      await this.guest.detach(container.id, endpoint.ifname);
      this.store.release(container.id, network.id);
      const running = this.#running.get(container.id);
      if (running?.sandbox) {
        await this.#editHosts(container.id, running, (text) => removeHostsEntry(text, endpoint.ip, running.hostname));
      }
    }
    configs.delete(network.id);
  }
}
