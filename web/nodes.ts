// The page's nodes, kept by its first worker: the Ethernet switch (engine/cluster) that every guest's card is on, the
// first guest (node1, in this worker) and the others (node2…, each a guest in a worker of its own, nested in this one),
// the docker contexts that name them, and the `drydock node` command of the terminal. A node's card reaches the switch
// over a MessagePort (frameLinkOverPort); its Engine API over another (apiOverPort), so the terminal's docker, which
// runs in this worker, talks to the node its context names.
// The page's swarm is kept here too: one SwarmManager (engine/swarm) whose members are node1 (its engine in this
// worker) and the others (each driven over comlink: remoteNodeEngine). A node's Engine API hands its swarm routes
// back here over its swarm link, where engine/api answers them as that node's.
import * as Comlink from "comlink";
import type {
  ApiConnector,
  ApiTransport,
  CliIO,
  Cluster,
  ContainerService,
  Drydock,
  ImageService,
  MemoryContextStore,
  NodeIdentity,
  SwarmApi,
  SwarmManager,
  SwarmNodeEngine,
} from "../engine/index.ts";
import type { NodeStartOptions, NodesState, NodeWorkerApi, PageNode, TraceEntry } from "./protocol.ts";

/** The first guest's files, from which every other node is restored. */
export interface NodeAssets {
  state: ArrayBuffer;
  bios: ArrayBuffer;
  vgaBios: ArrayBuffer;
  wasmUrl: string;
  wasmModule: WebAssembly.Module;
  memoryMiB: number;
}

type Engine = typeof import("../engine/index.ts");

interface RemoteNode {
  node: PageNode;
  identity: NodeIdentity;
  worker: Worker;
  remote: Comlink.Remote<NodeWorkerApi>;
  transport: ReturnType<Engine["apiOverPort"]>;
  /** Stops answering its swarm link. */
  unlink: () => void;
  unplug: () => void;
}

export interface PageNodesOptions {
  engine: () => Promise<Engine>;
  /** The first guest now (it changes when a failed guest is replaced), its container service and image store. */
  guest: () => Drydock | undefined;
  containers: () => ContainerService | undefined;
  images: () => ImageService | undefined;
  assets: () => NodeAssets | undefined;
  proxyUrl: () => string;
  timeOrigin: () => number;
  trace: (kind: string, text: string) => void;
  /** A node's own trace entries, already in the page's clock. */
  traceEntry: (entry: TraceEntry) => void;
}

/**
 * The nodes of the page and their switch.
 * @example
 * const nodes = await PageNodes.create(options);
 * const node2 = await nodes.add();
 */
export class PageNodes {
  readonly contexts: MemoryContextStore;
  /** The page's swarm (inactive until `docker swarm init` on a node). */
  readonly swarm: SwarmManager;
  readonly #options: PageNodesOptions;
  readonly #engine: Engine;
  #cluster: Cluster | undefined;
  #first: { identity: NodeIdentity; node: PageNode } | undefined;
  readonly #remotes = new Map<string, RemoteNode>();
  readonly #listeners = new Set<(state: NodesState) => void>();
  /** Adds and removals one at a time: each changes every node's routes. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(engine: Engine, options: PageNodesOptions) {
    this.#engine = engine;
    this.#options = options;
    this.contexts = new engine.MemoryContextStore();
    this.contexts.onChange(() => this.#changed());
    this.swarm = new engine.SwarmManager({ report: (message) => options.trace("error", message) });
    this.swarm.addMember({
      identity: engine.nodeIdentity(1),
      engine: () => {
        const containers = options.containers();
        const images = options.images();
        return containers && images ? engine.localNodeEngine(containers, images) : undefined;
      },
      up: () => options.guest() !== undefined,
    });
  }

  /** node1's place in the swarm, for its Engine API. */
  get firstSwarm(): SwarmApi {
    return { manager: this.swarm, member: "node1" };
  }

  static async create(options: PageNodesOptions): Promise<PageNodes> {
    return new PageNodes(await options.engine(), options);
  }

