import { describe, expect, it } from "vitest";
import { MemoryMetadataStore } from "../content/metadata.ts";
import { SWARM_DOCUMENT, SWARM_ERRORS, SwarmManager, type SwarmManagerOptions } from "./manager.ts";
import type { OverlayNetworkSpec, SwarmNodeEngine } from "./node-engine.ts";

/** A manager over three members with no guest behind them (no tasks are started: nothing to place them on). */
function cluster(options: SwarmManagerOptions = {}) {
  const swarm = new SwarmManager(options);
  for (const index of [1, 2, 3]) {
    swarm.addMember({
      identity: { index, name: `node${index}`, address: `192.168.86.${100 + index}` },
      engine: () => undefined,
      up: () => false,
    });
  }
  return swarm;
}

const web = (extra: Record<string, unknown> = {}) => ({
  Name: "web",
  TaskTemplate: { ContainerSpec: { Image: "busybox" } },
  EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] },
  ...extra,
});

describe("SwarmManager: membership", () => {
  it("init makes a manager and leader; a join is checked against the address and the token", () => {
    const swarm = cluster();
    try {
      expect(() => swarm.requireManager("node1")).toThrow(SWARM_ERRORS.notInSwarm);
      const id = swarm.init("node1");
      expect(swarm.nodeOf("node1")).toMatchObject({ id, role: "manager", leader: true });
      expect(() => swarm.init("node1")).toThrow(SWARM_ERRORS.alreadyInSwarm);
      expect(() => swarm.init("node2")).toThrow("this cluster already has a swarm (managers at 192.168.86.101:2377)");
      const { worker, manager } = swarm.swarm!.tokens;
      expect(worker).toMatch(/^SWMTKN-1-[a-z0-9]{50}-[a-z0-9]{25}$/);
      expect(worker.slice(0, 60)).toBe(manager.slice(0, 60));
      expect(() => swarm.join("node2", { token: `${worker}x`, remoteAddrs: ["192.168.86.101:2377"] })).toThrow(
        "A valid join token is necessary to join this cluster",
      );
      expect(() => swarm.join("node2", { token: worker, remoteAddrs: ["192.168.86.103:2377"] })).toThrow(
        "could not reach a swarm manager at 192.168.86.103:2377: the managers are at 192.168.86.101:2377",
      );
      swarm.join("node2", { token: worker, remoteAddrs: ["node1"] });
      swarm.join("node3", { token: manager, remoteAddrs: ["192.168.86.101:2377"] });
      expect(swarm.nodeOf("node2")?.role).toBe("worker");
      expect(swarm.nodeOf("node3")?.role).toBe("manager");
      expect(() => swarm.requireManager("node2")).toThrow(SWARM_ERRORS.worker);
    } finally {
      swarm.close();
    }
  });

  it("leave: a manager needs --force, the last one dissolves the swarm; node update checks the version", () => {
    const swarm = cluster();
    try {
      swarm.init("node1");
      swarm.join("node2", { token: swarm.swarm!.tokens.worker, remoteAddrs: ["192.168.86.101"] });
      const node2 = swarm.nodeOf("node2")!;
      expect(() => swarm.updateNode("node2", node2.version - 1, { availability: "drain" })).toThrow(
        "update out of sequence",
      );
      swarm.updateNode("node2", node2.version, { availability: "drain", labels: { zone: "b" } });
      expect(swarm.node("node2")).toMatchObject({ availability: "drain", labels: { zone: "b" } });
      expect(() => swarm.updateNode("node1", swarm.node("node1").version, { role: "worker" })).toThrow(
        "attempting to demote the last manager of the swarm",
      );
      swarm.leave("node2", false);
      expect(swarm.nodeOf("node2")).toBeUndefined();
      expect(swarm.node("node2")).toMatchObject({ left: true, ready: false });
      swarm.removeNode("node2", false);
      expect(() => swarm.node("node2")).toThrow("node node2 not found");
      expect(() => swarm.leave("node3", false)).toThrow(SWARM_ERRORS.notPartOfSwarm);
      expect(() => swarm.leave("node1", false)).toThrow(SWARM_ERRORS.lastManager);
      swarm.leave("node1", true);
      expect(swarm.swarm).toBeUndefined();
      expect(swarm.nodes()).toEqual([]);
    } finally {
      swarm.close();
    }
  });
});

