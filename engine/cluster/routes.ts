// Containers across nodes without NAT (the guest's kernel has no netfilter): node k's containers take their
// addresses from its own block, 10.k.0.0/16, and every node routes each other node's block to that node's eth0
// address. A container on node 1 (10.1.0.2) reaching node 2 is answered by node 2 through node 1, not on node 2's own
// docker0; and v86's router, which all nodes share, never sees two nodes' containers with the same address.
import type { AgentClient } from "../agent/index.ts";
import { EngineError } from "../errors.ts";
import { MAX_NODES, nodeIdentity } from "./cluster.ts";

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
