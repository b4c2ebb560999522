// Several nodes in one Node daemon (`drydock daemon --nodes N`): N guests restored from the same saved state, joined
// by engine/cluster's switch, each with its own identity, container service and Engine API socket. Node 1 listens on
// the given socket, node k on `<socket>.node<k>` (unix:///tmp/drydock.sock.node2). The nodes share one image store
// (a pull on any node is seen by all); volumes are each node's own (<data-root>/volumes for node 1,
// <data-root>/nodes/node<k>/volumes for the others).
import { join } from "node:path";
import { Cluster, type NodeIdentity, nodeIdentity } from "../cluster/index.ts";
import { ContainerService } from "../container-service.ts";
import type { Drydock } from "../drydock.ts";
import type { ImageService } from "../image-service.ts";
import type { RelayConfig } from "../network/relay.ts";
import { GuestSupervisor } from "../supervisor/index.ts";
import { VolumeTree } from "../volumes/index.ts";
import { type Daemon, socketPathOf, startDaemon } from "./daemon.ts";
import { bootDrydock } from "./index.ts";
import { FsVolumeDataStore } from "./volume-data.ts";
import { nodeWasiWorkers } from "./wasi.ts";

/** The socket node `index` listens on, given node 1's (`--host`). */
export function nodeSocketPath(host: string, index: number): string {
  const first = socketPathOf(host);
  return index === 1 ? first : `${first}.node${index}`;
}

/**
 * Restores a guest and puts it on the cluster's switch as `identity` (the time to add a node).
 * @example
 * const drydock = await addNode(cluster, nodeIdentity(2));
 */
export async function addNode(
  cluster: Cluster,
  identity: NodeIdentity,
  options: { relay?: RelayConfig; memoryMiB?: number } = {},
): Promise<Drydock> {
  const drydock = await bootDrydock(options);
  try {
    await cluster.join(drydock, identity);
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
  const close = async () => {
    for (const node of nodes.reverse()) {
      await node.daemon.close();
      await node.supervisor.dispose();
    }
    for (const tree of volumeTrees) await tree.close();
  };
  try {
    for (let index = 1; index <= options.count; index++) {
      const identity = nodeIdentity(index);
      const volumesDir =
        index === 1 ? join(options.root, "volumes") : join(options.root, "nodes", identity.name, "volumes");
      const volumes = await VolumeTree.open(new FsVolumeDataStore(volumesDir), {
        onError: (error) => console.error(`drydock: ${identity.name}: saving a volume failed: ${String(error)}`),
      });
      volumeTrees.push(volumes);
      const supervisor = await GuestSupervisor.start({
        boot: () =>
          addNode(cluster, identity, {
            ...(options.relay ? { relay: options.relay } : {}),
            ...(options.memoryMiB ? { memoryMiB: options.memoryMiB } : {}),
          }),
        open: (drydock) => ContainerService.open(drydock, options.images, { wasiWorkers: nodeWasiWorkers(), volumes }),
      });
      supervisor.onFault((fault) => options.onFault?.(identity, fault.message));
      supervisor.onRestore(() => options.onRestore?.(identity));
      const daemon = await startDaemon({
        host: `unix://${nodeSocketPath(options.host, index)}`,
        images: options.images,
        supervisor,
        root: options.root,
        name: identity.name,
        id: identity.id,
        ...(options.onPublishError ? { onPublishError: options.onPublishError } : {}),
      }).catch(async (error: unknown) => {
        await supervisor.dispose();
        throw error;
      });
      nodes.push({ identity, supervisor, daemon });
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { cluster, nodes, close };
}