  /** Every node, node1 first; node1 alone (unnamed on any switch yet) while no other was added. */
  list(): PageNode[] {
    const first = this.#first?.node ?? {
      name: "node1",
      index: 1,
      address: this.#engine.LONE_NODE_ADDRESS,
      containers: this.#engine.FIRST_NODE_BLOCK,
      host: this.#engine.LOCAL_DOCKER_HOST,
      addMs: 0,
      addSteps: [],
    };
    return [first, ...[...this.#remotes.values()].map((remote) => remote.node).sort((a, b) => a.index - b.index)];
  }

  state(): NodesState {
    const context = this.contexts.current();
    const target = this.#nodeAt(this.#resolveHost(context))?.name;
    return { nodes: this.list(), context, target };
  }

  onChange(listener: (state: NodesState) => void): void {
    this.#listeners.add(listener);
  }

  /** Adds the next node: a guest restored in a worker of its own, put on the switch, given its identity. */
  add(): Promise<PageNode> {
    const next = this.#queue.then(() => this.#add());
    this.#queue = next.catch(() => {});
    return next;
  }

  remove(name: string): Promise<void> {
    const next = this.#queue.then(() => this.#remove(name));
    this.#queue = next.catch(() => {});
    return next;
  }

  /** The bytes of each node's v86 memory: node1's read here, the others' asked of their workers. */
  async memory(first: number): Promise<{ name: string; wasmBytes: number }[]> {
    const nodes = [{ name: "node1", wasmBytes: first }];
    for (const remote of this.#remotes.values()) {
      nodes.push({ name: remote.node.name, wasmBytes: await remote.remote.memory() });
    }
    return nodes;
  }

  /** Whom the terminal's docker reaches: node1's API in this worker (`local`) or another node's over its port. */
  connector(local: ApiTransport): ApiConnector {
    return {
      defaultHost: this.#engine.LOCAL_DOCKER_HOST,
      contexts: this.contexts,
      connect: (host) => {
        const node = this.#nodeAt(host);
        if (!node) {
          throw new this.#engine.EngineError(
            "unavailable",
            `Cannot connect to the Docker daemon at ${host}. Is the docker daemon running? (no node of this page is there: drydock node ls lists them)`,
          );
        }
        return node.name === "node1" ? local : this.#remotes.get(node.name)!.transport;
      },
    };
  }

