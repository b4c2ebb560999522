// The swarm of a cluster: its managers' state (the swarm, its nodes, services and tasks, join tokens) kept by one
// object for all of the cluster's nodes, and a reconcile loop that makes the guests match it. Each task is a real
// container on its node's guest; what the manager believes about it is checked against that guest at every turn
// (the container's state there, the node's guest answering), so a task whose container died, or whose node's guest
// stopped, is replaced. Published ports go through a routing mesh: every node's guest listens on the port (drydockd's
// userland proxy) and forwards to a running task, its own if it has one, else one on another node over the routed
// 10.k.0.0/16 blocks. Service names resolve, on the networks a service is attached to, to its tasks' addresses in
// turn (the embedded DNS server asks the manager). A network made with `docker network create -d overlay` is one
// VXLAN segment across the nodes: the manager gives it one VNI and one subnet for the whole swarm, hands out every
// address on it (each task's and each node's own), and tells each node that has it which other nodes do (their flood
// entries), as nodes join it and leave the swarm.
// With a store, the swarm's objects are written after every change and read back by restore() when a daemon starts.
// The manager reaches each node's engine through the narrow, asynchronous SwarmNodeEngine (node-engine.ts), so a
// node may be in this process or in a worker of its own.
import type { MetadataStore } from "../content/metadata.ts";
import { EngineError } from "../errors.ts";
import { Emitter } from "../events.ts";
import type { RunOptions } from "../runtime/options.ts";
import type { OverlayNetworkSpec, SwarmNodeEngine, TaskContainerState } from "./node-engine.ts";
import { type Candidate, eligibleNodes, noSuitableNode, pickNode, satisfies } from "./scheduler.ts";
import { expandTemplate, readServiceSpec, type ServicePlan } from "./spec.ts";

/** A node of the cluster, as the manager reaches it. */
export interface SwarmMember {
  /** node<k>, its eth0 address (192.168.86.(100+k)) and number. */
  identity: { index: number; name: string; address: string };
  /** Its guest's engine now (a fresh one after a fault); undefined when it has none. */
  engine(): SwarmNodeEngine | undefined;
  /** Its guest runs and answers (false once stopped or failed). */
  up(): boolean;
}

export type Role = "manager" | "worker";
export type Availability = "active" | "pause" | "drain";
export type TaskState =
  | "new"
  | "pending"
  | "assigned"
  | "preparing"
  | "starting"
  | "running"
  | "complete"
  | "shutdown"
  | "failed"
  | "rejected";

/** The port swarm's managers listen on (shown in join commands; nothing listens: joins are made in the engine). */
export const SWARM_PORT = 2377;
/** Dead tasks kept per slot (swarm's TaskHistoryRetentionLimit). */
export const TASK_HISTORY = 5;
/** The wait before a failed task's slot gets a new one (swarm's default restart delay). */
export const RESTART_DELAY_MS = 5000;

export interface Versioned {
  id: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface SwarmNode extends Versioned {
  member: string;
  hostname: string;
  address: string;
  role: Role;
  availability: Availability;
  labels: Record<string, string>;
  leader: boolean;
  /** It left (docker swarm leave) or was removed: down until `docker node rm`. */
  left: boolean;
  /** Its guest answered at the last turn. */
  ready: boolean;
}

export interface SwarmService extends Versioned {
  spec: Record<string, unknown>;
  previousSpec?: Record<string, unknown>;
  plan: ServicePlan;
  /** Bumped when the task template changes: tasks made from an older one are replaced by a rolling update. */
  template: number;
  update?: {
    /** Swarm's UpdateStatus states: a rollback (`docker service rollback`) has its own. */
    state: "updating" | "completed" | "rollback_started" | "rollback_completed";
    startedAt: number;
    completedAt?: number;
    message: string;
    /** The tasks of the batch under way, and when all of them ran. */
    batch: string[];
    batchDoneAt?: number;
  };
  removed: boolean;
  /** The next address the DNS answer starts with (round robin). */
  turn: number;
}

export interface SwarmTask extends Versioned {
  serviceId: string;
  serviceName: string;
  /** Replicated: 1…replicas; global: undefined. */
  slot?: number;
  /** "" while pending (no node could take it). */
  nodeId: string;
  template: number;
  /** The TaskTemplate it was made from. */
  spec: Record<string, unknown>;
  plan: ServicePlan;
  /** "remove" when its slot went with a scale down: once its container is gone the task is deleted, as swarmkit does. */
  desired: "running" | "shutdown" | "remove";
  state: TaskState;
  /** When its state was last set (ms). */
  stateAt: number;
  message: string;
  err?: string;
  containerId?: string;
  exitCode?: number;
  /** Its addresses, by network name, once it runs. */
  addresses: Record<string, string>;
  /** A container operation for it is under way. */
  busy: boolean;
  /** Its container was removed (or its node's guest is gone with it). */
  cleaned: boolean;
}

/**
 * A network made with `docker network create -d overlay` on a manager: one VXLAN segment (its VNI) and one subnet
 * across the swarm; a node gets its part (a bridge with the VXLAN device) when a task of it, or its routing mesh,
 * needs it.
 */
export interface SwarmNetwork extends Versioned {
  name: string;
  attachable: boolean;
  labels: Record<string, string>;
  /** The VXLAN network identifier: 4097, 4098… (Docker's ingress network has 4096). */
  vni: number;
  /** 10.0.n.0/24 (Docker's default pool for swarm networks, whose 10.0.0.0/24 is the ingress network's). */
  subnet: string;
  gateway: string;
  /** The addresses handed out on it: a task's (`task:<id>`) and a node's own (`node:<member>`). */
  addresses: Record<string, string>;
}

/** The first VNI of a user's overlay network (Docker's ingress network takes 4096). */
export const FIRST_VNI = 4097;

export interface SwarmInfo extends Versioned {
  spec: Record<string, unknown>;
  tokens: { worker: string; manager: string };
}

const LIVE: ReadonlySet<TaskState> = new Set(["new", "pending", "assigned", "preparing", "starting", "running"]);
const isLive = (task: SwarmTask) => task.desired === "running" && LIVE.has(task.state);

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
/** A swarm object id: 25 base-36 characters, as swarmkit makes them. */
export function swarmId(length = 25): string {
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  return [...bytes].map((byte) => ALPHABET[byte % 36]).join("");
}

/** The messages dockerd answers with (the CLI and users match on them). */
export const SWARM_ERRORS = {
  notInSwarm:
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
  worker:
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.",
  alreadyInSwarm:
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.',
  notPartOfSwarm: "This node is not part of a swarm",
  lastManager:
    "You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.",
  managerLeave:
    "You are attempting to leave the swarm on a node that is participating as a manager. Removing this node leaves the remaining managers to run the swarm. Use `--force` to ignore this message.",
};

export interface SwarmManagerOptions {
  /** How often the reconcile loop looks at the guests (ms, default 1000). */
  intervalMs?: number;
  /** Where what goes wrong in the background is said (default: nowhere). */
  report?: (message: string) => void;
  /**
   * Where the managers keep the swarm across a restart (the document {@link SWARM_DOCUMENT}), as swarmkit keeps its
   * raft store under /var/lib/docker/swarm; without one the swarm lasts as long as this object.
   */
  store?: MetadataStore;
}

/** The document a {@link SwarmManagerOptions.store} holds the swarm in. */
export const SWARM_DOCUMENT = "swarm.json";

/** What is kept of a swarm: its objects as the managers last had them (the routing mesh and the loop's memory are not). */
interface SwarmState {
  schema: 1;
  swarm: SwarmInfo;
  nodes: SwarmNode[];
  services: SwarmService[];
  tasks: SwarmTask[];
  networks: SwarmNetwork[];
}

interface Segment {
  name: string;
  engine: SwarmNodeEngine;
  /** Being made: what the next asker waits for. */
  made: Promise<void>;
  ready: boolean;
  /** The peers the node was last told (eth0 addresses, joined by ","). */
  peers: string;
  busy: boolean;
}

interface MeshEntry {
  service: string;
  network: string;
  target: string;
  targetPort: number;
  proto: "tcp" | "udp";
  engine: SwarmNodeEngine;
}

/**
 * The managers' state of a cluster's swarm and the loop that makes the nodes' guests match it.
 * @example
 * const swarm = new SwarmManager({});
 * swarm.addMember({ identity, engine: () => localNodeEngine(supervisor.containers, images), up: () => !supervisor.fault });
 * const nodeId = swarm.init("node1");
 */
export class SwarmManager {
  readonly #members = new Map<string, SwarmMember>();
  readonly #report: (message: string) => void;
  #swarm: SwarmInfo | undefined;
  readonly #nodes = new Map<string, SwarmNode>();
  readonly #services = new Map<string, SwarmService>();
  readonly #tasks = new Map<string, SwarmTask>();
  readonly #networks = new Map<string, SwarmNetwork>();
  /** Per node (member name): published port → what the guest's proxy forwards it to. */
  readonly #mesh = new Map<string, Map<number, MeshEntry>>();
  readonly #meshBusy = new Set<string>();
  readonly #meshChanges = new Emitter<void>();
  readonly #failedAt = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #intervalMs: number;
  #turning = false;
  /** What the last look at the guests saw of each live task's container (undefined: gone). */
  #seen = new Map<string, TaskContainerState | undefined>();
  /** The engines told where to ask for service names. */
  readonly #answering = new WeakSet<SwarmNodeEngine>();
  /** Per member, the overlay networks (by id) its guest has a segment of, and the peers it was last told. */
  readonly #segments = new Map<string, Map<string, Segment>>();
  #again = false;
  #closed = false;
  readonly #store: MetadataStore | undefined;
  /** The last document written to the store, and the write under way (writes are one at a time, newest wins). */
  #saved = "";
  #saving: Promise<void> = Promise.resolve();