describe("SwarmManager: services", () => {
  it("refuses a second service of a name or on a taken port, and a network that is not the swarm's", () => {
    const swarm = cluster();
    try {
      swarm.init("node1");
      const service = swarm.createService(web());
      expect(service.id).toMatch(/^[a-z0-9]{25}$/);
      expect(swarm.service("web").id).toBe(service.id);
      expect(() => swarm.createService(web())).toThrow(
        "name conflicts with an existing object: service web already exists",
      );
      expect(() => swarm.createService(web({ Name: "other" }))).toThrow(
        `port '8080' is already in use by service 'web' (${service.id}) as an ingress port`,
      );
      expect(() =>
        swarm.createService({
          Name: "api",
          TaskTemplate: { ContainerSpec: { Image: "x" }, Networks: [{ Target: "appnet" }] },
        }),
      ).toThrow("network appnet not found: create it on a manager with docker network create -d overlay appnet");
      const network = swarm.createNetwork({ name: "appnet", attachable: false, labels: {} });
      const api = swarm.createService({
        Name: "api",
        TaskTemplate: { ContainerSpec: { Image: "x" }, Networks: [{ Target: network.id }] },
      });
      expect(api.plan.networks).toEqual([{ target: "appnet", aliases: [] }]);
    } finally {
      swarm.close();
    }
  });

  it("an update of the task template starts a rolling update; a scale does not", () => {
    const swarm = cluster();
    try {
      swarm.init("node1");
      const service = swarm.createService(web());
      expect(() => swarm.updateService("web", service.version + 1, web())).toThrow("update out of sequence");
      swarm.updateService("web", service.version, web({ Mode: { Replicated: { Replicas: 5 } } }));
      expect(swarm.service("web")).toMatchObject({ template: 1, plan: { replicas: 5 } });
      expect(swarm.service("web").update).toBeUndefined();
      swarm.updateService(
        "web",
        swarm.service("web").version,
        web({ TaskTemplate: { ContainerSpec: { Image: "v2" } } }),
      );
      expect(swarm.service("web")).toMatchObject({ template: 2, update: { state: "updating" } });
      swarm.updateService("web", swarm.service("web").version, {}, { rollback: true });
      expect(swarm.service("web")).toMatchObject({
        template: 3,
        update: { state: "rollback_started" },
        plan: { image: "busybox" },
      });
    } finally {
      swarm.close();
    }
  });
});

describe("SwarmManager: kept across a restart", () => {
  it("a second manager on the same store gets the swarm back: tokens, nodes, services, networks", async () => {
    const store = new MemoryMetadataStore();
    const first = cluster({ store });
    first.init("node1");
    first.join("node2", { token: first.swarm!.tokens.worker, remoteAddrs: ["192.168.86.101:2377"] });
    first.updateNode("node2", first.nodeOf("node2")!.version, { labels: { zone: "b" } });
    first.createNetwork({ name: "appnet", attachable: false, labels: {} });
    const service = first.createService(web({ Networks: [{ Target: "appnet" }] }));
    await first.settle();
    first.close();
    await first.flush();

    const second = cluster({ store });
    try {
      expect(second.swarm).toBeUndefined();
      expect(await second.restore()).toBe(true);
      expect(second.swarm).toEqual(first.swarm);
      expect(second.nodeOf("node1")).toMatchObject({ role: "manager", leader: true });
      expect(second.nodeOf("node2")).toMatchObject({ role: "worker", labels: { zone: "b" } });
      expect(second.service("web")).toMatchObject({ id: service.id, plan: { replicas: 1 } });
      expect(second.findNetwork("appnet")?.id).toBe(first.findNetwork("appnet")?.id);
      expect(second.findNetwork("appnet")).toMatchObject({ vni: 4097, subnet: "10.0.1.0/24", gateway: "10.0.1.1" });
      // The task the loop made (pending: no node has a guest) is kept with its slot.
      expect(second.tasks().map((task) => task.slot)).toEqual([1]);
      // Still the same swarm: node3 joins it with the old token; a second init is refused.
      second.join("node3", { token: first.swarm!.tokens.worker, remoteAddrs: ["node1"] });
      expect(() => second.init("node3")).toThrow(SWARM_ERRORS.alreadyInSwarm);

      // The last manager leaving dissolves the swarm: nothing is kept, so the next start has none.
      second.leave("node1", true);
      await second.flush();
      expect(await store.read(SWARM_DOCUMENT)).toBeUndefined();
      expect(await cluster({ store }).restore()).toBe(false);
    } finally {
      second.close();
    }
  });

  it("a damaged document is refused with what to do, and left as it was", async () => {
    const store = new MemoryMetadataStore();
    await store.write(SWARM_DOCUMENT, new TextEncoder().encode('{"schema": 1, "swarm": '));
    const swarm = cluster({ store });
    await expect(swarm.restore()).rejects.toThrow(
      /swarm\.json cannot be read .*move it aside to start without a swarm/,
    );
    expect(new TextDecoder().decode(await store.read(SWARM_DOCUMENT))).toBe('{"schema": 1, "swarm": ');
    swarm.close();
  });
});

