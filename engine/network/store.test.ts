import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { macOf } from "./addresses.ts";
import { NetworkStore, parseNetworkMode } from "./store.ts";

function failure(work: () => unknown): { kind: string; message: string } {
  try {
    work();
  } catch (error) {
    if (isEngineError(error)) return { kind: error.kind, message: error.message };
    throw error;
  }
  throw new Error("expected a failure");
}

describe("NetworkStore: dockerd's networks and IPAM", () => {
  it("starts with bridge (docker0, 172.17.0.0/16), host and none", () => {
    const store = new NetworkStore();
    expect(store.list().map((n) => [n.name, n.driver])).toEqual([
      ["bridge", "bridge"],
      ["host", "host"],
      ["none", "null"],
    ]);
    expect(store.defaultBridge.ipam).toEqual([{ subnet: "172.17.0.0/16", gateway: "172.17.0.1" }]);
    expect(store.defaultBridge.bridge).toBe("docker0");
  });

  it("gives user networks 172.18.0.0/16, 172.19.0.0/16… and a br-<id> bridge, as dockerd picks them", () => {
    const store = new NetworkStore();
    const a = store.create({ name: "a" });
    const b = store.create({ name: "b" });
    expect(a.ipam).toEqual([{ subnet: "172.18.0.0/16", gateway: "172.18.0.1" }]);
    expect(b.ipam[0]!.subnet).toBe("172.19.0.0/16");
    expect(a.bridge).toBe(`br-${a.id.slice(0, 12)}`);
    // A removed network's subnet is free again.
    store.remove("a");
    expect(store.create({ name: "c" }).ipam[0]!.subnet).toBe("172.18.0.0/16");
  });

  it("skips a pool taken by --subnet, and the guest's own 192.168.86.0/24 once 172.x is used up", () => {
    const store = new NetworkStore();
    store.create({ name: "given", ipam: [{ subnet: "172.18.5.0/24" }] });
    expect(store.create({ name: "next" }).ipam[0]!.subnet).toBe("172.19.0.0/16");
    for (let i = 20; i <= 31; i++) store.create({ name: `n${i}` });
    const subnets = [1, 2, 3, 4, 5, 6].map((i) => store.create({ name: `late${i}` }).ipam[0]!.subnet);
    expect(subnets).toEqual([
      "192.168.0.0/20",
      "192.168.16.0/20",
      "192.168.32.0/20",
      "192.168.48.0/20",
      "192.168.64.0/20",
      "192.168.96.0/20",
    ]);
  });

  it("takes every address from a node's address space: docker0 its first /24, new networks the next ones", () => {
    const store = new NetworkStore({ addressSpace: "10.2.0.0/16" });
    expect(store.defaultBridge.ipam).toEqual([{ subnet: "10.2.0.0/24", gateway: "10.2.0.1" }]);
    const web = store.allocate(store.defaultBridge, { id: "a".repeat(64), name: "web" });
    expect([web.ip, web.prefix, web.gateway]).toEqual(["10.2.0.2", 24, "10.2.0.1"]);
    expect(store.create({ name: "a" }).ipam).toEqual([{ subnet: "10.2.1.0/24", gateway: "10.2.1.1" }]);
    store.create({ name: "given", ipam: [{ subnet: "10.2.2.0/24" }] });
    expect(store.create({ name: "b" }).ipam[0]!.subnet).toBe("10.2.3.0/24");
    const small = new NetworkStore({ addressSpace: "10.9.0.0/23" });
    small.create({ name: "one" });
    expect(failure(() => small.create({ name: "two" })).message).toMatch(/all predefined address pools/);
  });

  it("refuses an address space that is not a network address, too small, or the guests' own link", () => {
    expect(failure(() => new NetworkStore({ addressSpace: "10.2.0.1/16" })).message).toMatch(
      /address space 10.2.0.1\/16 must be a network address with a prefix from \/8 to \/23/,
    );
    expect(failure(() => new NetworkStore({ addressSpace: "10.2.0.0/24" })).kind).toBe("invalidArgument");
    expect(failure(() => new NetworkStore({ addressSpace: "192.168.0.0/16" })).message).toMatch(
      /overlaps the guests' own link 192.168.86.0\/24/,
    );
  });

  it("honours --subnet, --gateway and --ip-range, and refuses an overlap with Docker's message", () => {
    const store = new NetworkStore();
    const net = store.create({
      name: "lab",
      ipam: [{ subnet: "10.5.0.0/16", gateway: "10.5.0.254", ipRange: "10.5.1.0/24" }],
    });
    expect(net.ipam).toEqual([{ subnet: "10.5.0.0/16", gateway: "10.5.0.254", ipRange: "10.5.1.0/24" }]);
    expect(failure(() => store.create({ name: "clash", ipam: [{ subnet: "10.5.3.0/24" }] }))).toEqual({
      kind: "forbidden",
      message: "invalid pool request: Pool overlaps with other one on this address space",
    });
    expect(failure(() => store.create({ name: "x", ipam: [{ subnet: "172.16.0.0/12" }] })).kind).toBe("forbidden");
    expect(failure(() => store.create({ name: "lab" }))).toEqual({
      kind: "conflict",
      message: "network with name lab already exists",
    });
    expect(
      failure(() => store.create({ name: "g", ipam: [{ subnet: "10.9.0.0/24", gateway: "10.8.0.1" }] })).message,
    ).toMatch(/gateway 10.8.0.1/);
    expect(failure(() => store.create({ name: "h", ipam: [{ subnet: "10.9.0.1/24" }] })).message).toMatch(/host bits/);
    expect(failure(() => store.create({ name: "o", driver: "overlay" })).message).toMatch(/bridge network driver only/);
  });

  it("hands out .2, .3… after the gateway, --ip on user networks, MAC 02:42 + the address", () => {
    const store = new NetworkStore();
    const net = store.create({ name: "app" });
    const web = store.allocate(net, { id: "a".repeat(64), name: "web" }, { aliases: ["www"] });
    const db = store.allocate(net, { id: "b".repeat(64), name: "db" });
    expect([web.ip, db.ip]).toEqual(["172.18.0.2", "172.18.0.3"]);
    expect(web).toMatchObject({ prefix: 16, gateway: "172.18.0.1", mac: "02:42:ac:12:00:02", ifname: "eth0" });
    const fixed = store.allocate(
      net,
      { id: "c".repeat(64), name: "fixed" },
      { aliases: [], ipv4Address: "172.18.9.9" },
    );
    expect(fixed.ip).toBe("172.18.9.9");
    expect(
      failure(() => store.allocate(net, { id: "d".repeat(64), name: "d" }, { aliases: [], ipv4Address: "172.18.0.2" })),
    ).toEqual({ kind: "forbidden", message: "Address already in use" });
    expect(
      failure(() => store.allocate(net, { id: "e".repeat(64), name: "e" }, { aliases: [], ipv4Address: "10.0.0.1" }))
        .message,
    ).toBe("no configured subnet or ip-range contain the IP address 10.0.0.1");
    expect(
      failure(() =>
        store.allocate(
          store.defaultBridge,
          { id: "f".repeat(64), name: "f" },
          { aliases: [], ipv4Address: "172.17.0.9" },
        ),
      ).message,
    ).toBe("user specified IP address is supported on user defined networks only");
    // A second network is the container's eth1.
    const other = store.create({ name: "other" });
    expect(store.allocate(other, { id: "a".repeat(64), name: "web" }).ifname).toBe("eth1");
    expect(macOf("172.17.0.2")).toBe("02:42:ac:11:00:02");
  });

  it("takes addresses from --ip-range only, and wraps around to free ones", () => {
    const store = new NetworkStore();
    const net = store.create({ name: "small", ipam: [{ subnet: "10.7.0.0/24", ipRange: "10.7.0.4/30" }] });
    const ips = ["a", "b", "c", "d"].map((c) => store.allocate(net, { id: c.repeat(64), name: c }).ip);
    expect(ips).toEqual(["10.7.0.5", "10.7.0.6", "10.7.0.7", "10.7.0.4"]);
    expect(failure(() => store.allocate(net, { id: "e".repeat(64), name: "e" })).kind).toBe("unavailable");
    store.release("b".repeat(64), net.id);
    expect(store.allocate(net, { id: "f".repeat(64), name: "f" }).ip).toBe("10.7.0.6");
  });

  it("refuses to remove a predefined network (403) or one with running containers (409), in Docker's words", () => {
    const store = new NetworkStore();
    expect(failure(() => store.remove("bridge"))).toEqual({
      kind: "forbidden",
      message: "bridge is a pre-defined network and cannot be removed",
    });
    const net = store.create({ name: "busy" });
    store.allocate(net, { id: "a".repeat(64), name: "web" });
    expect(failure(() => store.remove("busy"))).toEqual({
      kind: "conflict",
      message: `error while removing network: network busy has active endpoints (name:"web" id:"${"a".repeat(12)}")`,
    });
    store.release("a".repeat(64), net.id);
    store.remove(net.id.slice(0, 6));
    expect(failure(() => store.get("busy"))).toEqual({ kind: "notFound", message: "network busy not found" });
  });

  it("reads --network as dockerd does", () => {
    expect(parseNetworkMode(undefined)).toEqual({ kind: "bridge", network: "bridge" });
    expect(parseNetworkMode("default")).toEqual({ kind: "bridge", network: "bridge" });
    expect(parseNetworkMode("none")).toEqual({ kind: "none" });
    expect(parseNetworkMode("host")).toEqual({ kind: "host" });
    expect(parseNetworkMode("container:web")).toEqual({ kind: "container", container: "web" });
    expect(parseNetworkMode("backend")).toEqual({ kind: "bridge", network: "backend" });
  });
});
