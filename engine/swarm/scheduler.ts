// The swarm scheduler's decisions, pure: which nodes a task may go to (placement constraints, availability,
// readiness) and, among them, which one (the fewest tasks of the service first, then the fewest tasks in all, as
// swarmkit's spread does). No I/O: the manager feeds it what it knows and performs what it decides.
import { EngineError } from "../errors.ts";

/** What the scheduler knows of a node. */
export interface Candidate {
  id: string;
  hostname: string;
  role: "manager" | "worker";
  availability: "active" | "pause" | "drain";
  /** Its guest answers. */
  ready: boolean;
  labels: Record<string, string>;
}

/** One placement constraint: `node.hostname==node2`, `node.labels.zone!=b`. */
export interface Constraint {
  key: string;
  equal: boolean;
  value: string;
}

const KEYS = ["node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch"];

/**
 * Parses `--constraint` expressions as swarmkit does: `key==value` or `key!=value`, with key one of node.id,
 * node.hostname, node.role, node.platform.os, node.platform.arch or node.labels.<label>.
 * @example
 * parseConstraints(["node.hostname==node2"]); // [{ key: "node.hostname", equal: true, value: "node2" }]
 */
export function parseConstraints(expressions: readonly string[]): Constraint[] {
  return expressions.map((expression) => {
    const match = /^\s*([^=!\s]+)\s*(==|!=)\s*(.+?)\s*$/.exec(expression);
    if (!match) {
      throw new EngineError(
        "invalidArgument",
        `invalid constraint ${JSON.stringify(expression)}: write key==value or key!=value (node.hostname==node2)`,
      );
    }
    const key = match[1]!.toLowerCase();
    if (!KEYS.includes(key) && !/^node\.labels\.[^.]+/.test(match[1]!)) {
      throw new EngineError(
        "invalidArgument",
        `invalid constraint ${JSON.stringify(expression)}: the key must be one of ${KEYS.join(", ")} or node.labels.<name>`,
      );
    }
    return { key: key.startsWith("node.labels.") ? match[1]! : key, equal: match[2] === "==", value: match[3]! };
  });
}

function nodeValue(node: Candidate, key: string): string | undefined {
  if (key.startsWith("node.labels.")) return node.labels[key.slice("node.labels.".length)];
  switch (key) {
    case "node.id":
      return node.id;
    case "node.hostname":
      return node.hostname;
    case "node.role":
      return node.role;
    case "node.platform.os":
      return "linux";
    case "node.platform.arch":
      return "386";
  }
  return undefined;
}

/** Whether `node` satisfies every constraint (a label a node lacks never equals, and always differs). */
export function satisfies(node: Candidate, constraints: readonly Constraint[]): boolean {
  return constraints.every((constraint) => {
    const value = nodeValue(node, constraint.key);
    const same = value !== undefined && value.toLowerCase() === constraint.value.toLowerCase();
    return constraint.equal ? same : !same;
  });
}

/** The nodes that may take a new task: ready, active (not paused, not drained) and satisfying the constraints. */
export function eligibleNodes(nodes: readonly Candidate[], constraints: readonly Constraint[]): Candidate[] {
  return nodes.filter((node) => node.ready && node.availability === "active" && satisfies(node, constraints));
}

/** Why no node took a task, as swarmkit words it (`docker service ps` shows it). */
export function noSuitableNode(nodes: readonly Candidate[], constraints: readonly Constraint[]): string {
  const unavailable = nodes.filter((node) => !node.ready || node.availability !== "active").length;
  const unsatisfied = nodes.filter(
    (node) => node.ready && node.availability === "active" && !satisfies(node, constraints),
  ).length;
  const reasons: string[] = [];
  if (unsatisfied)
    reasons.push(`scheduling constraints not satisfied on ${unsatisfied} node${unsatisfied > 1 ? "s" : ""}`);
  if (unavailable) reasons.push(`${unavailable} node${unavailable > 1 ? "s" : ""} not available for new tasks`);
  return `no suitable node (${reasons.join("; ") || "no nodes"})`;
}

/** Tasks already placed (or being placed), per node id: of this service, and in all. */
export interface Load {
  service: ReadonlyMap<string, number>;
  total: ReadonlyMap<string, number>;
}

/**
 * The node a new task of a service goes to: among the eligible ones, the one with the fewest tasks of the service,
 * then the fewest tasks in all, then the first by hostname. Undefined when none is eligible.
 * @example
 * pickNode(nodes, [], { service: new Map([["a", 1]]), total: new Map() }); // the node with no task of the service
 */
export function pickNode(
  nodes: readonly Candidate[],
  constraints: readonly Constraint[],
  load: Load,
): Candidate | undefined {
  const eligible = eligibleNodes(nodes, constraints);
  eligible.sort(
    (a, b) =>
      (load.service.get(a.id) ?? 0) - (load.service.get(b.id) ?? 0) ||
      (load.total.get(a.id) ?? 0) - (load.total.get(b.id) ?? 0) ||
      a.hostname.localeCompare(b.hostname),
  );
  return eligible[0];
}