  constructor(options: SwarmManagerOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#report = options.report ?? (() => {});
    this.#store = options.store;
  }

  /**
   * Reads the swarm the store kept (after a restart of the daemon): its nodes, services, networks and tasks come back
   * as they were, the nodes not ready until their members answer. The tasks' containers are checked against the
   * guests at the first turns, as any task's are: one that no longer runs (a guest restarted leaves it exited) ends,
   * and its slot gets a new task. Returns whether there was a swarm to restore.
   */
  async restore(): Promise<boolean> {
    const bytes = await this.#store?.read(SWARM_DOCUMENT);
    if (!bytes) return false;
    const text = new TextDecoder().decode(bytes);
    let state: SwarmState;
    try {
      state = JSON.parse(text) as SwarmState;
      if (state.schema !== 1 || !state.swarm?.tokens) throw new Error(`schema ${String(state.schema)}`);
    } catch (error) {
      throw new EngineError(
        "dataLoss",
        `the swarm kept in ${SWARM_DOCUMENT} cannot be read (${(error as Error).message}): move it aside to start without a swarm, or restore it from a backup`,
      );
    }
    this.#swarm = state.swarm;
    for (const node of state.nodes) this.#nodes.set(node.id, { ...node, ready: false });
    for (const service of state.services) this.#services.set(service.id, service);
    for (const task of state.tasks) this.#tasks.set(task.id, { ...task, busy: false });
    for (const network of state.networks)
      this.#networks.set(network.id, { ...network, addresses: network.addresses ?? {} });
    // A network kept before overlays were VXLAN segments gets its VNI and subnet now.
    for (const network of this.#networks.values()) if (!network.vni) Object.assign(network, this.#freeSegment());
    this.#saved = text;
    this.#start();
    return true;
  }

  /** Writes the swarm to the store when it changed since the last write (the loop calls this after each turn). */
  #persist(): void {
    const store = this.#store;
    if (!store) return;
    const state: SwarmState | undefined = this.#swarm && {
      schema: 1,
      swarm: this.#swarm,
      nodes: [...this.#nodes.values()],
      services: [...this.#services.values()],
      tasks: [...this.#tasks.values()],
      networks: [...this.#networks.values()],
    };
    const text = state ? JSON.stringify(state) : "";
    if (text === this.#saved) return;
    this.#saved = text;
    this.#saving = this.#saving
      .then(() => (text ? store.write(SWARM_DOCUMENT, new TextEncoder().encode(text)) : store.remove(SWARM_DOCUMENT)))
      .catch((error: unknown) => this.#report(`swarm: keeping the swarm's state failed: ${String(error)}`));
  }

  /** Waits for the writes of the swarm's state asked for so far (a daemon's orderly stop). */
  async flush(): Promise<void> {
    this.#persist();
    await this.#saving;
  }

  /** Says what went wrong where the manager's owner shows it (the page's trace, the daemon's stderr). */
  report(message: string): void {
    this.#report(message);
  }

  addMember(member: SwarmMember): void {
    this.removeMember(member.identity.name);
    this.#members.set(member.identity.name, member);
  }

  /**
   * Forgets a member whose machine is gone (the page's `drydock node rm`): its swarm node stays, down, until
   * `docker node rm`, as a removed machine's does; a new member of the same name is a new machine, not yet in the swarm.
   */
  removeMember(name: string): void {
    if (!this.#members.delete(name)) return;
    for (const node of this.#nodes.values()) if (node.member === name) node.member = "";
    this.#mesh.delete(name);
    this.#segments.delete(name);
    this.#kick();
  }

  /** Stops the loop (the guests are left as they are). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  // --- what a node knows of itself -------------------------------------------------------------------------------

  /** The swarm node a member is, if it is in the swarm (and has not left). */
  nodeOf(member: string): SwarmNode | undefined {
    for (const node of this.#nodes.values()) if (node.member === member && !node.left) return node;
    return undefined;
  }

  get swarm(): SwarmInfo | undefined {
    return this.#swarm;
  }

  /** The node `member` is, when it is a manager; otherwise dockerd's refusal. */
  requireManager(member: string): SwarmNode {
    const node = this.nodeOf(member);
    if (!node || !this.#swarm) throw new EngineError("unavailable", SWARM_ERRORS.notInSwarm);
    if (node.role !== "manager") throw new EngineError("unavailable", SWARM_ERRORS.worker);
    return node;
  }

  /** The managers' addresses (`docker info`'s RemoteManagers). */
  managers(): SwarmNode[] {
    return [...this.#nodes.values()].filter((node) => node.role === "manager" && !node.left);
  }

  // --- swarm init, join, leave, update ----------------------------------------------------------------------------

  /** `docker swarm init` on `member`: a new swarm with it as its manager and leader; returns its node id. */
  init(member: string, request: { availability?: Availability; spec?: Record<string, unknown> } = {}): string {
    this.#member(member);
    if (this.nodeOf(member)) throw new EngineError("unavailable", SWARM_ERRORS.alreadyInSwarm);
    if (this.#swarm) {
      const managers = this.managers().map((node) => `${node.address}:${SWARM_PORT}`);
      throw new EngineError(
        "unavailable",
        `this cluster already has a swarm (managers at ${managers.join(", ")}): join it with the token from docker swarm join-token worker on a manager, instead of starting another`,
      );
    }
    const now = Date.now();
    const cluster = swarmId(50);
    this.#swarm = {
      id: swarmId(),
      version: 10,
      createdAt: now,
      updatedAt: now,
      spec: request.spec ?? {},
      tokens: { worker: `SWMTKN-1-${cluster}-${swarmId()}`, manager: `SWMTKN-1-${cluster}-${swarmId()}` },
    };
    const node = this.#addNode(member, "manager", request.availability ?? "active");
    node.leader = true;
    this.#persist();
    this.#start();
    return node.id;
  }

  /** `docker swarm join --token T ADDR` on `member`: ADDR must be a manager's, T the swarm's worker or manager token. */
  join(member: string, request: { token: string; remoteAddrs: string[]; availability?: Availability }): void {
    this.#member(member);
    if (this.nodeOf(member)) throw new EngineError("unavailable", SWARM_ERRORS.alreadyInSwarm);
    const remote = request.remoteAddrs[0];
    if (!remote)
      throw new EngineError("invalidArgument", "join needs a manager's address: docker swarm join --token T ADDR:2377");
    const host = remote.replace(/^tcp:\/\//, "").replace(/:(\d+)$/, "");
    const port = /:(\d+)$/.exec(remote)?.[1];
    const manager = this.managers().find((node) => node.address === host || node.hostname === host);
    if (!this.#swarm || !manager || (port !== undefined && Number(port) !== SWARM_PORT)) {
      const known = this.managers().map((node) => `${node.address}:${SWARM_PORT}`);
      throw new EngineError(
        "unavailable",
        `could not reach a swarm manager at ${remote}: ${known.length ? `the managers are at ${known.join(", ")}` : "no node of this cluster is a swarm manager (run docker swarm init on one)"}`,
      );
    }
    const { worker, manager: managerToken } = this.#swarm.tokens;
    const role: Role | undefined =
      request.token === worker ? "worker" : request.token === managerToken ? "manager" : undefined;
    if (!role) {
      throw new EngineError(
        "invalidArgument",
        "A valid join token is necessary to join this cluster: get one with docker swarm join-token worker (or manager) on a manager",
      );
    }
    this.#addNode(member, role, request.availability ?? "active");
    this.#kick();
  }

  /** `docker swarm leave [--force]` on `member`. */
  leave(member: string, force: boolean): void {
    this.#member(member);
    const node = this.nodeOf(member);
    if (!node || !this.#swarm) throw new EngineError("unavailable", SWARM_ERRORS.notPartOfSwarm);
    const managers = this.managers();
    if (node.role === "manager" && !force) {
      throw new EngineError(
        "unavailable",
        managers.length === 1 ? SWARM_ERRORS.lastManager : SWARM_ERRORS.managerLeave,
      );
    }
    if (node.role === "manager" && managers.length === 1) {
      this.#dissolve();
      return;
    }
    this.#markLeft(node);
    if (node.leader) {
      node.leader = false;
      const next = this.managers()[0];
      if (next) next.leader = true;
    }
    this.#kick();
  }

  /** `docker swarm update` / `join-token --rotate`: a new spec (kept as given) and fresh tokens on request. */
  update(
    member: string,
    version: number,
    spec: Record<string, unknown>,
    rotate: { worker: boolean; manager: boolean },
  ): void {
    this.requireManager(member);
    const swarm = this.#swarm!;
    checkVersion(swarm, version);
    swarm.spec = spec;
    const cluster = swarm.tokens.worker.split("-")[2]!;
    if (rotate.worker) swarm.tokens.worker = `SWMTKN-1-${cluster}-${swarmId()}`;
    if (rotate.manager) swarm.tokens.manager = `SWMTKN-1-${cluster}-${swarmId()}`;
    touch(swarm);
    this.#persist();
  }

  // --- nodes ------------------------------------------------------------------------------------------------------

  nodes(): SwarmNode[] {
    return [...this.#nodes.values()];
  }

  /** A node by id, unique id prefix or hostname. */
  node(ref: string): SwarmNode {
    const all = this.nodes();
    const found =
      all.find((node) => node.id === ref) ??
      all.find((node) => node.hostname === ref && !node.left) ??
      all.find((node) => node.hostname === ref) ??
      unique(
        all.filter((node) => node.id.startsWith(ref)),
        `node ${ref}`,
      );
    if (!found) throw new EngineError("notFound", `node ${ref} not found`);
    return found;
  }

  /** `docker node update`: role, availability and labels, at the version the client read. */
  updateNode(
    ref: string,
    version: number,
    spec: { role?: Role; availability?: Availability; labels?: Record<string, string> },
  ): void {
    const node = this.node(ref);
    checkVersion(node, version);
    if (spec.role && spec.role !== node.role) {
      if (spec.role === "worker" && this.managers().length === 1 && node.role === "manager") {
        throw new EngineError("invalidArgument", "attempting to demote the last manager of the swarm");
      }
      node.role = spec.role;
      if (node.role === "worker" && node.leader) {
        node.leader = false;
        this.managers()[0]!.leader = true;
      }
    }
    if (spec.availability) node.availability = spec.availability;
    if (spec.labels) node.labels = { ...spec.labels };
    touch(node);
    this.#kick();
  }

  /** `docker node rm [--force]`. */
  removeNode(ref: string, force: boolean): void {
    const node = this.node(ref);
    if (node.role === "manager" && !node.left) {
      throw new EngineError(
        "invalidArgument",
        `rpc error: node ${node.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
      );
    }
    if (!node.left && node.ready && !force) {
      throw new EngineError(
        "invalidArgument",
        `node ${node.id} is not down and can't be removed (stop it with docker swarm leave on it, or use --force)`,
      );
    }
    if (!node.left) this.#markLeft(node);
    this.#nodes.delete(node.id);
    this.#kick();
  }

  // --- networks ---------------------------------------------------------------------------------------------------

  networks(): SwarmNetwork[] {
    return [...this.#networks.values()];
  }

  /** A swarm network by id, name or unique id prefix; undefined when there is none. */
  findNetwork(ref: string): SwarmNetwork | undefined {
    const all = this.networks();
    return (
      all.find((network) => network.id === ref) ??
      all.find((network) => network.name === ref) ??
      unique(
        all.filter((network) => network.id.startsWith(ref)),
        `network ${ref}`,
      )
    );
  }

  /** `docker network create -d overlay NAME` on a manager: the lowest free VNI from 4097 and /24 of 10.0.0.0/16. */
  createNetwork(request: { name: string; attachable: boolean; labels: Record<string, string> }): SwarmNetwork {
    if (this.findNetwork(request.name)?.name === request.name) {
      throw new EngineError("conflict", `network with name ${request.name} already exists`);
    }
    const segment = this.#freeSegment();
    const now = Date.now();
    const network: SwarmNetwork = {
      id: swarmId(),
      version: this.#nextVersion(),
      createdAt: now,
      updatedAt: now,
      ...request,
      ...segment,
      addresses: {},
    };
    this.#networks.set(network.id, network);
    this.#persist();
    return network;
  }

  /** The lowest VNI from 4097 and /24 of 10.0.0.0/16 no swarm network has. */
  #freeSegment(): { vni: number; subnet: string; gateway: string } {
    const networks = this.networks();
    let vni = FIRST_VNI;
    while (networks.some((network) => network.vni === vni)) vni++;
    let third = 1;
    while (networks.some((network) => network.subnet === `10.0.${third}.0/24`)) third++;
    if (third > 255) {
      throw new EngineError(
        "forbidden",
        "all predefined address pools have been fully subnetted: remove an overlay network (docker network rm)",
      );
    }
    return { vni, subnet: `10.0.${third}.0/24`, gateway: `10.0.${third}.1` };
  }

  /** The address `owner` has on `network`, handed out now if it has none (the lowest free after the gateway). */
  #address(network: SwarmNetwork, owner: string): string {
    const known = network.addresses[owner];
    if (known) return known;
    const used = new Set(Object.values(network.addresses));
    const prefix = network.subnet.slice(0, network.subnet.lastIndexOf(".") + 1);
    for (let host = 2; host < 255; host++) {
      const address = `${prefix}${host}`;
      if (used.has(address)) continue;
      network.addresses[owner] = address;
      return address;
    }
    throw new EngineError("unavailable", `no available IPv4 addresses on network ${network.name}`);
  }

  /** Gives back the addresses of tasks whose containers are gone (a node's own stays while the network does). */
  #releaseAddresses(): void {
    for (const network of this.#networks.values()) {
      for (const owner of Object.keys(network.addresses)) {
        if (!owner.startsWith("task:")) continue;
        const task = this.#tasks.get(owner.slice("task:".length));
        const holds = task && (isLive(task) || task.busy || (task.containerId !== undefined && !task.cleaned));
        if (!holds) delete network.addresses[owner];
      }
    }
  }

  /** The eth0 addresses of the other members whose guests have a segment of `networkId` now. */
  #peers(member: string, networkId: string): string[] {
    const peers: string[] = [];
    for (const [other, segments] of this.#segments) {
      if (other === member) continue;
      const segment = segments.get(networkId);
      const reached = this.#members.get(other);
      if (!segment?.ready || !reached?.up() || reached.engine() !== segment.engine || !this.nodeOf(other)) continue;
      peers.push(reached.identity.address);
    }
    return peers.sort();
  }

  /** Makes (once per guest) `member`'s segment of an overlay network, flooding to the nodes that have it already. */
  async #ensureSegment(member: string, engine: SwarmNodeEngine, network: SwarmNetwork): Promise<void> {
    const segments = this.#segments.get(member) ?? new Map<string, Segment>();
    this.#segments.set(member, segments);
    const known = segments.get(network.id);
    if (known && known.engine === engine) return known.made;
    const identity = this.#member(member).identity;
    const peers = this.#peers(member, network.id);
    const spec: OverlayNetworkSpec = {
      id: network.id,
      name: network.name,
      vni: network.vni,
      subnet: network.subnet,
      gateway: network.gateway,
      nodeAddress: this.#address(network, `node:${member}`),
      local: identity.address,
      peers,
    };
    const segment: Segment = {
      name: network.name,
      engine,
      made: engine.ensureNetwork(spec),
      ready: false,
      peers: peers.join(","),
      busy: false,
    };
    segments.set(network.id, segment);
    try {
      await segment.made;
      segment.ready = true;
    } catch (error) {
      if (segments.get(network.id) === segment) segments.delete(network.id);
      throw error;
    } finally {
      // The others flood to it from the next turn.
      this.#kick();
    }
  }

  /**
   * Each node's flood entries follow the nodes that have the network (a node that joins it, a node that leaves the
   * swarm or whose guest goes); a node out of the swarm loses its segments; a fresh guest has none.
   */
  async #overlayTurn(): Promise<void> {
    const work: Promise<void>[] = [];
    for (const [member, segments] of this.#segments) {
      const reached = this.#members.get(member);
      const engine = reached?.up() ? reached.engine() : undefined;
      const inSwarm = this.nodeOf(member) !== undefined;
      for (const [networkId, segment] of segments) {
        if (!segment.ready || segment.busy) continue;
        if (!engine || segment.engine !== engine) {
          segments.delete(networkId);
          continue;
        }
        const network = this.#networks.get(networkId);
        segment.busy = true;
        if (!network || !inSwarm) {
          // Its endpoints may still be going (the loop removes the tasks' containers first): tried again next turn.
          work.push(
            engine
              .removeNetwork(segment.name)
              .then(() => {
                segments.delete(networkId);
              })
              .catch(() => {})
              .finally(() => {
                segment.busy = false;
              }),
          );
          continue;
        }
        const peers = this.#peers(member, networkId);
        if (peers.join(",") === segment.peers) {
          segment.busy = false;
          continue;
        }
        work.push(
          engine
            .overlayPeers(network.name, peers)
            .then(() => {
              segment.peers = peers.join(",");
            })
            .catch((error: unknown) =>
              this.#report(`swarm: ${member}: the flood entries of network ${network.name}: ${String(error)}`),
            )
            .finally(() => {
              segment.busy = false;
            }),
        );
      }
    }
    await Promise.all(work);
  }

  /** `docker network rm` of a swarm network no service uses; each node's bridge of that name goes too. */
  async removeNetwork(ref: string): Promise<void> {
    const network = this.findNetwork(ref);
    if (!network) throw new EngineError("notFound", `network ${ref} not found`);
    // A removed service whose tasks are still being shut down uses it too.
    const user = [...this.#services.values()].find((service) =>
      service.plan.networks.some((attached) => attached.target === network.name),
    );
    if (user) {
      throw new EngineError(
        "conflict",
        `rpc error: network ${network.name} is in use by service ${user.plan.name}${user.removed ? " (being removed)" : ""}`,
      );
    }
    this.#networks.delete(network.id);
    this.#persist();
    for (const segments of this.#segments.values()) segments.delete(network.id);
    for (const member of this.#members.values()) {
      const engine = member.up() ? member.engine() : undefined;
      await engine?.removeNetwork(network.name).catch((error: unknown) => this.#report(`swarm: ${String(error)}`));
    }
  }

  /** A plan whose network targets (ids or names, as the CLI sends them) are swarm networks' names. */
  #attach(plan: ServicePlan): ServicePlan {
    return {
      ...plan,
      networks: plan.networks.map((attached) => {
        const network = this.findNetwork(attached.target);
        if (!network) {
          throw new EngineError(
            "notFound",
            `network ${attached.target} not found: create it on a manager with docker network create -d overlay ${attached.target}`,
          );
        }
        return { ...attached, target: network.name };
      }),
    };
  }

  // --- services and tasks -----------------------------------------------------------------------------------------

  services(): SwarmService[] {
    return [...this.#services.values()].filter((service) => !service.removed);
  }

  /** A service by id, name or unique id prefix. */
  service(ref: string): SwarmService {
    const all = this.services();
    const found =
      all.find((service) => service.id === ref) ??
      all.find((service) => service.plan.name === ref) ??
      unique(
        all.filter((service) => service.id.startsWith(ref)),
        `service ${ref}`,
      );
    if (!found) throw new EngineError("notFound", `service ${ref} not found`);
    return found;
  }

  tasks(): SwarmTask[] {
    return [...this.#tasks.values()];
  }

  task(ref: string): SwarmTask {
    const all = this.tasks();
    const found =
      all.find((task) => task.id === ref) ??
      unique(
        all.filter((task) => task.id.startsWith(ref)),
        `task ${ref}`,
      );
    if (!found) throw new EngineError("notFound", `task ${ref} not found`);
    return found;
  }

  /** `docker service create`: the spec is checked and kept; the loop places its tasks. */
  createService(spec: Record<string, unknown>): SwarmService {
    const plan = this.#attach(readServiceSpec(spec));
    if (this.services().some((service) => service.plan.name === plan.name)) {
      throw new EngineError(
        "conflict",
        `rpc error: name conflicts with an existing object: service ${plan.name} already exists`,
      );
    }
    this.#checkPorts(plan, undefined);
    const now = Date.now();
    const service: SwarmService = {
      id: swarmId(),
      version: this.#nextVersion(),
      createdAt: now,
      updatedAt: now,
      spec,
      plan,
      template: 1,
      removed: false,
      turn: 0,
    };
    this.#services.set(service.id, service);
    this.#kick();
    return service;
  }

  /** `docker service update` (and `scale`, and `--rollback`): a changed task template rolls the tasks. */
  updateService(
    ref: string,
    version: number,
    spec: Record<string, unknown>,
    options: { rollback?: boolean } = {},
  ): SwarmService {
    const service = this.service(ref);
    checkVersion(service, version);
    let next = spec;
    if (options.rollback) {
      if (!service.previousSpec)
        throw new EngineError("invalidArgument", `service ${service.plan.name} has no previous spec to roll back to`);
      next = service.previousSpec;
    }
    const plan = this.#attach(readServiceSpec(next));
    if (plan.name !== service.plan.name) {
      throw new EngineError("invalidArgument", "renaming services is not supported: create a new service instead");
    }
    this.#checkPorts(plan, service.id);
    const templateChanged = JSON.stringify(next.TaskTemplate ?? {}) !== JSON.stringify(service.spec.TaskTemplate ?? {});
    service.previousSpec = service.spec;
    service.spec = next;
    service.plan = plan;
    service.version = this.#nextVersion();
    service.updatedAt = Date.now();
    if (templateChanged) {
      service.template++;
      service.update = options.rollback
        ? { state: "rollback_started", startedAt: Date.now(), message: "manually requested rollback", batch: [] }
        : { state: "updating", startedAt: Date.now(), message: "update in progress", batch: [] };
    }
    this.#kick();
    return service;
  }

  /** `docker service rm`: its tasks are shut down by the loop, then it is forgotten. */
  removeService(ref: string): void {
    const service = this.service(ref);
    service.removed = true;
    for (const task of this.tasks()) if (task.serviceId === service.id) task.desired = "shutdown";
    this.#kick();
  }

  /** The engine of the node a task runs on, when its guest answers. */
  engineOf(task: SwarmTask): SwarmNodeEngine | undefined {
    const node = this.#nodes.get(task.nodeId);
    const member = node ? this.#members.get(node.member) : undefined;
    return member?.up() ? member.engine() : undefined;
  }

  /** Runs one turn of the loop now and waits for it (tests and `docker service ps` right after a change). */
  async settle(): Promise<void> {
    await this.#turn();
  }

  // --- the loop ---------------------------------------------------------------------------------------------------

  #member(name: string): SwarmMember {
    const member = this.#members.get(name);
    if (!member) throw new EngineError("notFound", `no node named ${name} in this cluster`);
    return member;
  }

  #nextVersion(): number {
    if (!this.#swarm) return 1;
    return ++this.#swarm.version;
  }

  #addNode(member: string, role: Role, availability: Availability): SwarmNode {
    const identity = this.#member(member).identity;
    const now = Date.now();
    const node: SwarmNode = {
      id: swarmId(),
      version: this.#nextVersion(),
      createdAt: now,
      updatedAt: now,
      member,
      hostname: identity.name,
      address: identity.address,
      role,
      availability,
      labels: {},
      leader: false,
      left: false,
      ready: this.#members.get(member)!.up(),
    };
    this.#nodes.set(node.id, node);
    return node;
  }

  #markLeft(node: SwarmNode): void {
    node.left = true;
    node.ready = false;
    touch(node);
    // Its tasks end: their containers are removed from its guest (still running) by the loop.
    for (const task of this.tasks()) {
      if (task.nodeId === node.id && isLive(task))
        this.#setState(task, "shutdown", `node ${node.hostname} left the swarm`);
      if (task.nodeId === node.id) task.desired = "shutdown";
    }
  }

  /** The last manager left: every task's container is removed, and the swarm is no more. */
  #dissolve(): void {
    for (const task of this.tasks()) {
      task.desired = "shutdown";
      const engine = this.engineOf(task);
      if (task.containerId && engine && !task.cleaned) void engine.kill(task.containerId).catch(() => {});
    }
    for (const [member, entries] of this.#mesh) {
      for (const [port, entry] of entries) void this.#unpublish(member, port, entry);
    }
    this.#mesh.clear();
    for (const [member, segments] of this.#segments) {
      const reached = this.#members.get(member);
      const engine = reached?.up() ? reached.engine() : undefined;
      // At best effort: a segment whose endpoints are still going stays, and the next swarm's makes it again.
      for (const segment of segments.values())
        if (segment.engine === engine) void engine.removeNetwork(segment.name).catch(() => {});
    }
    this.#segments.clear();
    this.#tasks.clear();
    this.#services.clear();
    this.#nodes.clear();
    this.#networks.clear();
    this.#swarm = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#persist();
  }

  #checkPorts(plan: ServicePlan, self: string | undefined): void {
    for (const port of plan.ports) {
      for (const other of this.services()) {
        if (other.id === self) continue;
        if (
          other.plan.ports.some((used) => used.publishedPort === port.publishedPort && used.protocol === port.protocol)
        ) {
          throw new EngineError(
            "invalidArgument",
            `port '${port.publishedPort}' is already in use by service '${other.plan.name}' (${other.id}) as an ingress port`,
          );
        }
      }
    }
  }

  #start(): void {
    if (this.#closed || this.#timer) return;
    const tick = () => {
      this.#timer = undefined;
      if (this.#closed || !this.#swarm) return;
      void this.#turn().finally(() => {
        if (!this.#closed && this.#swarm && !this.#timer) this.#timer = setTimeout(tick, this.#intervalMs);
      });
    };
    this.#timer = setTimeout(tick, 0);
  }

  /** Asks for a turn soon (after a change). */
  #kick(): void {
    this.#persist();
    if (!this.#swarm || this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#start();
  }

  async #turn(): Promise<void> {
    if (this.#turning) {
      this.#again = true;
      return;
    }
    this.#turning = true;
    try {
      do {
        this.#again = false;
        await this.#look();
        this.#once();
        await this.#meshTurn();
        await this.#overlayTurn();
      } while (this.#again);
    } catch (error) {
      this.#report(`swarm: ${String(error)}`);
    } finally {
      this.#turning = false;
      this.#persist();
    }
  }

  /** Asks each node's guest for the state of its live tasks' containers (the calls may cross workers). */
  async #look(): Promise<void> {
    const asked = new Map<SwarmNodeEngine, SwarmTask[]>();
    for (const task of this.tasks()) {
      if (task.busy || !isLive(task) || !task.containerId) continue;
      const engine = this.engineOf(task);
      if (engine) asked.set(engine, [...(asked.get(engine) ?? []), task]);
    }
    const seen = new Map<string, TaskContainerState | undefined>();
    await Promise.all(
      [...asked].map(async ([engine, tasks]) => {
        try {
          const states = await engine.states(tasks.map((task) => task.containerId!));
          for (const [index, task] of tasks.entries()) seen.set(task.id, states[index]);
        } catch (error) {
          // A node going away meanwhile: its tasks are judged by its readiness instead.
          this.#report(`swarm: asking a node about its tasks: ${String(error)}`);
        }
      }),
    );
    this.#seen = seen;
  }

  /** One pass: node readiness, each task against its guest, each service's wanted tasks, removals. */
  #once(): void {
    if (!this.#swarm) return;
    for (const node of this.#nodes.values()) {
      const member = this.#members.get(node.member);
      const ready = !node.left && !!member?.up() && !!member.engine();
      if (ready !== node.ready) {
        node.ready = ready;
        touch(node);
      }
      const engine = member?.up() ? member.engine() : undefined;
      if (engine && !this.#answering.has(engine)) {
        this.#answering.add(engine);
        void engine
          .answerNames((network, name, type) => this.#resolve(network, name, type))
          .catch((error: unknown) => this.#report(`swarm: ${node.hostname} cannot ask for service names: ${error}`));
      }
    }
    for (const task of this.tasks()) this.#check(task);
    for (const service of [...this.#services.values()]) {
      if (service.removed) {
        const left = this.tasks().filter(
          (task) =>
            task.serviceId === service.id &&
            (task.busy || (!task.cleaned && task.containerId !== undefined && this.engineOf(task) !== undefined)),
        );
        if (left.length === 0) {
          for (const task of this.tasks()) if (task.serviceId === service.id) this.#tasks.delete(task.id);
          this.#services.delete(service.id);
        }
        continue;
      }
      this.#schedule(service);
    }
    for (const task of this.tasks()) {
      if (task.desired !== "running" && !task.busy && !task.cleaned && task.containerId) {
        const engine = this.engineOf(task);
        if (engine) void this.#stop(task, engine);
      }
    }
    this.#prune();
    this.#releaseAddresses();
  }

  #setState(task: SwarmTask, state: TaskState, message: string, err?: string): void {
    task.state = state;
    task.message = message;
    if (err === undefined) delete task.err;
    else task.err = err;
    task.stateAt = Date.now();
    task.updatedAt = task.stateAt;
    task.version = this.#nextVersion();
  }

  /** Checks a live task against its node's guest. */
  #check(task: SwarmTask): void {
    if (task.busy || !isLive(task) || task.state === "pending") return;
    const node = this.#nodes.get(task.nodeId);
    if (!node?.ready) {
      this.#setState(
        task,
        "shutdown",
        "node is down",
        `node ${node?.hostname ?? task.nodeId} is down: its guest does not answer`,
      );
      task.desired = "shutdown";
      // Its container went with the guest (or is removed when the node comes back).
      return;
    }
    if (!this.engineOf(task) || !task.containerId || !this.#seen.has(task.id)) return;
    const details = this.#seen.get(task.id);
    if (!details) {
      this.#setState(task, "failed", "task: container removed", `the task's container is gone from ${node.hostname}`);
      task.desired = "shutdown";
      task.cleaned = true;
      this.#failedAt.set(slotKey(task), Date.now());
      return;
    }
    if (details.status === "running" || details.status === "paused") return;
    const code = details.exitCode ?? 255;
    task.exitCode = code;
    if (code === 0) this.#setState(task, "complete", "finished");
    else this.#setState(task, "failed", "started", `task: non-zero exit (${code})`);
    task.desired = "shutdown";
    this.#failedAt.set(slotKey(task), Date.now());
  }

  #candidates(): Candidate[] {
    return [...this.#nodes.values()]
      .filter((node) => !node.left)
      .map((node) => ({
        id: node.id,
        hostname: node.hostname,
        role: node.role,
        availability: node.availability,
        ready: node.ready,
        labels: node.labels,
      }));
  }

  #load(service: SwarmService): { service: Map<string, number>; total: Map<string, number> } {
    const load = { service: new Map<string, number>(), total: new Map<string, number>() };
    for (const task of this.tasks()) {
      if (!isLive(task) || !task.nodeId) continue;
      load.total.set(task.nodeId, (load.total.get(task.nodeId) ?? 0) + 1);
      if (task.serviceId === service.id) load.service.set(task.nodeId, (load.service.get(task.nodeId) ?? 0) + 1);
    }
    return load;
  }

  #schedule(service: SwarmService): void {
    const { plan } = service;
    const candidates = this.#candidates();
    const eligible = new Set(eligibleNodes(candidates, plan.constraints).map((node) => node.id));
    const live = () => this.tasks().filter((task) => task.serviceId === service.id && isLive(task));
    // Drained nodes and nodes that no longer satisfy the constraints give their tasks up (a paused node keeps them).
    for (const task of live()) {
      const node = task.nodeId ? this.#nodes.get(task.nodeId) : undefined;
      if (node && (node.availability === "drain" || !satisfiesNode(node, plan))) task.desired = "shutdown";
    }
    this.#roll(service);
    const now = Date.now();
    if (plan.replicas !== undefined) {
      const tasks = live();
      for (const task of tasks) if (task.slot !== undefined && task.slot > plan.replicas) task.desired = "remove";
      for (let slot = 1; slot <= plan.replicas; slot++) {
        const inSlot = tasks.filter((task) => task.slot === slot && task.desired === "running");
        if (inSlot.length > 0) {
          for (const task of inSlot) if (task.state === "pending") this.#place(service, task);
          continue;
        }
        const failed = this.#failedAt.get(`${service.id}/${slot}`);
        if (failed !== undefined && now - failed < RESTART_DELAY_MS) continue;
        this.#place(service, this.#newTask(service, slot));
      }
    } else {
      const tasks = live();
      for (const node of candidates) {
        if (!eligible.has(node.id)) continue;
        if (tasks.some((task) => task.nodeId === node.id && task.desired === "running")) continue;
        const failed = this.#failedAt.get(`${service.id}/${node.id}`);
        if (failed !== undefined && now - failed < RESTART_DELAY_MS) continue;
        const task = this.#newTask(service, undefined);
        task.nodeId = node.id;
        this.#place(service, task);
      }
    }
  }

  /** A rolling update's next step: wait for the batch to run, then the delay, then replace the next batch. */
  #roll(service: SwarmService): void {
    const update = service.update;
    if (update?.state !== "updating" && update?.state !== "rollback_started") return;
    const live = this.tasks().filter((task) => task.serviceId === service.id && isLive(task));
    const fresh = live.filter((task) => task.template === service.template);
    if (fresh.some((task) => task.state !== "running")) return;
    const now = Date.now();
    if (update.batch.length > 0 && update.batchDoneAt === undefined) update.batchDoneAt = now;
    const outdated = live
      .filter((task) => task.template < service.template)
      .sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0));
    if (outdated.length === 0) {
      // Done once the last batch has run for the update's delay (as the batches before it waited).
      if (update.batchDoneAt !== undefined && now < update.batchDoneAt + service.plan.delayMs) return;
      const rollback = update.state === "rollback_started";
      update.state = rollback ? "rollback_completed" : "completed";
      update.completedAt = now;
      update.message = rollback ? "rollback completed" : "update completed";
      service.updatedAt = now;
      return;
    }
    if (update.batchDoneAt !== undefined && now < update.batchDoneAt + service.plan.delayMs) return;
    const batch = outdated.slice(0, service.plan.parallelism || outdated.length);
    for (const task of batch) task.desired = "shutdown";
    update.batch = batch.map((task) => task.id);
    delete update.batchDoneAt;
  }

