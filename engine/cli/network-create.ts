// `docker network create`: a user-defined bridge network (its subnet picked by the daemon unless --subnet), printed
// by its full id.
import { defineVerb } from "./command.ts";
import { FlagError } from "./flags.ts";

function pairs(list: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of list) {
    const equals = entry.indexOf("=");
    map[equals < 0 ? entry : entry.slice(0, equals)] = equals < 0 ? "" : entry.slice(equals + 1);
  }
  return map;
}

export const networkCreate = defineVerb(
  {
    name: "create",
    usage: "[OPTIONS] NETWORK",
    summary: "Create a network",
    args: { min: 1, max: 1 },
    topLevel: false,
    flags: [
      { name: "attachable", type: "bool", help: "Enable manual container attachment" },
      { name: "driver", short: "d", type: "string", default: "bridge", help: "Driver to manage the Network" },
      { name: "gateway", type: "list", help: "IPv4 or IPv6 Gateway for the master subnet" },
      { name: "internal", type: "bool", help: "Restrict external access to the network" },
      { name: "ip-range", type: "list", help: "Allocate container ip from a sub-range" },
      { name: "ipam-driver", type: "string", default: "default", help: "IP Address Management Driver" },
      { name: "ipv6", type: "bool", help: "Enable IPv6 networking" },
      { name: "label", type: "list", help: "Set metadata on a network" },
      { name: "opt", short: "o", type: "list", help: "Set driver specific options" },
      { name: "subnet", type: "list", help: "Subnet in CIDR format that represents a network segment" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const subnets = flags.subnet;
    if (subnets.length === 0 && (flags.gateway.length || flags["ip-range"].length)) {
      throw new FlagError("every ip-range or gateway must have a corresponding subnet");
    }
    if (flags.gateway.length > subnets.length) throw new FlagError("cannot configure multiple gateways for one subnet");
    const config = subnets.map((subnet, index) => ({
      Subnet: subnet,
      ...(flags["ip-range"][index] ? { IPRange: flags["ip-range"][index] } : {}),
      ...(flags.gateway[index] ? { Gateway: flags.gateway[index] } : {}),
    }));
    const client = await context.client();
    const created = await client.json<{ Id: string; Warning?: string }>("POST", "/networks/create", {
      body: {
        Name: context.args[0],
        CheckDuplicate: true,
        Driver: flags.driver,
        Internal: flags.internal,
        Attachable: flags.attachable,
        EnableIPv6: flags.ipv6,
        IPAM: { Driver: flags["ipam-driver"], Config: config, Options: {} },
        Options: pairs(flags.opt),
        Labels: pairs(flags.label),
      },
    });
    if (created.Warning) await context.err.line(`WARNING: ${created.Warning}`);
    await context.out.line(created.Id);
    return 0;
  },
);
