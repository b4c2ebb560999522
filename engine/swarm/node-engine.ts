// What the swarm's manager does on a node: the few operations of the node's container service (and image store) a
// task, an overlay network's segment, the routing mesh and service names need, and nothing else. Every call is asynchronous and
// takes and gives plain data, so the same manager drives a node whose engine is in its own process or worker (the
// page's node2…, over a MessagePort) as well as one beside it (Node's `drydock daemon --nodes N`, node1 of the page):
// `localNodeEngine` here is the one beside it; the page's worker holds the other (web/swarm-nodes.ts).
import type { ContainerService } from "../container-service.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { ImageService } from "../image-service.ts";
import type { LogEntry, LogReadOptions } from "../runtime/logs.ts";
import type { RunOptions } from "../runtime/options.ts";

/** A container of a task as the manager checks it against the guest: undefined when it is gone. */
export interface TaskContainerState {
  status: string;
  exitCode?: number;
}

/** What the node's embedded DNS server asks the manager for a service's name on one of its networks. */
export type ServiceNames = (
  network: string,
  name: string,
  type: string,
) => string[] | undefined | Promise<string[] | undefined>;

/** A port of the routing mesh on a node: the node listens on `port` and forwards to `targetIp:targetPort`. */
export interface MeshPort {
  proto: "tcp" | "udp";
  port: number;
  targetIp: string;
  targetPort: number;
}

/**
 * A swarm overlay network as one node gets it from the manager: the swarm's id, VNI, subnet and gateway (the same on
 * every node), the node's own address in the subnet and its eth0 address (the tunnel's local end), and the eth0
 * addresses of the other nodes that have the network (its flood entries).
 */
export interface OverlayNetworkSpec {
  id: string;
  name: string;
  vni: number;
  subnet: string;
  gateway: string;
  nodeAddress: string;
  local: string;
  peers: string[];
}

/**
 * A node's engine as the swarm's manager reaches it.
 * @example
 * const engine = localNodeEngine(containers, images);
 * await engine.pullIfMissing("busybox");
 * const { id } = await engine.create("busybox", { cmd: ["sleep", "60"] });
 */
export interface SwarmNodeEngine {
  /** Pulls `image` into the node's image store unless it is there already (each node pulls what its tasks run). */
  pullIfMissing(image: string): Promise<void>;
  /**
   * The node's segment of a swarm overlay network: a bridge with a VXLAN device, made when the node's first task on
   * it comes (or when its routing mesh forwards to a task on it); kept if it is there (its flood entries are set to
   * `peers`).
   */
  ensureNetwork(network: OverlayNetworkSpec): Promise<void>;
  /** The other nodes an overlay network floods to (their eth0 addresses), as they join it or leave the swarm. */
  overlayPeers(name: string, peers: string[]): Promise<void>;
  /** Removes the node's network `name`, if it has one. */
  removeNetwork(name: string): Promise<void>;
  create(image: string, options: RunOptions): Promise<{ id: string }>;
  /** Connects a container to a network, at `ipv4Address` when given (an overlay's addresses are the manager's). */
  connect(network: string, id: string, options: { aliases: string[]; ipv4Address?: string }): Promise<void>;
  start(id: string): Promise<void>;
  /** A running container's addresses, by network name. */
  addresses(id: string): Promise<Record<string, string>>;
  /** Stops the container (within `timeoutSeconds`) and removes it; one already gone is no failure. */
  stopAndRemove(id: string, timeoutSeconds: number): Promise<void>;
  /** Removes the container at once, running or not. */
  kill(id: string): Promise<void>;
  /** Each container's state now, in the order asked (undefined: it is gone from the guest). */
  states(ids: string[]): Promise<(TaskContainerState | undefined)[]>;
  logs(id: string, options?: LogReadOptions): Promise<ReadableStream<LogEntry>>;
  /** Takes `port` on the node (as `docker run -p` would) and listens on it in the guest; throws when it is taken. */
  publish(mesh: MeshPort): Promise<void>;
  unpublish(mesh: Pick<MeshPort, "proto" | "port">): Promise<void>;
  /** Where the node's embedded DNS server asks for names it does not know itself. */
  answerNames(names: ServiceNames): Promise<void>;
}

const engines = new WeakMap<ContainerService, SwarmNodeEngine>();

