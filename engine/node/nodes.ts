// Several nodes in one Node daemon (`drydock daemon --nodes N`): N guests restored from the same saved state, joined
// by engine/cluster's switch, each with its own identity, container service and Engine API socket. Node 1 listens on
// the given socket, node k on `<socket>.node<k>` (unix:///tmp/drydock.sock.node2). The nodes share one image store
// (a pull on any node is seen by all); volumes and container records are each node's own (node 1's where a one-guest
// daemon keeps them, node k's in <data-root>/nodes/node<k>: volumes/ and containers.json). Node k's containers take
// their addresses from 10.k.0.0/16 (docker0 10.k.0.0/24) and every node routes the other nodes' blocks to them:
// containers on different nodes reach each other by address, without NAT (those blocks are left out of the masquerade).
// The nodes share one swarm manager (engine/swarm): `docker swarm init` on any node's socket makes the cluster's swarm,
// kept in <data-root>/swarm/swarm.json and restored at the next start.
import { join } from "node:path";
import { Cluster, type NodeIdentity, nodeAddressSpace, nodeIdentity, routeToNodes } from "../cluster/index.ts";
import { ContainerService } from "../container-service.ts";
import type { Drydock } from "../drydock.ts";
import type { ImageService } from "../image-service.ts";
import type { RelayConfig } from "../network/relay.ts";
import { guestTcpConnector } from "../preview/index.ts";
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
