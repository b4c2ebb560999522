// Containers across nodes without NAT (their blocks are left out of each bridge's MASQUERADE): node k's containers
// take their addresses from its own block, 10.k.0.0/16, and every node routes each other node's block to that node's
// eth0 address. A container on node 1 (10.1.0.2) reaching node 2 is answered by node 2 through node 1, not on node 2's
// own docker0; and v86's router, which all nodes share, never sees two nodes' containers with the same address.
import type { AgentClient } from "../agent/index.ts";
import { EngineError } from "../errors.ts";
import { MAX_NODES, nodeIdentity } from "./cluster.ts";

/** Every node's container block (10.k.0.0/16) lies in it: routed between nodes, never masqueraded. */
export const CLUSTER_BLOCKS = "10.0.0.0/8";

/**
 * The block node k's container addresses come from: docker0 is its first /24, new networks the next ones.
 * @example
 * nodeAddressSpace(2); // "10.2.0.0/16"
 */
export function nodeAddressSpace(index: number): string {
  nodeIdentity(index, "");
  return `10.${index}.0.0/16`;
}

/**
 * The commands that route the other nodes' blocks (of nodes 1…count) through their eth0 addresses, on node `own`.
 * @example
 * nodeRoutes(1, 2); // ["ip route replace 10.2.0.0/16 via 192.168.86.102 dev eth0"]
 */
export function nodeRoutes(own: number, count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
    throw new EngineError("invalidArgument", `a cluster has 1 to ${MAX_NODES} nodes, got ${count}`);
  }
  nodeIdentity(own, "");
  const routes: string[] = [];
  for (let other = 1; other <= count; other++) {
    if (other === own) continue;
    routes.push(`ip route replace ${nodeAddressSpace(other)} via ${nodeIdentity(other, "").address} dev eth0`);
  }
  return routes;
}

/**
 * Routes, in node `own`'s guest, the container blocks of every other node of a cluster of `count` (after the node has
 * its identity: the routes go through eth0's subnet).
 * @example
 * await routeToNodes(drydock.agent, 2, 3);
 */
export async function routeToNodes(agent: AgentClient, own: number, count: number): Promise<void> {
  const routes = nodeRoutes(own, count);
  if (routes.length === 0) return;
  const { code, stderr } = await agent.run(["sh", "-c", ["set -e", ...routes].join("\n")]);
  if (code !== 0) {
    throw new EngineError(
      "internal",
      `could not route the other nodes' containers on node${own}: ${stderr.trim() || `exit ${code}`}`,
    );
  }
}

/** A block of container addresses and the node address it is reached through. */
export interface BlockRoute {
  block: string;
  via: string;
}

/**
 * The commands that route `routes` through eth0 and drop the routes to `gone` blocks (a node that left).
 * @example
 * blockRouteCommands([{ block: "10.2.0.0/16", via: "192.168.86.102" }], ["10.3.0.0/16"]);
 */
export function blockRouteCommands(routes: BlockRoute[], gone: string[] = []): string[] {
  const cidr = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;
  const address = /^\d{1,3}(\.\d{1,3}){3}$/;
  for (const { block, via } of routes) {
    if (!cidr.test(block) || !address.test(via)) {
      throw new EngineError(
        "invalidArgument",
        `cannot route ${block} via ${via}: give a CIDR block and an IPv4 address`,
      );
    }
  }
  for (const block of gone) {
    if (!cidr.test(block)) throw new EngineError("invalidArgument", `cannot unroute ${block}: not a CIDR block`);
  }
  return [
    ...gone.map((block) => `ip route del ${block} 2>/dev/null || true`),
    ...routes.map(({ block, via }) => `ip route replace ${block} via ${via} dev eth0`),
  ];
}

/**
 * Routes, in a node's guest, each block through its node (see blockRouteCommands); `name` is for the error.
 * @example
 * await routeBlocks(drydock.agent, "node1", [{ block: "10.2.0.0/16", via: "192.168.86.102" }]);
 */
export async function routeBlocks(agent: AgentClient, name: string, routes: BlockRoute[], gone: string[] = []) {
  const commands = blockRouteCommands(routes, gone);
  if (commands.length === 0) return;
  const { code, stderr } = await agent.run(["sh", "-c", commands.join("\n")]);
  if (code !== 0) {
    throw new EngineError(
      "internal",
      `could not route the other nodes' containers on ${name}: ${stderr.trim() || `exit ${code}`}`,
    );
  }
}
