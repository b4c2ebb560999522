// A node of the page (node2, node3…): its own v86 guest in its own worker, started by the page's first worker (which
// holds the switch and the terminal). Its guest is restored from the first guest's saved state; its network card
// reaches the switch over a MessagePort; its Engine API answers on another, so the terminal's `docker --context node2`
// runs here. Its images are its own (in memory, pulled through the page's registry proxy), as on a second machine;
// `localhost:5000` is node1's registry, over a port, as a swarm's nodes share one registry service.
// Its part in the page's swarm: the swarm's requests to its Engine API go to the managers in the first worker over a
// third port (the swarm link), and the manager there drives its engine through `swarm` (a SwarmNodeEngine).
import * as Comlink from "comlink";
import type { ContainerService, Drydock, ImageService, SwarmNodeEngine } from "../engine/index.ts";
import { v86MemoryBytes } from "./node-worker-memory.ts";
import type { NodeStartOptions, NodeWorkerApi, TraceEntry } from "./protocol.ts";

let drydock: Drydock | undefined;
let containers: ContainerService | undefined;
let images: ImageService | undefined;
let name = "node";
/** When this module was evaluated: the first moment the node's worker can time. */
const evaluatedAt = performance.now();

const api: NodeWorkerApi = {
  async start(options: NodeStartOptions, frames, apiPort, swarmPort, registryPort, trace) {
    name = options.identity.name;
    const timeOffset = performance.timeOrigin - options.timeOrigin;
    const say = (kind: string, text: string) =>
      trace({ time: performance.now() + timeOffset, kind, text: `${name}: ${text}` } satisfies TraceEntry);
    const steps: { name: string; ms: number }[] = [];
    let mark = performance.now();
    const step = (what: string) => {
      const now = performance.now();
      steps.push({ name: what, ms: now - mark });
      mark = now;
    };
    steps.push({ name: "worker module evaluated → start received", ms: mark - evaluatedAt });
    const engine = await import("../engine/index.ts");
    step("load the engine's code");
    const started = performance.now();
    const guest = await engine.Drydock.boot({
      artifacts: { bios: new Uint8Array(options.bios), vgaBios: new Uint8Array(options.vgaBios) },
      wasmPath: options.wasmUrl,
      wasmModule: options.wasmModule,
      state: options.state,
      memoryMiB: options.memoryMiB,
    });
    const restoreMs = performance.now() - started;
    step("restore the guest (v86, saved state)");
    drydock = guest;
    try {
      // Its card on the page's switch, through the cable to the first worker; v86's own router is left unplugged.
      const { card } = guest.machine.takeNetwork();
      engine.patchLinks(card, engine.frameLinkOverPort(frames));
      // Its identity and routes (eth0) and its engine (sockets, the 9P share) do not wait for each other.
      const since = performance.now();
      const wired = (async () => {
        await engine.applyIdentity(guest, options.identity);
        const identified = performance.now();
        await engine.routeBlocks(guest.agent, name, options.routes);
        return { identityMs: identified - since, routesMs: performance.now() - identified };
      })();
      const serving = (async () => {
        images = await engine.ImageService.open({
          storage: "memory",
          endpoint: engine.proxyEndpoint(options.proxyUrl),
          registry: { remote: engine.apiOverPort(registryPort, "node1's registry") },
          onRequest: ({ method, url }) => say("http", `${method} ${url}`),
        });
        containers = engine.ContainerService.open(guest, images, {
          addressSpace: options.addressSpace,
          records: false,
        });
        containers.trace((event) => say("engine", event.command));
        const docker = await engine.serveDockerInGuest(guest, {
          images,
          containers,
          swarmLink: engine.apiOverPort(swarmPort, "the swarm's managers"),
        });
        return { docker, engineMs: performance.now() - since };
      })();
      const [{ identityMs, routesMs }, { docker, engineMs }] = await Promise.all([wired, serving]);
      step("identity and routes ‖ engine");
      steps.push(
        { name: "(identity: MAC, address, hostname)", ms: identityMs },
        { name: "(routes to the other nodes' containers)", ms: routesMs },
        { name: "(engine: images, containers, the Engine API)", ms: engineMs },
      );
      say(
        "vm",
        `restore_state in ${Math.round(restoreMs)} ms; ifconfig eth0 hw ether ${options.identity.mac}; ip addr add ${options.identity.address}/24 dev eth0; hostname ${name}`,
      );
      engine.serveApiOverPort(apiPort, async (request) => {
        const response = await docker.fetch(request);
        const url = new URL(request.url);
        if (!request.headers.has("x-drydock-quiet")) {
          say("api", `${request.method} ${url.pathname}${url.search} → ${response.status}`);
        }
        return response;
      });
    } catch (error) {
      await guest.dispose().catch(() => {});
      drydock = undefined;
      throw error;
    }
    say("vm", `added: ${steps.map((s) => `${s.name} ${Math.round(s.ms)} ms`).join(" · ")}`);
    return { restoreMs, steps };
  },

  async route(routes, gone) {
    if (!drydock) throw new Error(`${name} is not running`);
    const { routeBlocks } = await import("../engine/index.ts");
    await routeBlocks(drydock.agent, name, routes, gone);
  },

  async memory() {
    return v86MemoryBytes(drydock);
  },

  swarm: swarmEngine(),

  async stop() {
    const guest = drydock;
    drydock = undefined;
    await containers?.close().catch(() => {});
    containers = undefined;
    await guest?.dispose().catch(() => {});
  },
};

/** This node's engine as the swarm's manager (in the first worker) drives it: localNodeEngine, over comlink. */
function swarmEngine(): SwarmNodeEngine {
  let local: SwarmNodeEngine | undefined;
  let of: ContainerService | undefined;
  const engine = async () => {
    if (!containers || !images) throw new Error(`${name} is not running`);
    if (of !== containers || !local) {
      local = (await import("../engine/index.ts")).localNodeEngine(containers, images);
      of = containers;
    }
    return local;
  };
  return {
    pullIfMissing: async (image) => (await engine()).pullIfMissing(image),
    ensureNetwork: async (network) => (await engine()).ensureNetwork(network),
    removeNetwork: async (network) => (await engine()).removeNetwork(network),
    overlayPeers: async (network, peers) => (await engine()).overlayPeers(network, peers),
    create: async (image, options) => (await engine()).create(image, options),
    connect: async (network, id, options) => (await engine()).connect(network, id, options),
    start: async (id) => (await engine()).start(id),
    addresses: async (id) => (await engine()).addresses(id),
    stopAndRemove: async (id, timeoutSeconds) => (await engine()).stopAndRemove(id, timeoutSeconds),
    kill: async (id) => (await engine()).kill(id),
    states: async (ids) => (await engine()).states(ids),
    // The stream itself crosses to the first worker (transferred, not copied).
    logs: async (id, options) => {
      const stream = await (await engine()).logs(id, options);
      return Comlink.transfer(stream, [stream as unknown as Transferable]);
    },
    publish: async (mesh) => (await engine()).publish(mesh),
    unpublish: async (mesh) => (await engine()).unpublish(mesh),
    // `names` is the manager's resolver, a comlink proxy: each answer is a message's round trip to the first worker.
    answerNames: async (names) => (await engine()).answerNames(names),
  };
}

Comlink.expose(api);
