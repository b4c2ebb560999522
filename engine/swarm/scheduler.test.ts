import { describe, expect, it } from "vitest";
import { type Candidate, eligibleNodes, noSuitableNode, parseConstraints, pickNode } from "./scheduler.ts";

const node = (id: string, extra: Partial<Candidate> = {}): Candidate => ({
  id,
  hostname: `node${id}`,
  role: "worker",
  availability: "active",
  ready: true,
  labels: {},
  ...extra,
});

describe("the swarm scheduler", () => {
  it("spreads: the fewest tasks of the service first, then the fewest in all", () => {
    const nodes = [node("1"), node("2"), node("3")];
    const load = {
      service: new Map([
        ["1", 1],
        ["2", 1],
      ]),
      total: new Map([["3", 4]]),
    };
    expect(pickNode(nodes, [], load)?.id).toBe("3");
    const even = {
      service: new Map([
        ["1", 1],
        ["2", 1],
        ["3", 1],
      ]),
      total: new Map([
        ["1", 3],
        ["2", 2],
        ["3", 3],
      ]),
    };
    expect(pickNode(nodes, [], even)?.id).toBe("2");
  });

  it("skips drained, paused and down nodes, and honours constraints", () => {
    const nodes = [
      node("1", { availability: "drain" }),
      node("2", { ready: false }),
      node("3", { labels: { zone: "b" } }),
      node("4", { role: "manager" }),
    ];
    expect(eligibleNodes(nodes, []).map((n) => n.id)).toEqual(["3", "4"]);
    expect(eligibleNodes(nodes, parseConstraints(["node.role==manager"])).map((n) => n.id)).toEqual(["4"]);
    expect(eligibleNodes(nodes, parseConstraints(["node.labels.zone!=b"])).map((n) => n.id)).toEqual(["4"]);
    expect(eligibleNodes(nodes, parseConstraints(["node.hostname==node3"])).map((n) => n.id)).toEqual(["3"]);
    const none = parseConstraints(["node.hostname==node9"]);
    expect(pickNode(nodes, none, { service: new Map(), total: new Map() })).toBeUndefined();
    expect(noSuitableNode(nodes, none)).toBe(
      "no suitable node (scheduling constraints not satisfied on 2 nodes; 2 nodes not available for new tasks)",
    );
  });

  it("refuses a constraint it cannot read, saying how to write one", () => {
    expect(() => parseConstraints(["node.hostname=node2"])).toThrow("write key==value or key!=value");
    expect(() => parseConstraints(["engine.labels.x==1"])).toThrow("the key must be one of node.id");
  });
});
