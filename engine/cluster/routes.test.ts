import { describe, expect, it } from "vitest";
import { NetworkStore } from "../network/store.ts";
import { nodeAddressSpace, nodeRoutes } from "./routes.ts";

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
