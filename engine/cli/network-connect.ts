// `docker network connect` and `disconnect`: a container joins or leaves a network (at once if it runs).
import { defineVerb } from "./command.ts";

export const networkConnect = defineVerb(
  {
    name: "connect",
    usage: "[OPTIONS] NETWORK CONTAINER",
    summary: "Connect a container to a network",
    args: { min: 2, max: 2 },
    topLevel: false,
    flags: [
      { name: "alias", type: "list", help: "Add network-scoped alias for the container" },
      { name: "ip", type: "string", help: "IPv4 address (e.g., 172.30.100.104)" },
    ] as const,
  },
  async (context) => {
    const [network, container] = context.args as [string, string];
    const { flags } = context;
    const client = await context.client();
    await client.call("POST", `/networks/${encodeURIComponent(network)}/connect`, {
      body: {
        Container: container,
        EndpointConfig: {
          ...(flags.alias.length ? { Aliases: flags.alias } : {}),
          ...(flags.ip ? { IPAMConfig: { IPv4Address: flags.ip } } : {}),
        },
      },
    });
    return 0;
  },
);

export const networkDisconnect = defineVerb(
  {
    name: "disconnect",
    usage: "[OPTIONS] NETWORK CONTAINER",
    summary: "Disconnect a container from a network",
    args: { min: 2, max: 2 },
    topLevel: false,
    flags: [
      { name: "force", short: "f", type: "bool", help: "Force the container to disconnect from a network" },
    ] as const,
  },
  async (context) => {
    const [network, container] = context.args as [string, string];
    const client = await context.client();
    await client.call("POST", `/networks/${encodeURIComponent(network)}/disconnect`, {
      body: { Container: container, Force: context.flags.force },
    });
    return 0;
  },
);