  #newTask(service: SwarmService, slot: number | undefined): SwarmTask {
    const now = Date.now();
    const task: SwarmTask = {
      id: swarmId(),
      version: this.#nextVersion(),
      createdAt: now,
      updatedAt: now,
      serviceId: service.id,
      serviceName: service.plan.name,
      ...(slot !== undefined ? { slot } : {}),
      nodeId: "",
      template: service.template,
      spec: (service.spec.TaskTemplate ?? {}) as Record<string, unknown>,
      plan: service.plan,
      desired: "running",
      state: "new",
      stateAt: now,
      message: "created",
      addresses: {},
      busy: false,
      cleaned: false,
    };
    this.#tasks.set(task.id, task);
    const rolling = service.update?.state === "updating" || service.update?.state === "rollback_started";
    if (rolling && service.update && !service.update.batch.includes(task.id)) service.update.batch.push(task.id);
    return task;
  }

  /** Gives a new (or pending) task a node, and starts its container there. */
  #place(service: SwarmService, task: SwarmTask): void {
    if (!task.nodeId) {
      const node = pickNode(this.#candidates(), service.plan.constraints, this.#load(service));
      if (!node) {
        if (task.state !== "pending" || task.err !== noSuitableNode(this.#candidates(), service.plan.constraints)) {
          this.#setState(
            task,
            "pending",
            "pending task scheduling",
            noSuitableNode(this.#candidates(), service.plan.constraints),
          );
        }
        return;
      }
      task.nodeId = node.id;
    }
    const engine = this.engineOf(task);
    if (!engine) return;
    this.#setState(task, "assigned", "scheduler assigned task to node");
    void this.#launch(task, engine);
  }

  async #launch(task: SwarmTask, engine: SwarmNodeEngine): Promise<void> {
    task.busy = true;
    const node = this.#nodes.get(task.nodeId)!;
    const { plan } = task;
    const name = `${task.serviceName}.${task.slot ?? node.id}.${task.id}`;
    const values = {
      "Service.Name": task.serviceName,
      "Service.ID": task.serviceId,
      "Node.Hostname": node.hostname,
      "Node.ID": node.id,
      "Task.Name": name,
      "Task.ID": task.id,
      "Task.Slot": String(task.slot ?? ""),
    };
    try {
      this.#setState(task, "preparing", "preparing");
      await engine.pullIfMissing(plan.image);
      // Each overlay network: the node's segment, and the task's address there (the manager's, unique in the swarm).
      const addresses = new Map<string, string>();
      for (const attached of plan.networks) {
        const network = [...this.#networks.values()].find((known) => known.name === attached.target);
        if (!network) throw new EngineError("notFound", `network ${attached.target} not found`);
        await this.#ensureSegment(node.member, engine, network);
        addresses.set(attached.target, this.#address(network, `task:${task.id}`));
      }
      this.#setState(task, "starting", "starting");
      const endpoint = (target: string, aliases: string[]) => {
        const ipv4Address = addresses.get(target);
        return { aliases, ...(ipv4Address ? { ipv4Address } : {}) };
      };
      const [first, ...others] = plan.networks;
      const options: RunOptions = {
        name,
        env: plan.env.map((entry) => expandTemplate(entry, values)),
        labels: {
          ...plan.containerLabels,
          "com.docker.swarm.node.id": node.id,
          "com.docker.swarm.service.id": task.serviceId,
          "com.docker.swarm.service.name": task.serviceName,
          "com.docker.swarm.task": "",
          "com.docker.swarm.task.id": task.id,
          "com.docker.swarm.task.name": name,
        },
        tty: plan.tty,
        stopTimeout: plan.stopGraceSeconds,
        ...(plan.args ? { cmd: plan.args } : {}),
        ...(plan.command ? { entrypoint: plan.command } : {}),
        ...(plan.hostname ? { hostname: expandTemplate(plan.hostname, values) } : {}),
        ...(plan.workdir ? { workdir: plan.workdir } : {}),
        ...(plan.user ? { user: plan.user } : {}),
        ...(first
          ? {
              networkMode: first.target,
              endpoints: Object.fromEntries(
                [first, ...others].map((network) => [network.target, endpoint(network.target, network.aliases)]),
              ),
            }
          : {}),
      };
      const created = await engine.create(plan.image, options);
      task.containerId = created.id;
      for (const network of others)
        await engine.connect(network.target, created.id, endpoint(network.target, network.aliases));
      await engine.start(created.id);
      task.addresses = await engine.addresses(created.id);
      this.#setState(task, "running", "started");
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#setState(task, task.containerId ? "failed" : "rejected", "failed to start", message);
      task.desired = "shutdown";
      this.#failedAt.set(slotKey(task), Date.now());
    } finally {
      task.busy = false;
      this.#kick();
    }
  }

  async #stop(task: SwarmTask, engine: SwarmNodeEngine): Promise<void> {
    task.busy = true;
    try {
      if (LIVE.has(task.state)) this.#setState(task, "shutdown", "shutdown");
      await engine.stopAndRemove(task.containerId!, task.plan.stopGraceSeconds);
      task.cleaned = true;
    } catch (error) {
      // A node whose guest went meanwhile took the container with it: nothing to say.
      if (this.engineOf(task)) this.#report(`swarm: removing task ${task.id}'s container: ${String(error)}`);
    } finally {
      task.busy = false;
      this.#kick();
    }
  }

  /** Keeps the newest dead tasks of each slot (swarm's task history), forgets the rest. */
  #prune(): void {
    const bySlot = new Map<string, SwarmTask[]>();
    for (const task of this.tasks()) {
      if (isLive(task) || task.busy || (task.containerId && !task.cleaned && this.engineOf(task))) continue;
      if (task.desired === "remove") {
        this.#tasks.delete(task.id);
        continue;
      }
      const key = slotKey(task);
      bySlot.set(key, [...(bySlot.get(key) ?? []), task]);
    }
    for (const dead of bySlot.values()) {
      dead.sort((a, b) => b.createdAt - a.createdAt);
      for (const task of dead.slice(TASK_HISTORY)) this.#tasks.delete(task.id);
    }
  }