/**
 * A node's engine in this process: its container service and the image store its tasks' images are pulled into.
 * The same container service gives the same engine (the manager notices a fresh guest by a new one).
 * @example
 * swarm.addMember({ identity, engine: () => localNodeEngine(supervisor.containers, images), up: () => true });
 */
export function localNodeEngine(containers: ContainerService, images: ImageService): SwarmNodeEngine {
  const known = engines.get(containers);
  if (known) return known;
  const { networking } = containers;
  const engine: SwarmNodeEngine = {
    async pullIfMissing(image) {
      await images.image(image).catch(async (error: unknown) => {
        if (!isEngineError(error, "notFound")) throw error;
        await images.pull(image);
      });
    },
    async ensureNetwork(network) {
      const known = networking.store.find(network.name);
      if (known?.overlay && known.id === network.id && known.overlay.nodeAddress === network.nodeAddress) {
        await networking.setOverlayPeers(known.id, network.peers);
        return;
      }
      if (known?.overlay && networking.store.endpointsOf(known.id).length === 0) {
        // A segment left from an earlier swarm (or another address of this node): made again as the swarm has it.
        await networking.remove(known.id);
      } else if (known) {
        throw new EngineError(
          "conflict",
          `network ${network.name} on this node is not the swarm's overlay network of that name: remove it (docker network rm ${network.name}) so the swarm's can be made`,
        );
      }
      await networking.create({
        name: network.name,
        driver: "bridge",
        attachable: false,
        labels: { "com.docker.swarm.network.name": network.name },
        options: { "com.docker.network.driver.overlay.vxlanid_list": String(network.vni) },
        ipam: [{ subnet: network.subnet, gateway: network.gateway }],
        overlay: {
          id: network.id,
          vni: network.vni,
          local: network.local,
          nodeAddress: network.nodeAddress,
          peers: network.peers,
        },
      });
    },
    async overlayPeers(name, peers) {
      if (networking.store.find(name)?.overlay) await networking.setOverlayPeers(name, peers);
    },
    async removeNetwork(name) {
      if (networking.store.find(name)) await networking.remove(name);
    },
    async create(image, options) {
      const created = await containers.create(image, options);
      return { id: created.id };
    },
    async connect(network, id, options) {
      await containers.connect(network, id, options);
    },
    start: (id) => containers.start(id),
    async addresses(id) {
      const found: Record<string, string> = {};
      for (const endpoint of networking.store.endpointsOfContainer(id)) {
        const network = networking.store.find(endpoint.networkId);
        if (network) found[network.name] = endpoint.ip;
      }
      return found;
    },
    async stopAndRemove(id, timeoutSeconds) {
      await containers.stop(id, { timeoutSeconds }).catch(() => {});
      await engine.kill(id);
    },
    async kill(id) {
      await containers.remove(id, { force: true }).catch((error: unknown) => {
        if (!isEngineError(error, "notFound")) throw error;
      });
    },
    async states(ids) {
      return ids.map((id) => {
        try {
          const details = containers.inspect(id);
          return { status: details.status, ...(details.exit ? { exitCode: details.exit.code } : {}) };
        } catch (error) {
          if (isEngineError(error, "notFound")) return undefined;
          throw error;
        }
      });
    },
    async logs(id, options) {
      return containers.logs(id, options);
    },
    async publish(mesh) {
      const guest = networking.guest;
      if (!guest) throw new Error("its guest has no container networking (an older drydockd)");
      networking.ports.allocate(mesh.proto, "0.0.0.0", { low: mesh.port, high: mesh.port });
      try {
        await guest.publish({
          proto: mesh.proto,
          hostIp: "0.0.0.0",
          hostPort: mesh.port,
          targetIp: mesh.targetIp,
          targetPort: mesh.targetPort,
        });
      } catch (error) {
        networking.ports.release(mesh.proto, "0.0.0.0", mesh.port);
        throw error;
      }
    },
    async unpublish(mesh) {
      networking.ports.release(mesh.proto, "0.0.0.0", mesh.port);
      await networking.guest?.unpublish({ proto: mesh.proto, hostIp: "0.0.0.0", hostPort: mesh.port });
    },
    async answerNames(names) {
      networking.clusterNames = names;
    },
  };
  engines.set(containers, engine);
  return engine;
}
