// Several nodes in one Node daemon (`drydock daemon --nodes N`): N guests restored from the same saved state, joined
// by engine/cluster's switch, each with its own identity, container service and Engine API socket. Node 1 listens on
// the given socket, node k on `<socket>.node<k>` (unix:///tmp/drydock.sock.node2). The nodes share one image store
// (a pull on any node is seen by all); volumes and container records are each node's own (node 1's where a one-guest
// daemon keeps them, node k's in <data-root>/nodes/node<k>: volumes/ and containers.json). Node k's containers take
// their addresses from 10.k.0.0/16 (docker0 10.k.0.0/24) and every node routes the other nodes' blocks to them:
// containers on different nodes reach each other by address, without NAT (those blocks are left out of the masquerade).
// The nodes share one swarm manager (engine/swarm): `docker swarm init` on any node's socket makes the cluster's swarm,
// kept in <data-root>/swarm/swarm.json and restored at the next start.
// GuestNodes is the other shape, the page's in Node: one running guest whose terminal grows its cluster with
// `drydock node add` (what the lesson checker gives a lesson's guest), each added node with images of its own.
import { join } from "node:path";
import type { SwarmApi } from "../api/index.ts";
import type { ApiConnector, ApiTransport, CliIO } from "../cli/index.ts";
import { MemoryContextStore } from "../cli/index.ts";
import {
  type BlockRoute,
  Cluster,
  DRYDOCK_TOOL_PATH,
  DRYDOCK_TOOL_SCRIPT,
  FIRST_NODE_BLOCK,
  type ListedNode,
  LOCAL_DOCKER_HOST,
  LONE_NODE_ADDRESS,
  MAX_NODES,
  NODE_DOCKER_PORT,
  type NodeIdentity,
  nodeAddressSpace,
  nodeAtHost,
  nodeIdentity,
  routeBlocks,
  routeToNodes,
  runNodeCommand,
} from "../cluster/index.ts";
import { ContainerService } from "../container-service.ts";
import type { Drydock } from "../drydock.ts";
import { EngineError } from "../errors.ts";
import { serveDockerInGuest } from "../guest-docker.ts";
import { ImageService } from "../image-service.ts";
import type { RelayConfig } from "../network/relay.ts";
import type { ImageReference } from "../oci/index.ts";
import { guestTcpConnector } from "../preview/index.ts";
import type { RegistryEndpoint } from "../registry/index.ts";
import { GuestSupervisor } from "../supervisor/index.ts";
import { localNodeEngine, SwarmManager } from "../swarm/index.ts";
import { VolumeTree } from "../volumes/index.ts";
import { FsMetadataStore } from "./content-fs.ts";
import { type Daemon, socketPathOf, startDaemon } from "./daemon.ts";
import { HostBinds } from "./host-binds.ts";
import { bootDrydock } from "./index.ts";
import { publishSwarmOnHost } from "./swarm-publish.ts";
import { FsVolumeDataStore } from "./volume-data.ts";
import { nodeWasiWorkers } from "./wasi.ts";

/** The socket node `index` listens on, given node 1's (`--host`). */
export function nodeSocketPath(host: string, index: number): string {
  const first = socketPathOf(host);
  return index === 1 ? first : `${first}.node${index}`;
}

/**
 * Restores a guest and puts it on the cluster's switch as `identity` (the time to add a node); with `nodes`, routes
 * the container blocks of the cluster's other nodes (1…nodes) through their eth0 addresses.
 * @example
 * const drydock = await addNode(cluster, nodeIdentity(2), { nodes: 3 });
 */
export async function addNode(
  cluster: Cluster,
  identity: NodeIdentity,
  options: { relay?: RelayConfig; memoryMiB?: number; nodes?: number } = {},
): Promise<Drydock> {
  const { nodes, ...boot } = options;
  const drydock = await bootDrydock(boot);
  try {
    await cluster.join(drydock, identity);
    if (nodes !== undefined) await routeToNodes(drydock.agent, identity.index, nodes);
  } catch (error) {
    await drydock.dispose();
    throw error;
  }
  return drydock;
}

export interface NodeDaemonsOptions {
  /** How many nodes (1–99). */
  count: number;
  /** Node 1's socket (`unix:///path.sock`); node k's is `nodeSocketPath(host, k)`. */
  host: string;
  images: ImageService;
  /** The data root: node 1's volumes under <root>/volumes, node k's under <root>/nodes/node<k>/volumes. */
  root: string;
  relay?: RelayConfig;
  /** `--allow-bind`: host directories each node offers its containers (each node serves them over its own share). */
  allowBind?: readonly string[];
  memoryMiB?: number;
  onPublishError?: (message: string) => void;
  /** Told when a node's guest fails and when its fresh guest runs. */
  onFault?: (node: NodeIdentity, message: string) => void;
  onRestore?: (node: NodeIdentity) => void;
}