  /** The ports the routing mesh listens on now, and on which nodes (members) each. */
  meshPorts(): { port: number; proto: "tcp" | "udp"; members: string[] }[] {
    const ports = new Map<string, { port: number; proto: "tcp" | "udp"; members: string[] }>();
    for (const [member, entries] of this.#mesh) {
      for (const [port, entry] of entries) {
        const key = `${entry.proto}/${port}`;
        const known = ports.get(key) ?? { port, proto: entry.proto, members: [] };
        known.members.push(member);
        ports.set(key, known);
      }
    }
    return [...ports.values()];
  }

  /** Calls `listener` when a node's guest starts or stops listening on a mesh port; returns the unsubscriber. */
  onMeshChange(listener: () => void): () => void {
    return this.#meshChanges.on(listener);
  }

  // --- the routing mesh and names ---------------------------------------------------------------------------------

  /** Running tasks of a service with an address, ordered by node then slot. */
  #running(service: SwarmService): SwarmTask[] {
    return this.tasks()
      .filter((task) => task.serviceId === service.id && isLive(task) && task.state === "running" && !task.busy)
      .filter((task) => Object.keys(task.addresses).length > 0)
      .sort(
        (a, b) =>
          (this.#nodes.get(a.nodeId)?.hostname ?? "").localeCompare(this.#nodes.get(b.nodeId)?.hostname ?? "") ||
          (a.slot ?? 0) - (b.slot ?? 0),
      );
  }