/** A node's engine that records what the manager asks of it, with containers that run until removed. */
function recordingEngine() {
  const calls: string[] = [];
  const running = new Map<string, Record<string, string>>();
  let next = 0;
  const engine: SwarmNodeEngine = {
    pullIfMissing: async () => {},
    ensureNetwork: async (network: OverlayNetworkSpec) => {
      calls.push(
        `ensure ${network.name} vni ${network.vni} ${network.subnet} gw ${network.gateway} node ${network.nodeAddress} local ${network.local} peers ${network.peers.join(",")}`,
      );
    },
    overlayPeers: async (name, peers) => {
      calls.push(`peers ${name} ${peers.join(",")}`);
    },
    removeNetwork: async (name) => {
      calls.push(`remove ${name}`);
    },
    create: async (_image, options) => {
      const id = `c${next++}`;
      const addresses: Record<string, string> = {};
      for (const [network, endpoint] of Object.entries(options.endpoints ?? {}))
        if (endpoint.ipv4Address) addresses[network] = endpoint.ipv4Address;
      running.set(id, addresses);
      return { id };
    },
    connect: async () => {},
    start: async () => {},
    addresses: async (id) => running.get(id) ?? {},
    stopAndRemove: async (id) => {
      running.delete(id);
    },
    kill: async (id) => {
      running.delete(id);
    },
    states: async (ids) => ids.map((id) => (running.has(id) ? { status: "running" } : undefined)),
    logs: async () => new ReadableStream(),
    publish: async () => {},
    unpublish: async () => {},
    answerNames: async () => {},
  };
  return { engine, calls };
}

describe("SwarmManager: overlay networks", () => {
  it("one VNI and subnet across the swarm, an address per task and node, and flood entries that follow the nodes", async () => {
    const swarm = new SwarmManager({ intervalMs: 60_000 });
    const nodes = [1, 2, 3].map((index) => ({ index, ...recordingEngine() }));
    for (const node of nodes) {
      swarm.addMember({
        identity: { index: node.index, name: `node${node.index}`, address: `192.168.86.${100 + node.index}` },
        engine: () => node.engine,
        up: () => true,
      });
    }
    try {
      swarm.init("node1");
      for (const name of ["node2", "node3"])
        swarm.join(name, { token: swarm.swarm!.tokens.worker, remoteAddrs: ["node1"] });
      const appnet = swarm.createNetwork({ name: "appnet", attachable: false, labels: {} });
      const other = swarm.createNetwork({ name: "other", attachable: false, labels: {} });
      expect([appnet.vni, appnet.subnet, appnet.gateway]).toEqual([4097, "10.0.1.0/24", "10.0.1.1"]);
      expect([other.vni, other.subnet]).toEqual([4098, "10.0.2.0/24"]);
      swarm.createService({
        Name: "api",
        Mode: { Replicated: { Replicas: 3 } },
        TaskTemplate: { ContainerSpec: { Image: "busybox" }, Networks: [{ Target: "appnet" }] },
      });
      for (let turn = 0; turn < 5; turn++) await swarm.settle();

      const tasks = swarm.tasks().filter((task) => task.state === "running");
      expect(tasks).toHaveLength(3);
      const taskAddresses = tasks.map((task) => task.addresses.appnet);
      expect(new Set(taskAddresses).size).toBe(3);
      for (const address of taskAddresses) expect(address).toMatch(/^10\.0\.1\.\d+$/);
      const ensured = nodes.map((node) => node.calls.find((call) => call.startsWith("ensure"))!);
      const nodeAddresses = ensured.map((call) => / node (\S+) /.exec(call)![1]);
      expect(new Set([...nodeAddresses, ...taskAddresses]).size).toBe(6);
      for (const [k, call] of ensured.entries()) {
        expect(call).toContain(`ensure appnet vni 4097 10.0.1.0/24 gw 10.0.1.1 node 10.0.1.`);
        expect(call).toContain(`local 192.168.86.10${k + 1}`);
      }
      // Each node ends up flooding to the two others, whichever made its segment first.
      const peersOf = (k: number) => {
        const told = nodes[k]!.calls.filter((call) => call.startsWith("peers appnet") || call.startsWith("ensure"));
        const last = told.at(-1)!;
        return last.startsWith("peers") ? last.slice("peers appnet ".length) : last.split(" peers ")[1];
      };
      expect(peersOf(0)).toBe("192.168.86.102,192.168.86.103");
      expect(peersOf(1)).toBe("192.168.86.101,192.168.86.103");
      expect(peersOf(2)).toBe("192.168.86.101,192.168.86.102");

      // node3 leaves: the others stop flooding to it, and its segment goes once its task's container has.
      swarm.leave("node3", false);
      for (let turn = 0; turn < 5; turn++) await swarm.settle();
      expect(peersOf(0)).toBe("192.168.86.102");
      expect(peersOf(1)).toBe("192.168.86.101");
      expect(nodes[2]!.calls).toContain("remove appnet");
      // Its task's address is free again; the replacement took another one.
      const live = swarm.tasks().filter((task) => task.state === "running");
      expect(live).toHaveLength(3);
      expect(new Set(live.map((task) => task.addresses.appnet)).size).toBe(3);
      expect(Object.keys(appnet.addresses).filter((owner) => owner.startsWith("task:"))).toHaveLength(3);
    } finally {
      swarm.close();
    }
  });
});
