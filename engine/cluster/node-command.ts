// `drydock node add|ls|rm`, the terminal's command for the nodes of one engine: one implementation whoever keeps the
// nodes (the page's first worker, web/nodes.ts; the lesson checker's guests in Node, engine/node/nodes.ts). The guest's
// `drydock` is a script that sets DRYDOCK_TOOL and runs the docker applet, which relays it to the engine. Also what
// both say about node1 and the endpoints docker contexts name.
import type { CliIO } from "../cli/io.ts";

/** The guest's own socket: what the `default` context and node1 name before node1 is on a switch. */
export const LOCAL_DOCKER_HOST = "unix:///var/run/docker.sock";
/** The port a node's endpoint names (docker's unencrypted one). */
export const NODE_DOCKER_PORT = 2375;
/**
 * node1's containers take docker's default pools, as in a one-guest engine: the bridge 172.17.0.0/16, then 172.18…
 * for networks (a swarm's service networks too), so the other nodes route all of 172.16.0.0/12 to it.
 */
export const FIRST_NODE_BLOCK = "172.16.0.0/12";
/** node1's address before it joins a switch (v86's own network): what `drydock node ls` shows then. */
export const LONE_NODE_ADDRESS = "192.168.86.100";

/** Where the guest's `drydock` command is, and what it is. */
export const DRYDOCK_TOOL_PATH = "/usr/bin/drydock";
export const DRYDOCK_TOOL_SCRIPT =
  '#!/bin/sh\n# drydock node add|ls|rm (the nodes), drydock workspace export|import (the page): the docker applet relays it to the engine.\nDRYDOCK_TOOL=drydock exec docker "$@"\n';

/** A node as `drydock node ls` lists it. */
export interface ListedNode {
  name: string;
  address: string;
  /** Its containers' address block. */
  containers: string;
  /** The endpoint its docker context names. */
  host: string;
  /** How long adding it took (0 for node1). */
  addMs: number;
}

/** What the command acts on. */
export interface NodeKeeper {
  add(): Promise<ListedNode>;
  remove(name: string): Promise<void>;
  /** node1 first. */
  list(): ListedNode[];
  /** The node the current docker context reaches, if it is one of these. */
  target(): string | undefined;
}

/**
 * The node an endpoint names: the guest's socket is node1; `tcp://<address or name>[:2375]` is that node.
 * @example
 * nodeAtHost("tcp://192.168.86.102:2375", keeper.list())?.name; // "node2"
 */
export function nodeAtHost<T extends ListedNode>(host: string, nodes: T[]): T | undefined {
  if (host === LOCAL_DOCKER_HOST) return nodes[0];
  const match = /^tcp:\/\/([^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (!match || (match[2] !== undefined && Number(match[2]) !== NODE_DOCKER_PORT)) return undefined;
  return nodes.find((node) => node.address === match[1] || node.name === match[1]);
}

const USAGE =
  "Usage:  drydock node COMMAND\n\nManage the nodes (guests on one switch)\n\nCommands:\n  add         Add a node: a guest of its own, restored from the saved state\n  ls          List the nodes\n  rm NODE...  Remove nodes (not node1)\n\nEach node is a docker context: docker context use node2, or docker --context node2 ps.\n";

/**
 * Runs `drydock ARGV` (argv without the command's own name: `["node", "add"]`) against `keeper`.
 * @example
 * tools: { drydock: (argv, io) => runNodeCommand(argv, io, nodes) }
 */
export async function runNodeCommand(argv: string[], io: CliIO, keeper: NodeKeeper): Promise<number> {
  const out = io.stdout.getWriter();
  const err = io.stderr.getWriter();
  const encoder = new TextEncoder();
  const say = (writer: WritableStreamDefaultWriter<Uint8Array>, text: string) => writer.write(encoder.encode(text));
  try {
    const [group, verb, ...args] = argv;
    if (group !== "node" || !verb || verb === "--help" || verb === "-h") {
      const asked = group === "node" || group === undefined || group === "--help";
      await say(asked ? out : err, USAGE);
      return asked ? 0 : 1;
    }
    if (verb === "add") {
      if (args.length > 0) throw new Error(`drydock node add takes no arguments, got ${args.join(" ")}`);
      const node = await keeper.add();
      await say(
        out,
        `${node.name}\t${node.address}\tcontainers ${node.containers}\tadded in ${Math.round(node.addMs)} ms\n` +
          `docker context use ${node.name} (or docker --context ${node.name} …) talks to it\n`,
      );
      return 0;
    }
    if (verb === "rm" || verb === "remove") {
      if (args.length === 0) throw new Error('"drydock node rm" requires at least 1 argument: the node to remove');
      for (const name of args) {
        await keeper.remove(name);
        await say(out, `${name}\n`);
      }
      return 0;
    }
    if (verb === "ls" || verb === "list") {
      const target = keeper.target();
      const rows = [["NAME", "ADDRESS", "CONTAINERS", "ENDPOINT"]];
      for (const node of keeper.list()) {
        rows.push([`${node.name}${node.name === target ? " *" : ""}`, node.address, node.containers, node.host]);
      }
      const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)) + 3);
      for (const row of rows) {
        const line = row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join("")
          .trimEnd();
        await say(out, `${line}\n`);
      }
      return 0;
    }
    throw new Error(`drydock node: unknown command "${verb}": add, ls or rm`);
  } catch (error) {
    await say(err, `Error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    out.releaseLock();
    err.releaseLock();
  }
}