  /** Each ready node's guest listens on every published port and forwards to a running task (its own first). */
  async #meshTurn(): Promise<void> {
    const wanted = new Map<
      string,
      Map<number, { service: string; network: string; target: string; targetPort: number; proto: "tcp" | "udp" }>
    >();
    const nodes = [...this.#nodes.values()].filter((node) => node.ready);
    for (const service of this.services()) {
      if (service.plan.ports.length === 0) continue;
      const running = this.#running(service);
      if (running.length === 0) continue;
      for (const node of nodes) {
        const index = this.#members.get(node.member)?.identity.index ?? 0;
        const task = running.find((candidate) => candidate.nodeId === node.id) ?? running[index % running.length]!;
        const [network, target] = Object.entries(task.addresses)[0]!;
        for (const port of service.plan.ports) {
          const map = wanted.get(node.member) ?? new Map();
          map.set(port.publishedPort, {
            service: service.id,
            network,
            target,
            targetPort: port.targetPort,
            proto: port.protocol,
          });
          wanted.set(node.member, map);
        }
      }
    }
    let changed = false;
    const work: Promise<void>[] = [];
    for (const [name, member] of this.#members) {
      if (this.#meshBusy.has(name)) continue;
      const engine = member.up() ? member.engine() : undefined;
      const current = this.#mesh.get(name) ?? new Map<number, MeshEntry>();
      this.#mesh.set(name, current);
      const want = engine ? (wanted.get(name) ?? new Map()) : new Map();
      const changes: (() => Promise<void>)[] = [];
      for (const [port, entry] of current) {
        const next = want.get(port);
        if (entry.engine !== engine) {
          // A fresh guest: the old one's listeners are gone with it.
          current.delete(port);
          changed = true;
          continue;
        }
        if (
          !next ||
          next.target !== entry.target ||
          next.targetPort !== entry.targetPort ||
          next.proto !== entry.proto
        ) {
          changes.push(async () => {
            await this.#unpublish(name, port, entry);
            current.delete(port);
          });
        }
      }
      for (const [port, next] of want) {
        const entry = current.get(port);
        if (entry && entry.target === next.target && entry.targetPort === next.targetPort && entry.engine === engine)
          continue;
        changes.push(async () => {
          const old = current.get(port);
          if (old) {
            await this.#unpublish(name, port, old);
            current.delete(port);
          }
          try {
            // A task on an overlay network is reached through the node's own segment of it.
            const overlay = this.networks().find((known) => known.name === next.network);
            if (overlay) await this.#ensureSegment(name, engine!, overlay);
            await engine!.publish({
              proto: next.proto,
              port,
              targetIp: next.target,
              targetPort: next.targetPort,
            });
            current.set(port, { ...next, engine: engine! });
          } catch (error) {
            this.#report(
              `swarm: ${name} cannot listen on port ${port} for the routing mesh: ${(error as Error).message}`,
            );
          }
        });
      }
      if (changes.length === 0) continue;
      changed = true;
      this.#meshBusy.add(name);
      work.push(
        (async () => {
          for (const change of changes) await change();
        })().finally(() => this.#meshBusy.delete(name)),
      );
    }
    await Promise.all(work);
    if (changed) this.#meshChanges.emit();
  }

  async #unpublish(member: string, port: number, entry: MeshEntry): Promise<void> {
    await entry.engine
      .unpublish({ proto: entry.proto, port })
      .catch((error: unknown) => this.#report(`swarm: ${member}: unpublishing ${port}: ${String(error)}`));
  }

  /** What the embedded DNS answers, on `network`, for a service's name (or tasks.<name>): its tasks' addresses, in turn. */
  #resolve(network: string, name: string, type: string): string[] | undefined {
    const wanted = name.startsWith("tasks.") ? name.slice("tasks.".length) : name;
    const service = this.services().find((candidate) => candidate.plan.name.toLowerCase() === wanted);
    if (!service?.plan.networks.some((attached) => attached.target === network)) return undefined;
    const addresses = this.#running(service)
      .map((task) => task.addresses[network])
      .filter((address): address is string => address !== undefined);
    if (addresses.length === 0) return undefined;
    // Each A query starts one further along (an AAAA query of the same lookup does not move it).
    const start = (type === "A" ? service.turn++ : service.turn) % addresses.length;
    return [...addresses.slice(start), ...addresses.slice(0, start)];
  }
}

function satisfiesNode(node: SwarmNode, plan: ServicePlan): boolean {
  return satisfies(
    {
      id: node.id,
      hostname: node.hostname,
      role: node.role,
      availability: node.availability,
      ready: node.ready,
      labels: node.labels,
    },
    plan.constraints,
  );
}

function slotKey(task: SwarmTask): string {
  return `${task.serviceId}/${task.slot ?? task.nodeId}`;
}

function touch(object: Versioned): void {
  object.version++;
  object.updatedAt = Date.now();
}

function checkVersion(object: Versioned, version: number): void {
  if (!Number.isInteger(version) || version !== object.version) {
    throw new EngineError(
      "invalidArgument",
      `rpc error: update out of sequence (version ${version}, now ${object.version}): inspect it again and retry`,
    );
  }
}

function unique<T extends { id: string }>(found: T[], what: string): T | undefined {
  if (found.length > 1) throw new EngineError("invalidArgument", `${what} is ambiguous (${found.length} matches)`);
  return found[0];
}
