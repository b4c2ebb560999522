import { describe, expect, it } from "vitest";
import { NetworkStore } from "../network/store.ts";
import { blockRouteCommands, nodeAddressSpace, nodeRoutes } from "./routes.ts";

describe("routes between nodes' containers", () => {
  it("gives node k the block 10.k.0.0/16, which a node's network store takes its bridges from", () => {
    expect(nodeAddressSpace(1)).toBe("10.1.0.0/16");
    expect(nodeAddressSpace(99)).toBe("10.99.0.0/16");
    expect(new NetworkStore({ addressSpace: nodeAddressSpace(3) }).defaultBridge.ipam[0]!.subnet).toBe("10.3.0.0/24");
    expect(() => nodeAddressSpace(0)).toThrow("from 1 to 99, got 0");
  });

  it("routes every other node's block through that node's eth0 address, and not its own", () => {
    expect(nodeRoutes(2, 3)).toEqual([
      "ip route replace 10.1.0.0/16 via 192.168.86.101 dev eth0",
      "ip route replace 10.3.0.0/16 via 192.168.86.103 dev eth0",
    ]);
    expect(nodeRoutes(1, 1)).toEqual([]);
    expect(() => nodeRoutes(1, 100)).toThrow("a cluster has 1 to 99 nodes, got 100");
  });
});

describe("blockRouteCommands", () => {
  it("routes each block through its node and drops the blocks of nodes that left", () => {
    expect(blockRouteCommands([{ block: "172.17.0.0/16", via: "192.168.86.101" }], ["10.3.0.0/16"])).toEqual([
      "ip route del 10.3.0.0/16 2>/dev/null || true",
      "ip route replace 172.17.0.0/16 via 192.168.86.101 dev eth0",
    ]);
    expect(blockRouteCommands([])).toEqual([]);
  });

  it("refuses what is not a block or an address, so nothing else reaches the guest's shell", () => {
    expect(() => blockRouteCommands([{ block: "10.2.0.0/16; reboot", via: "192.168.86.102" }])).toThrow(
      "cannot route 10.2.0.0/16; reboot via 192.168.86.102: give a CIDR block and an IPv4 address",
    );
    expect(() => blockRouteCommands([], ["default"])).toThrow("cannot unroute default: not a CIDR block");
  });
});