  /** A failed first guest was replaced: the fresh one takes node1's place on the switch, with its routes. */
  async rejoin(guest: Drydock): Promise<void> {
    if (!this.#cluster || !this.#first) return;
    await this.#cluster.join(guest, this.#first.identity);
    await this.#engine.routeBlocks(guest.agent, "node1", this.#routesFor("node1"));
  }

  /** `drydock node add|rm|ls` typed in the terminal (relayed by the guest's docker applet). */
  command(argv: string[], io: CliIO): Promise<number> {
    return this.#engine.runNodeCommand(argv, io, {
      add: () => this.add(),
      remove: (name) => this.remove(name),
      list: () => this.list(),
      target: () => this.state().target,
    });
  }

  #resolveHost(context: string): string {
    if (context === "default") return this.#engine.LOCAL_DOCKER_HOST;
    const record = this.contexts.list().find((candidate) => candidate.name === context);
    return record?.host ?? "";
  }

  /** The node an endpoint names: the guest's socket is node1; tcp://<address or name>[:2375] is that node. */
  #nodeAt(host: string): PageNode | undefined {
    return this.#engine.nodeAtHost(host, this.list());
  }

  /** The blocks node `name` routes through the others. */
  #routesFor(name: string): { block: string; via: string }[] {
    return this.list()
      .filter((node) => node.name !== name)
      .map((node) => ({ block: node.containers, via: node.address }));
  }

  /** node1 onto a switch the first time a node is added: its card leaves v86's router, which becomes the uplink. */
  async #formCluster(): Promise<Cluster> {
    if (this.#cluster) return this.#cluster;
    const guest = this.#options.guest();
    if (!guest) throw new Error("the first guest is not running: wait for the shell");
    const { Cluster, nodeIdentity } = this.#engine;
    const cluster = new Cluster();
    const identity = nodeIdentity(1);
    await cluster.join(guest, identity);
    this.#cluster = cluster;
    const host = `tcp://${identity.address}:${this.#engine.NODE_DOCKER_PORT}`;
    this.#first = {
      identity,
      node: {
        name: identity.name,
        index: 1,
        address: identity.address,
        containers: this.#engine.FIRST_NODE_BLOCK,
        host,
        addMs: 0,
        addSteps: [],
      },
    };
    this.contexts.create({ name: "node1", description: `Drydock node 1 (${identity.address})`, host });
    this.#options.trace(
      "vm",
      `node1: ifconfig eth0 hw ether ${identity.mac}; ip addr add ${identity.address}/24 dev eth0; hostname node1  # on the page's switch`,
    );
    return cluster;
  }

  async #add(): Promise<PageNode> {
    const started = performance.now();
    const assets = this.#options.assets();
    if (!assets) throw new Error("the machine has not started yet: wait for the shell");
    const { MAX_NODES, nodeIdentity, nodeAddressSpace, frameLinkOverPort, apiOverPort, routeBlocks } = this.#engine;
    const taken = new Set(this.list().map((node) => node.index));
    let index = 2;
    while (taken.has(index)) index++;
    if (index > MAX_NODES) throw new Error(`the page has ${MAX_NODES} nodes already: remove one first`);
    const addSteps: { name: string; ms: number }[] = [];
    let mark = performance.now();
    const step = (what: string) => {
      const now = performance.now();
      addSteps.push({ name: what, ms: now - mark });
      mark = now;
    };
    const cluster = await this.#formCluster();
    step("node1 on the switch (first add only)");
    const identity = nodeIdentity(index);
    const name = identity.name;
    const containers = nodeAddressSpace(index);
    const routes = this.#routesFor(name);
    const frames = new MessageChannel();
    const api = new MessageChannel();
    const swarmLink = new MessageChannel();
    const images = this.#options.images();
    if (!images) throw new Error("the engine is not ready: wait for the shell");
    // The swarm's routes of the node's API, answered here by engine/api as node `name`'s.
    const swarmApp = this.#engine.createApiApp({ images, swarm: { manager: this.swarm, member: name } });
    const unlinkSwarm = this.#engine.serveApiOverPort(swarmLink.port1, async (request) => swarmApp.fetch(request));
    // node1's registry (localhost:5000) is every node's: the node's pulls and pushes of that name come here.
    const registryLink = new MessageChannel();
    const registry = images.registry;
    const unlinkRegistry = registry
      ? this.#engine.serveApiOverPort(registryLink.port1, (request) => registry.fetch(request))
      : () => {};
    const unlink = () => {
      unlinkSwarm();
      unlinkRegistry();
    };
    const unplug = cluster.plug(name, frameLinkOverPort(frames.port1));
    const worker = new Worker(new URL("./node-worker.ts", import.meta.url), { type: "module", name });
    const remote = Comlink.wrap<NodeWorkerApi>(worker);
    try {
      const state = assets.state.slice(0);
      const options: NodeStartOptions = {
        state,
        bios: assets.bios.slice(0),
        vgaBios: assets.vgaBios.slice(0),
        wasmUrl: assets.wasmUrl,
        wasmModule: assets.wasmModule,
        memoryMiB: assets.memoryMiB,
        identity,
        addressSpace: containers,
        routes,
        proxyUrl: this.#options.proxyUrl(),
        timeOrigin: this.#options.timeOrigin(),
      };
      this.#options.trace(
        "vm",
        `${name}: new Worker(node-worker.ts); restore_state from the first guest's saved state`,
      );
      step("new Worker");
      const { steps } = await remote.start(
        Comlink.transfer(options, [state, options.bios, options.vgaBios]),
        Comlink.transfer(frames.port2, [frames.port2]),
        Comlink.transfer(api.port2, [api.port2]),
        Comlink.transfer(swarmLink.port2, [swarmLink.port2]),
        Comlink.transfer(registryLink.port2, [registryLink.port2]),
        Comlink.proxy((entry: TraceEntry) => this.#options.traceEntry(entry)),
      );
      // A step in parentheses is a part of the one before it (run side by side), not more time.
      const inWorker = steps.filter((s) => !s.name.startsWith("(")).reduce((sum, s) => sum + s.ms, 0);
      const before = performance.now() - mark;
      addSteps.push({ name: "worker start-up, before its first step", ms: Math.max(0, before - inWorker) }, ...steps);
      mark = performance.now();
      // Every other node routes the new node's block through it.
      const route = [{ block: containers, via: identity.address }];
      const first = this.#options.guest();
      if (first) await routeBlocks(first.agent, "node1", route);
      for (const other of this.#remotes.values()) await other.remote.route(route, []);
      step("the other nodes route to its containers");
    } catch (error) {
      unplug();
      unlink();
      worker.terminate();
      throw error;
    }
    const host = `tcp://${identity.address}:${this.#engine.NODE_DOCKER_PORT}`;
    const node: PageNode = {
      name,
      index,
      address: identity.address,
      containers,
      host,
      addMs: performance.now() - started,
      addSteps,
    };
    this.#remotes.set(name, {
      node,
      identity,
      worker,
      remote,
      transport: apiOverPort(api.port1, name),
      unlink,
      unplug,
    });
    const engine = remoteNodeEngine(remote);
    this.swarm.addMember({ identity, engine: () => engine, up: () => this.#remotes.has(name) });
    this.contexts.create({ name, description: `Drydock node ${index} (${identity.address})`, host });
    this.#options.trace("vm", `${name}: on the switch as ${identity.address}, added in ${Math.round(node.addMs)} ms`);
    return node;
  }

  async #remove(name: string): Promise<void> {
    if (name === "node1") throw new Error("node1 is the page's own guest (the terminal's): it cannot be removed");
    const remote = this.#remotes.get(name);
    if (!remote) {
      const names = this.list().map((node) => node.name);
      throw new Error(`no node named ${name}: the page has ${names.join(", ")}`);
    }
    this.#remotes.delete(name);
    // Its swarm node stays, down, until docker node rm; its tasks are placed on the others.
    this.swarm.removeMember(name);
    remote.unlink();
    remote.transport.close(`drydock node rm ${name}`);
    remote.unplug();
    await remote.remote.stop().catch(() => {});
    remote.remote[Comlink.releaseProxy]();
    remote.worker.terminate();
    if (this.contexts.list().some((record) => record.name === name)) this.contexts.remove(name);
    const gone = [remote.node.containers];
    const first = this.#options.guest();
    if (first) await this.#engine.routeBlocks(first.agent, "node1", [], gone).catch(() => {});
    for (const other of this.#remotes.values()) await other.remote.route([], gone).catch(() => {});
    this.#options.trace("vm", `${name}: off the switch, its guest stopped and its worker ended`);
    this.#changed();
  }

  #changed(): void {
    const state = this.state();
    for (const listener of this.#listeners) listener(state);
  }
}

