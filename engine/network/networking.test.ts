import * as packet from "@dnsquery/dns-packet";
import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { FakeGuestNetwork, fakeTcpDnsServer } from "./fake-guest.ts";
import { type ContainerFiles, type ContainerNetworkRequest, Networking, type StartingContainer } from "./networking.ts";

const request = (over: Partial<ContainerNetworkRequest> = {}): ContainerNetworkRequest => ({
  networkMode: "default",
  endpoints: {},
  portBindings: {},
  publishAllPorts: false,
  extraHosts: [],
  dns: [],
  dnsSearch: [],
  dnsOptions: [],
  ...over,
});

function container(id: string, name: string, over: Partial<ContainerNetworkRequest> = {}, exposed: string[] = []) {
  return { id: id.repeat(64), name, hostname: id.repeat(12), exposedPorts: exposed, request: request(over) };
}

const noPeer = () => {
  throw new Error("no peers here");
};

async function start(net: Networking, c: StartingContainer) {
  net.register(c.id, c.request, noPeer);
  return net.setUp(c, noPeer);
}

async function resolve(guest: FakeGuestNetwork, sandbox: string, name: string): Promise<string[]> {
  const answer = guest.dns.get(`${sandbox} 127.0.0.11`);
  if (!answer) throw new Error(`no resolver in ${sandbox}`);
  const query = packet.encode({ type: "query", id: 1, questions: [{ type: "A", name }] });
  const decoded = packet.decode(await answer(query));
  return (decoded.answers ?? []).map((a) => String(a.data));
}

