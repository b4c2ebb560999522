import { describe, expect, it } from "vitest";
import { nodeIdentity } from "./cluster.ts";

describe("nodeIdentity", () => {
  it("gives node k its own name, address and locally administered MAC", () => {
    const two = nodeIdentity(2);
    expect(two).toMatchObject({ index: 2, name: "node2", address: "192.168.86.102", mac: "02:d7:00:00:00:02" });
    expect(two.id).toMatch(/^[0-9a-f]{32}$/);
    expect(nodeIdentity(2).id).not.toBe(two.id);
    expect(nodeIdentity(99, "x")).toMatchObject({ address: "192.168.86.199", mac: "02:d7:00:00:00:63", id: "x" });
  });

  it("refuses a number the subnet has no address for", () => {
    expect(() => nodeIdentity(0)).toThrow("a node's number must be a whole number from 1 to 99, got 0");
    expect(() => nodeIdentity(100)).toThrow("from 1 to 99, got 100");
  });
});