/** A node's engine in its own worker, as the swarm's manager drives it: every call crosses over comlink. */
function remoteNodeEngine(remote: Comlink.Remote<NodeWorkerApi>): SwarmNodeEngine {
  // Comlink follows a property path to a method (remote.swarm.create(…) calls swarm.create there); its types only
  // know that for proxy-marked values.
  const far = remote.swarm as unknown as Comlink.Remote<SwarmNodeEngine>;
  return {
    pullIfMissing: (image) => far.pullIfMissing(image),
    ensureNetwork: (network) => far.ensureNetwork(network),
    removeNetwork: (network) => far.removeNetwork(network),
    overlayPeers: (network, peers) => far.overlayPeers(network, peers),
    create: (image, options) => far.create(image, options),
    connect: (network, id, options) => far.connect(network, id, options),
    start: (id) => far.start(id),
    addresses: (id) => far.addresses(id),
    stopAndRemove: (id, timeoutSeconds) => far.stopAndRemove(id, timeoutSeconds),
    kill: (id) => far.kill(id),
    states: (ids) => far.states(ids),
    logs: (id, options) => far.logs(id, options),
    publish: (mesh) => far.publish(mesh),
    unpublish: (mesh) => far.unpublish(mesh),
    // The node's DNS server asks this worker's manager: the resolver stays here, the node holds a proxy of it.
    answerNames: (names) => far.answerNames(Comlink.proxy(names)),
  };
}