export interface ServedNode {
  identity: NodeIdentity;
  supervisor: GuestSupervisor;
  daemon: Daemon;
}

export interface NodeDaemons {
  cluster: Cluster;
  nodes: ServedNode[];
  /** The cluster's swarm (inactive until `docker swarm init` on a node). */
  swarm: SwarmManager;
  /**
   * Stops node `index`'s guest and its socket, as `docker-machine stop` would: the node is down to the swarm, which
   * reschedules its tasks. The others keep running.
   */
  stop(index: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts `count` nodes, one after the other, each served on its own socket.
 * @example
 * const served = await startNodeDaemons({ count: 3, host: "unix:///tmp/drydock.sock", images, root });
 */
export async function startNodeDaemons(options: NodeDaemonsOptions): Promise<NodeDaemons> {
  const cluster = new Cluster();
  const nodes: ServedNode[] = [];
  const volumeTrees: VolumeTree[] = [];
  const stopped = new Set<number>();
  // The swarm is kept in <data-root>/swarm/swarm.json (dockerd keeps its own under /var/lib/docker/swarm).
  const swarm = new SwarmManager({
    report: (message) => console.error(`drydock: ${message}`),
    store: await FsMetadataStore.open(join(options.root, "swarm")),
  });
  const stopNode = async (node: ServedNode) => {
    stopped.add(node.identity.index);
    // The container records are written before the guest goes (they are read back at the next start).
    await node.supervisor.containers
      .close()
      .catch((error: unknown) => console.error(`drydock: ${node.identity.name}: ${String(error)}`));
    await node.daemon.close();
    await node.supervisor.dispose();
  };
  // The swarm's published ports on the host's loopback too, carried into a node whose mesh listens on them.
  const hostPublishing = publishSwarmOnHost({
    swarm,
    connector: (member) => {
      const node = nodes.find((served) => served.identity.name === member);
      if (!node || stopped.has(node.identity.index) || node.supervisor.fault) return undefined;
      return guestTcpConnector(node.supervisor.containers.drydock.agent);
    },
    report: options.onPublishError ?? ((message) => console.error(`drydock: ${message}`)),
  });
  const close = async () => {
    swarm.close();
    await swarm.flush();
    hostPublishing.close();
    for (const node of [...nodes].reverse()) {
      if (stopped.has(node.identity.index)) continue;
      await stopNode(node);
    }
    for (const tree of volumeTrees) await tree.close();
  };
  try {
    for (let index = 1; index <= options.count; index++) {
      const identity = nodeIdentity(index);
      const volumesDir =
        index === 1 ? join(options.root, "volumes") : join(options.root, "nodes", identity.name, "volumes");
      // Each node's own containers.json: node 1's where a one-guest daemon keeps it, node k's beside its volumes.
      const records = index === 1 ? undefined : await FsMetadataStore.open(join(options.root, "nodes", identity.name));
      const volumes = await VolumeTree.open(new FsVolumeDataStore(volumesDir), {
        onError: (error) => console.error(`drydock: ${identity.name}: saving a volume failed: ${String(error)}`),
      });
      volumeTrees.push(volumes);
      const hostBinds = options.allowBind?.length ? await HostBinds.open(options.allowBind) : undefined;
      const supervisor = await GuestSupervisor.start({
        boot: () =>
          addNode(cluster, identity, {
            ...(options.relay ? { relay: options.relay } : {}),
            ...(options.memoryMiB ? { memoryMiB: options.memoryMiB } : {}),
            nodes: options.count,
          }),
        open: (drydock) =>
          ContainerService.open(drydock, options.images, {
            wasiWorkers: nodeWasiWorkers(),
            volumes,
            ...(hostBinds ? { hostBinds: { resolver: hostBinds, tree: hostBinds.tree } } : {}),
            addressSpace: nodeAddressSpace(index),
            ...(records ? { records } : {}),
          }),
      });
      supervisor.onFault((fault) => options.onFault?.(identity, fault.message));
      swarm.addMember({
        identity,
        engine: () => (stopped.has(index) ? undefined : localNodeEngine(supervisor.containers, options.images)),
        up: () => !stopped.has(index) && supervisor.fault === undefined,
      });
      supervisor.onRestore(() => options.onRestore?.(identity));
      const daemon = await startDaemon({
        host: `unix://${nodeSocketPath(options.host, index)}`,
        images: options.images,
        supervisor,
        root: options.root,
        name: identity.name,
        id: identity.id,
        swarm: { manager: swarm, member: identity.name },
        ...(options.onPublishError ? { onPublishError: options.onPublishError } : {}),
      }).catch(async (error: unknown) => {
        await supervisor.dispose();
        throw error;
      });
      nodes.push({ identity, supervisor, daemon });
    }
    // The swarm of the last run, once every node is a member again: its tasks are checked against the guests.
    if (await swarm.restore()) console.log(`drydock: the swarm ${swarm.swarm!.id} is back from the last run`);
  } catch (error) {
    await close();
    throw error;
  }
  const stop = async (index: number) => {
    const node = nodes.find((served) => served.identity.index === index);
    if (!node) throw new Error(`there is no node ${index}: the nodes are 1 to ${nodes.length}`);
    if (!stopped.has(index)) await stopNode(node);
  };
  return { cluster, nodes, swarm, stop, close };
}

export interface GuestNodesOptions {
  /** The running guest (node1: the terminal's), its containers and images. */
  first: Drydock;
  containers: ContainerService;
  images: ImageService;
  /** Where an added node pulls images from (each node has images of its own, as on another machine). */
  endpoint?: (reference: ImageReference) => RegistryEndpoint;
  memoryMiB?: number;
}

interface GuestNode extends ListedNode {
  identity: NodeIdentity;
  drydock: Drydock;
  service: ContainerService;
  fetch: ApiTransport;
  /** Takes it off the switch. */
  leave: () => void;
}

/**
 * The page's nodes, in Node: a running guest (node1) whose `drydock node add` restores another guest onto a switch
 * with it, served to the terminal's docker as the context `node2` (and so on), in one swarm manager. Added nodes have
 * images of their own, pulled from `endpoint`; `localhost:5000` is node1's registry on every node.
 * @example
 * const nodes = new GuestNodes({ first: drydock, containers, images });
 * await serveDockerInGuest(drydock, { images, containers, ...nodes.guestDocker() });
 * await nodes.install();
 */
export class GuestNodes {
  readonly contexts = new MemoryContextStore();
  readonly swarm: SwarmManager;
  readonly #options: GuestNodesOptions;
  readonly #added = new Map<string, GuestNode>();
  #cluster: { cluster: Cluster; identity: NodeIdentity } | undefined;
  /** Adds and removals one at a time: each changes every node's routes. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: GuestNodesOptions) {
    this.#options = options;
    this.swarm = new SwarmManager({ report: (message) => console.error(`drydock: ${message}`) });
    this.swarm.addMember({
      identity: nodeIdentity(1),
      engine: () => localNodeEngine(options.containers, options.images),
      up: () => true,
    });
  }

  /** What serveDockerInGuest takes for node1: contexts, `drydock node`, and its place in the swarm. */
  guestDocker(): {
    connector: (local: ApiTransport) => ApiConnector;
    tools: Record<string, (argv: string[], io: CliIO) => Promise<number>>;
    swarm: SwarmApi;
  } {
    return {
      connector: (local) => this.connector(local),
      tools: { drydock: (argv, io) => this.command(argv, io) },
      swarm: { manager: this.swarm, member: "node1" },
    };
  }

  /** Puts the guest's `drydock` command in place. */
  async install(): Promise<void> {
    await this.#options.first.agent.writeFile(DRYDOCK_TOOL_PATH, DRYDOCK_TOOL_SCRIPT, 0o755);
  }

  list(): ListedNode[] {
    const first: ListedNode = this.#cluster
      ? {
          name: "node1",
          address: this.#cluster.identity.address,
          containers: FIRST_NODE_BLOCK,
          host: `tcp://${this.#cluster.identity.address}:${NODE_DOCKER_PORT}`,
          addMs: 0,
        }
      : { name: "node1", address: LONE_NODE_ADDRESS, containers: FIRST_NODE_BLOCK, host: LOCAL_DOCKER_HOST, addMs: 0 };
    const others = [...this.#added.values()].sort((a, b) => a.identity.index - b.identity.index);
    return [
      first,
      ...others.map(({ name, address, containers, host, addMs }) => ({ name, address, containers, host, addMs })),
    ];
  }

  connector(local: ApiTransport): ApiConnector {
    return {
      defaultHost: LOCAL_DOCKER_HOST,
      contexts: this.contexts,
      connect: (host) => {
        const node = nodeAtHost(host, this.list());
        if (!node) {
          throw new EngineError(
            "unavailable",
            `Cannot connect to the Docker daemon at ${host}. Is the docker daemon running? (no node is there: drydock node ls lists them)`,
          );
        }
        return node.name === "node1" ? local : this.#added.get(node.name)!.fetch;
      },
    };
  }

  command(argv: string[], io: CliIO): Promise<number> {
    return runNodeCommand(argv, io, {
      add: () => this.add(),
      remove: (name) => this.remove(name),
      list: () => this.list(),
      target: () => {
        const current = this.contexts.current();
        const host =
          current === "default"
            ? LOCAL_DOCKER_HOST
            : (this.contexts.list().find((record) => record.name === current)?.host ?? "");
        return nodeAtHost(host, this.list())?.name;
      },
    });
  }

  add(): Promise<ListedNode> {
    const next = this.#queue.then(() => this.#add());
    this.#queue = next.catch(() => {});
    return next;
  }

  remove(name: string): Promise<void> {
    const next = this.#queue.then(() => this.#remove(name));
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Stops every added node's guest. */
  async close(): Promise<void> {
    this.swarm.close();
    for (const name of [...this.#added.keys()]) await this.#remove(name).catch(() => {});
  }

  #routesFor(name: string): BlockRoute[] {
    return this.list()
      .filter((node) => node.name !== name)
      .map((node) => ({ block: node.containers, via: node.address }));
  }

  async #add(): Promise<ListedNode> {
    const started = performance.now();
    const taken = new Set(this.list().map((node) => Number(node.name.slice(4))));
    let index = 2;
    while (taken.has(index)) index++;
    if (index > MAX_NODES) throw new Error(`there are ${MAX_NODES} nodes already: remove one first`);
    if (!this.#cluster) {
      const cluster = new Cluster();
      const identity = nodeIdentity(1);
      await cluster.join(this.#options.first, identity);
      this.#cluster = { cluster, identity };
      this.contexts.create({
        name: "node1",
        description: `Drydock node 1 (${identity.address})`,
        host: `tcp://${identity.address}:${NODE_DOCKER_PORT}`,
      });
    }
    const identity = nodeIdentity(index);
    const name = identity.name;
    const containers = nodeAddressSpace(index);
    const own = this.#options.images.registry;
    const drydock = await bootDrydock(this.#options.memoryMiB ? { memoryMiB: this.#options.memoryMiB } : {});
    let service: ContainerService | undefined;
    try {
      const { leave } = await this.#cluster.cluster.join(drydock, identity);
      await routeBlocks(drydock.agent, name, this.#routesFor(name));
      const images = await ImageService.open({
        storage: "memory",
        ...(this.#options.endpoint ? { endpoint: this.#options.endpoint } : {}),
        ...(own ? { registry: { host: own.host, remote: (request: Request) => own.fetch(request) } } : {}),
      });
      service = ContainerService.open(drydock, images, {
        wasiWorkers: nodeWasiWorkers(),
        addressSpace: containers,
        records: false,
      });
      const docker = await serveDockerInGuest(drydock, {
        images,
        containers: service,
        swarm: { manager: this.swarm, member: name },
      });
      const route = [{ block: containers, via: identity.address }];
      await routeBlocks(this.#options.first.agent, "node1", route);
      for (const other of this.#added.values()) await routeBlocks(other.drydock.agent, other.name, route);
      const node: GuestNode = {
        name,
        address: identity.address,
        containers,
        host: `tcp://${identity.address}:${NODE_DOCKER_PORT}`,
        addMs: performance.now() - started,
        identity,
        drydock,
        service,
        fetch: docker.fetch,
        leave,
      };
      this.#added.set(name, node);
      const engine = localNodeEngine(service, images);
      this.swarm.addMember({ identity, engine: () => engine, up: () => this.#added.has(name) });
      this.contexts.create({ name, description: `Drydock node ${index} (${identity.address})`, host: node.host });
      return node;
    } catch (error) {
      await service?.close().catch(() => {});
      await drydock.dispose().catch(() => {});
      throw error;
    }
  }

  async #remove(name: string): Promise<void> {
    if (name === "node1") throw new Error("node1 is the terminal's own guest: it cannot be removed");
    const node = this.#added.get(name);
    if (!node)
      throw new Error(
        `no node named ${name}: the nodes are ${this.list()
          .map((n) => n.name)
          .join(", ")}`,
      );
    this.#added.delete(name);
    // Its swarm node stays, down, until docker node rm; its tasks are placed on the others.
    this.swarm.removeMember(name);
    if (this.contexts.list().some((record) => record.name === name)) this.contexts.remove(name);
    node.leave();
    await node.service.close().catch(() => {});
    await node.drydock.dispose().catch(() => {});
    const gone = [node.containers];
    await routeBlocks(this.#options.first.agent, "node1", [], gone).catch(() => {});
    for (const other of this.#added.values())
      await routeBlocks(other.drydock.agent, other.name, [], gone).catch(() => {});
  }
}