describe("Networking: a container's network brought up and down in the guest", () => {
  it("puts a default container on docker0: bridge once, a sandbox, eth0 with its address and route, the gateway's resolver", async () => {
    const guest = new FakeGuestNetwork();
    const net = new Networking({ guest });
    const web = container("a", "web");
    const setup = await start(net, web);
    expect(guest.calls).toEqual([
      "createBridge docker0 172.17.0.1/16",
      "bridgeRules docker0 172.17.0.0/16",
      "serveDns - 172.17.0.1",
      `createSandbox ${web.id}`,
      `attach ${web.id} docker0 eth0 172.17.0.2/16 02:42:ac:11:00:02 via 172.17.0.1`,
    ]);
    expect(setup.netns).toBe(`/run/drydock/netns/${web.id}`);
    expect(setup.hosts).toContain(`172.17.0.2\t${"a".repeat(12)}\n`);
    expect(setup.resolvConf).toContain("nameserver 172.17.0.1\n");
    // The bridge and its resolver are made once.
    guest.calls.length = 0;
    await start(net, container("b", "db"));
    expect(guest.calls[0]).toBe(`createSandbox ${"b".repeat(64)}`);
    await net.tearDown(web.id);
    expect(guest.calls.at(-1)).toBe(`removeSandbox ${web.id}`);
    expect(net.store.endpointsOfContainer(web.id)).toEqual([]);
  });

  it("resolves names, aliases and short ids on a user network, only for containers on it", async () => {
    const guest = new FakeGuestNetwork();
    const net = new Networking({ guest });
    const app = await net.create({ name: "app" });
    expect(guest.calls).toEqual([
      `createBridge ${app.bridge} 172.18.0.1/16`,
      `bridgeRules ${app.bridge} 172.18.0.0/16`,
      "isolate 172.18.0.0/16 172.17.0.0/16",
    ]);
    const web = container("a", "web", { networkMode: "app", endpoints: { app: { aliases: ["www"] } } });
    const client = container("b", "client", { networkMode: "app", extraHosts: [{ host: "db", ip: "10.1.2.3" }] });
    const outsider = container("c", "outsider");
    const setup = await start(net, web);
    await start(net, client);
    await start(net, outsider);
    expect(setup.resolvConf).toMatch(/^nameserver 127\.0\.0\.11$/m);
    expect(setup.resolvConf).toMatch(/^options ndots:0$/m);
    expect(guest.calls).toContain(`serveDns ${client.id} 127.0.0.11`);
    expect(guest.dns.has(`${outsider.id} 127.0.0.11`)).toBe(false);
    expect(await resolve(guest, client.id, "web")).toEqual(["172.18.0.2"]);
    expect(await resolve(guest, client.id, "WWW")).toEqual(["172.18.0.2"]);
    expect(await resolve(guest, client.id, "a".repeat(12))).toEqual(["172.18.0.2"]);
    expect(await resolve(guest, client.id, "db")).toEqual(["10.1.2.3"]);
    expect(await resolve(guest, web.id, "client")).toEqual(["172.18.0.3"]);
    // The default bridge's container is not a name on app, and a stopped one is gone.
    expect(await resolve(guest, web.id, "outsider")).toEqual([]);
    await net.tearDown(client.id);
    expect(await resolve(guest, web.id, "client")).toEqual([]);
  });

  it("forwards a user network container's other names to its --dns servers, the rest to the engine's upstream", async () => {
    const guest = new FakeGuestNetwork();
    guest.tcp = () => fakeTcpDnsServer({ "intranet.test": "10.20.30.40" });
    const relayed: string[] = [];
    const net = new Networking({
      guest,
      upstream: async (query) => {
        relayed.push(packet.decode(query).questions![0]!.name);
        return packet.encode({ type: "response", id: packet.decode(query).id ?? 0, questions: [] });
      },
    });
    await net.create({ name: "app" });
    const own = container("a", "own", { networkMode: "app", dns: ["10.0.0.53"] });
    const plain = container("b", "plain", { networkMode: "app" });
    const setup = await start(net, own);
    await start(net, plain);
    // Its resolv.conf still names the embedded resolver, which knows the containers' names first.
    expect(setup.resolvConf).toMatch(/^nameserver 127\.0\.0\.11$/m);
    expect(await resolve(guest, own.id, "plain")).toEqual(["172.18.0.3"]);
    expect(await resolve(guest, own.id, "intranet.test")).toEqual(["10.20.30.40"]);
    expect(guest.calls.filter((call) => call.startsWith("connectTcp"))).toEqual(["connectTcp 10.0.0.53:53"]);
    expect(relayed).toEqual([]);
    expect(await resolve(guest, plain.id, "intranet.test")).toEqual([]);
    expect(relayed).toEqual(["intranet.test"]);
  });

  it("publishes -p and -P ports to the container's address, and undoes everything when one is taken", async () => {
    const guest = new FakeGuestNetwork();
    const net = new Networking({ guest });
    const web = container(
      "a",
      "web",
      { portBindings: { "80/tcp": [{ hostIp: "", hostPort: "8080" }] }, publishAllPorts: true },
      ["80/tcp", "443/tcp"],
    );
    await start(net, web);
    expect(guest.calls).toContain("publish tcp 0.0.0.0:8080 172.17.0.2:80");
    expect(guest.calls).toContain("publish tcp 0.0.0.0:32768 172.17.0.2:443");
    // Beside each proxy, dockerd's DNAT rule to the container's address on its bridge.
    expect(guest.calls).toContain("portRules tcp 0.0.0.0:8080 docker0 172.17.0.2:80");
    expect(guest.calls).toContain("portRules tcp 0.0.0.0:32768 docker0 172.17.0.2:443");
    expect(net.publishedOf(web.id)).toHaveLength(2);

    // The engine's own allocation refuses a port another container holds, before touching the guest.
    const second = container("b", "second", { portBindings: { "80/tcp": [{ hostIp: "", hostPort: "8080" }] } });
    guest.calls.length = 0;
    const refused = await start(net, second).catch((error: unknown) => error);
    expect(isEngineError(refused, "conflict")).toBe(true);
    expect((refused as Error).message).toMatch(
      /^driver failed programming external connectivity on endpoint second \([0-9a-f]{64}\): Bind for 0\.0\.0\.0:8080 failed: port is already allocated$/,
    );
    expect(net.store.endpointsOfContainer(second.id)).toEqual([]);

    // A port some guest program holds fails in the guest: the sandbox made on the way is removed again.
    guest.taken.add("tcp/9090");
    const third = container("c", "third", { portBindings: { "90/tcp": [{ hostIp: "", hostPort: "9090" }] } });
    guest.calls.length = 0;
    await expect(start(net, third)).rejects.toThrow(/Bind for 0\.0\.0\.0:9090 failed: port is already allocated/);
    expect(guest.calls).toContain(`createSandbox ${third.id}`);
    expect(guest.calls).toContain(`removeSandbox ${third.id}`);
    expect(guest.calls).toContain("unpublish tcp 0.0.0.0:9090");
    expect(guest.calls.filter((call) => call.startsWith("unportRules"))).toEqual([
      expect.stringMatching(/^unportRules tcp 0\.0\.0\.0:9090 docker0 172\.17\.0\.\d+:90$/),
    ]);
    expect(net.store.endpointsOfContainer(third.id)).toEqual([]);
    // Its port is free again once the guest's is.
    guest.taken.clear();
    await start(net, third);
    await net.tearDown(web.id);
    expect(guest.calls).toContain("unpublish tcp 0.0.0.0:8080");
    expect(guest.calls).toContain("unportRules tcp 0.0.0.0:8080 docker0 172.17.0.2:80");
    await start(net, second);
  });

  it("runs --network none with lo only and host in the guest's namespace, with no guest steps", async () => {
    const guest = new FakeGuestNetwork();
    const net = new Networking({ guest });
    const none = await start(net, container("a", "none", { networkMode: "none" }));
    expect(none.netns).toBeUndefined();
    expect(none.hosts).toMatch(/^127\.0\.0\.1\tlocalhost a{12}$/m);
    const host = await start(net, container("b", "host", { networkMode: "host" }));
    expect(host.netns).toBe("host");
    expect(guest.calls).toEqual([]);
  });

  it("joins another running container's namespace with container:", async () => {
    const guest = new FakeGuestNetwork();
    const net = new Networking({ guest });
    const web = container("a", "web");
    await start(net, web);
    const peer = () => ({ id: web.id, pid: 77, running: true });
    const side = container("b", "side", { networkMode: "container:web" });
    net.register(side.id, side.request, peer);
    const setup = await net.setUp(side, peer);
    expect(setup.netns).toBe("/proc/77/ns/net");
    expect(setup.hosts).toContain("172.17.0.2");
    expect(() =>
      net.register(
        "c".repeat(64),
        request({ networkMode: "container:web", portBindings: { "80/tcp": [{ hostIp: "", hostPort: "" }] } }),
        peer,
      ),
    ).toThrow("conflicting options: port publishing and the container type network mode");
  });

  it("connects a running container to another network as eth1, and disconnects it", async () => {
    const guest = new FakeGuestNetwork();
    const net = new Networking({ guest });
    const web = container("a", "web");
    await start(net, web);
    const back = await net.create({ name: "back" });
    guest.calls.length = 0;
    await net.connect("back", { id: web.id, name: "web", running: true }, { aliases: ["api"] });
    expect(guest.calls).toEqual([
      `attach ${web.id} ${back.bridge} eth1 172.18.0.2/16 02:42:ac:12:00:02`,
      `serveDns ${web.id} 127.0.0.11`,
    ]);
    expect(net.networksOf(web.id).map((n) => [n.network.name, n.endpoint?.ip])).toEqual([
      ["bridge", "172.17.0.2"],
      ["back", "172.18.0.2"],
    ]);
    await expect(net.remove("back")).rejects.toThrow(/has active endpoints \(name:"web"/);
    await net.disconnect("back", { id: web.id, name: "web" });
    expect(guest.calls.at(-1)).toBe(`detach ${web.id} eth1`);
    await net.remove("back");
    expect(guest.calls.slice(-3)).toEqual([
      `removeBridge ${back.bridge}`,
      `unbridgeRules ${back.bridge} 172.18.0.0/16`,
      "unisolate 172.18.0.0/16 172.17.0.0/16",
    ]);
    await expect(net.remove("bridge")).rejects.toThrow("bridge is a pre-defined network and cannot be removed");
  });

  it("edits a running container's /etc/hosts at connect and disconnect, and moves it from the gateway to the embedded resolver", async () => {
    const guest = new FakeGuestNetwork();
    // The files bound over the containers' /etc, as the engine keeps them in the guest.
    const disk = new Map<string, string>();
    const writes: string[] = [];
    const files: ContainerFiles = {
      read: async (id, file) => {
        const text = disk.get(`${id}/${file}`);
        if (text === undefined) throw new Error(`no ${file} for ${id}`);
        return text;
      },
      write: async (id, file, text) => {
        writes.push(`${id.slice(0, 1)}/${file}`);
        disk.set(`${id}/${file}`, text);
      },
    };
    const net = new Networking({ guest, files });
    const run = async (c: StartingContainer) => {
      const setup = await start(net, c);
      disk.set(`${c.id}/hosts`, setup.hosts);
      disk.set(`${c.id}/resolv.conf`, setup.resolvConf);
      return setup;
    };
    await net.create({ name: "back" });
    await net.create({ name: "other" });
    await run(container("p", "peer", { networkMode: "back" }));
    const web = container("a", "web", { dnsSearch: ["corp.test"], dnsOptions: ["timeout:2"] });
    const started = { ...(await run(web)) };
    expect(started.resolvConf).toMatch(/^nameserver 172\.17\.0\.1$/m);
    expect(guest.dns.has(`${web.id} 127.0.0.11`)).toBe(false);
    // A user line the connect must keep.
    disk.set(`${web.id}/hosts`, `${started.hosts}10.9.9.9\tmine\n`);

    await net.connect("back", { id: web.id, name: "web", running: true }, { aliases: [] });
    expect(disk.get(`${web.id}/hosts`)).toBe(`${started.hosts}10.9.9.9\tmine\n172.18.0.3\t${"a".repeat(12)}\n`);
    const resolv = disk.get(`${web.id}/resolv.conf`)!;
    expect(resolv).toMatch(/^nameserver 127\.0\.0\.11$/m);
    expect(resolv).not.toContain("172.17.0.1");
    expect(resolv).toMatch(/^search corp\.test$/m);
    expect(resolv).toMatch(/^options timeout:2 ndots:0$/m);
    // Its new resolver answers the network's names at once.
    expect(await resolve(guest, web.id, "peer")).toEqual(["172.18.0.2"]);
    // A container joining its namespace afterwards gets the files as they now are.
    const peer = () => ({ id: web.id, pid: 77, running: true });
    const side = container("b", "side", { networkMode: "container:web" });
    net.register(side.id, side.request, peer);
    const joined = await net.setUp(side, peer);
    expect(joined.hosts).toContain(`172.18.0.3\t${"a".repeat(12)}\n`);
    expect(joined.resolvConf).toBe(resolv);

    // A second user network: one more hosts line, the resolver is already the embedded one.
    writes.length = 0;
    await net.connect("other", { id: web.id, name: "web", running: true }, { aliases: [] });
    expect(writes).toEqual(["a/hosts"]);
    expect(disk.get(`${web.id}/hosts`)).toMatch(/^172\.19\.0\.2\ta{12}$/m);

    await net.disconnect("back", { id: web.id, name: "web" });
    await net.disconnect("other", { id: web.id, name: "web" });
    expect(disk.get(`${web.id}/hosts`)).toBe(`${started.hosts}10.9.9.9\tmine\n`);
    // As with dockerd, the embedded resolver stays (it still forwards what it does not know).
    expect(disk.get(`${web.id}/resolv.conf`)).toBe(resolv);
    expect(await resolve(guest, web.id, "peer")).toEqual([]);
    expect(guest.calls.filter((call) => call.startsWith("detach"))).toEqual([
      `detach ${web.id} eth1`,
      `detach ${web.id} eth2`,
    ]);
  });

  it("leaves a user network container's resolv.conf alone at connect, and a stopped container's files", async () => {
    const guest = new FakeGuestNetwork();
    const writes: string[] = [];
    const files: ContainerFiles = {
      read: async () => "127.0.0.1\tlocalhost\n",
      write: async (id, file) => {
        writes.push(`${id.slice(0, 1)}/${file}`);
      },
    };
    const net = new Networking({ guest, files });
    await net.create({ name: "app" });
    await net.create({ name: "back" });
    const web = container("a", "web", { networkMode: "app" });
    await start(net, web);
    await net.connect("back", { id: web.id, name: "web", running: true }, { aliases: [] });
    expect(writes).toEqual(["a/hosts"]);
    const idle = container("b", "idle");
    net.register(idle.id, idle.request, noPeer);
    await net.connect("back", { id: idle.id, name: "idle", running: false }, { aliases: [] });
    await net.disconnect("back", { id: idle.id, name: "idle" });
    expect(writes).toEqual(["a/hosts"]);
  });

  it("runs default containers with lo only on a guest without networking, and refuses what needs one", async () => {
    const net = new Networking();
    expect((await start(net, container("a", "plain"))).netns).toBeUndefined();
    await expect(
      start(net, container("b", "web", { portBindings: { "80/tcp": [{ hostIp: "", hostPort: "8080" }] } })),
    ).rejects.toThrow(/has no container networking/);
  });
});

describe("Networking: a swarm overlay network's segment on a node", () => {
  it("a bridge with the node's address then the gateway, a VXLAN device, flood entries that follow the peers, MTU 1450", async () => {
    const guest = new FakeGuestNetwork();
    const net = new Networking({ guest });
    const appnet = await net.create({
      name: "appnet",
      ipam: [{ subnet: "10.0.1.0/24", gateway: "10.0.1.1" }],
      overlay: {
        id: "k3v9overlaynetworkid00001",
        vni: 4097,
        local: "192.168.86.101",
        nodeAddress: "10.0.1.2",
        peers: ["192.168.86.102"],
      },
    });
    expect(appnet.id).toBe("k3v9overlaynetworkid00001");
    expect(guest.calls.slice(0, 3)).toEqual([
      `createBridge ${appnet.bridge} 10.0.1.2/24 10.0.1.1/24`,
      `createVxlan vxlan4097 4097 192.168.86.101 ${appnet.bridge} mtu 1450`,
      "floodEntry vxlan4097 192.168.86.102",
    ]);
    // Only the manager gives addresses on it.
    const stray = container("c", "stray", { networkMode: "appnet" });
    expect(() => net.register(stray.id, stray.request, noPeer)).toThrow(
      "network appnet is a swarm's overlay network, whose addresses the swarm's manager gives",
    );
    guest.calls.length = 0;
    const task = container("a", "api.1", {
      networkMode: "appnet",
      endpoints: { appnet: { aliases: [], ipv4Address: "10.0.1.3" } },
    });
    await start(net, task);
    expect(guest.calls).toContain(
      `attach ${task.id} ${appnet.bridge} eth0 10.0.1.3/24 02:42:0a:00:01:03 via 10.0.1.1 mtu 1450`,
    );

    guest.calls.length = 0;
    await net.setOverlayPeers("appnet", ["192.168.86.103"]);
    expect(guest.calls.sort()).toEqual([
      "floodEntry vxlan4097 192.168.86.103",
      "unfloodEntry vxlan4097 192.168.86.102",
    ]);
    await net.tearDown(task.id);
    guest.calls.length = 0;
    await net.remove("appnet");
    expect(guest.calls).toContain("removeVxlan vxlan4097");
    expect(guest.calls).toContain(`removeBridge ${appnet.bridge}`);
  });
});
