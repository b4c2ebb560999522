// `docker swarm init|join|join-token|leave`: a node starts a swarm, joins one with a manager's token and address,
// shows the join command, or leaves. The messages are docker's own, so a tutorial's text matches what is printed.

import type { DockerClient } from "./client.ts";
import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";
import type { Output } from "./output.ts";

interface SwarmInfoJson {
  Swarm: { NodeID: string; NodeAddr: string; ControlAvailable: boolean; LocalNodeState: string };
}

/** The join command for `role`, as `docker swarm init` and `docker swarm join-token` print it. */
async function printJoinCommand(client: DockerClient, out: Output, role: "worker" | "manager"): Promise<void> {
  const swarm = await client.json<{ JoinTokens: { Worker: string; Manager: string } }>("GET", "/swarm");
  const info = await client.json<SwarmInfoJson>("GET", "/info");
  const node = await client.json<{ ManagerStatus?: { Addr: string } }>("GET", `/nodes/${info.Swarm.NodeID}`);
  const token = role === "worker" ? swarm.JoinTokens.Worker : swarm.JoinTokens.Manager;
  await out.write(
    `To add a ${role} to this swarm, run the following command:\n\n    docker swarm join --token ${token} ${node.ManagerStatus?.Addr ?? info.Swarm.NodeAddr}\n\n`,
  );
}

/** The flags `swarm init` and `swarm join` share: where this node is reached and how it takes tasks. */
const NODE_ADDRESS_FLAGS = [
  { name: "advertise-addr", type: "string", help: "Advertised address (format: <ip|interface>[:port])" },
  {
    name: "availability",
    type: "string",
    default: "active",
    help: 'Availability of the node ("active"|"pause"|"drain")',
  },
  {
    name: "listen-addr",
    type: "string",
    default: "0.0.0.0:2377",
    help: "Listen address (format: <ip|interface>[:port])",
  },
] as const;

export const swarmInit = defineVerb(
  {
    name: "init",
    usage: "[OPTIONS]",
    summary: "Initialize a swarm",
    args: { max: 0 },
    topLevel: false,
    flags: NODE_ADDRESS_FLAGS,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    const nodeId = await client.json<string>("POST", "/swarm/init", {
      body: {
        ListenAddr: flags["listen-addr"],
        AdvertiseAddr: flags["advertise-addr"] ?? "",
        Availability: flags.availability,
        Spec: {},
      },
    });
    await context.out.write(`Swarm initialized: current node (${nodeId}) is now a manager.\n\n`);
    await printJoinCommand(client, context.out, "worker");
    await context.out.write(
      "To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.\n\n",
    );
    return 0;
  },
);

export const swarmJoin = defineVerb(
  {
    name: "join",
    usage: "[OPTIONS] HOST:PORT",
    summary: "Join a swarm as a node and/or manager",
    args: { min: 1, max: 1 },
    topLevel: false,
    flags: [...NODE_ADDRESS_FLAGS, { name: "token", type: "string", help: "Token for entry into the swarm" }] as const,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    await client.call("POST", "/swarm/join", {
      body: {
        JoinToken: flags.token ?? "",
        RemoteAddrs: [context.args[0]],
        ListenAddr: flags["listen-addr"],
        AdvertiseAddr: flags["advertise-addr"] ?? "",
        Availability: flags.availability,
      },
    });
    const info = await client.json<SwarmInfoJson>("GET", "/info");
    await context.out.line(
      info.Swarm.ControlAvailable ? "This node joined a swarm as a manager." : "This node joined a swarm as a worker.",
    );
    return 0;
  },
);

export const swarmJoinToken = defineVerb(
  {
    name: "join-token",
    usage: "[OPTIONS] (worker|manager)",
    summary: "Manage join tokens",
    args: { min: 1, max: 1 },
    topLevel: false,
    flags: [
      { name: "quiet", short: "q", type: "bool", help: "Only display token" },
      { name: "rotate", type: "bool", help: "Rotate join token" },
    ] as const,
  },
  async (context) => {
    const role = context.args[0];
    if (role !== "worker" && role !== "manager") throw new CliError(`unknown role ${role}`);
    const client = await context.client();
    if (context.flags.rotate) {
      const swarm = await client.json<{ Version: { Index: number }; Spec: Record<string, unknown> }>("GET", "/swarm");
      await client.call("POST", "/swarm/update", {
        query: {
          version: swarm.Version.Index,
          rotateWorkerToken: role === "worker",
          rotateManagerToken: role === "manager",
        },
        body: swarm.Spec,
      });
      if (!context.flags.quiet) await context.out.line(`Successfully rotated ${role} join token.\n`);
    }
    if (context.flags.quiet) {
      const swarm = await client.json<{ JoinTokens: { Worker: string; Manager: string } }>("GET", "/swarm");
      await context.out.line(role === "worker" ? swarm.JoinTokens.Worker : swarm.JoinTokens.Manager);
      return 0;
    }
    await printJoinCommand(client, context.out, role);
    return 0;
  },
);

export const swarmLeave = defineVerb(
  {
    name: "leave",
    usage: "[OPTIONS]",
    summary: "Leave the swarm",
    args: { max: 0 },
    topLevel: false,
    flags: [
      { name: "force", short: "f", type: "bool", help: "Force this node to leave the swarm, ignoring warnings" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    await client.call("POST", "/swarm/leave", { query: { force: context.flags.force } });
    await context.out.line("Node left the swarm.");
    return 0;
  },
);
