// `docker network ls`: the networks, as docker's table (NETWORK ID, NAME, DRIVER, SCOPE) or through --format.
import { defineVerb } from "./command.ts";
import { listFlags } from "./flags.ts";
import { writeFormatted } from "./format.ts";
import { filtersJson } from "./ps.ts";
import { goStruct } from "./template.ts";

export interface NetworkJson {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Created: string;
  Internal: boolean;
  EnableIPv6: boolean;
  Labels: Record<string, string> | null;
}

export const networkLs = defineVerb(
  {
    name: "ls",
    usage: "[OPTIONS]",
    summary: "List networks",
    args: { max: 0 },
    topLevel: false,
    flags: [
      ...listFlags({ filter: 'Provide filter values (e.g. "driver=bridge")', quiet: "Only display network IDs" }),
      { name: "no-trunc", type: "bool", help: "Do not truncate the output" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    const networks = await client.json<NetworkJson[]>("GET", "/networks", {
      query: { filters: filtersJson(flags.filter) },
    });
    const rows = networks
      .sort((a, b) => a.Name.localeCompare(b.Name))
      .map((network) =>
        goStruct("*formatter.networkContext", {
          ID: flags["no-trunc"] ? network.Id : network.Id.slice(0, 12),
          Name: network.Name,
          Driver: network.Driver,
          Scope: network.Scope,
          IPv6: String(network.EnableIPv6),
          Internal: String(network.Internal),
          CreatedAt: network.Created,
          Labels: Object.entries(network.Labels ?? {})
            .map(([key, value]) => `${key}=${value}`)
            .join(","),
        }),
      );
    await writeFormatted(
      context.out,
      {
        format: flags.quiet ? "{{.ID}}" : flags.format,
        defaultFormat: "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        header: {
          ID: "NETWORK ID",
          Name: "NAME",
          Driver: "DRIVER",
          Scope: "SCOPE",
          IPv6: "IPV6",
          Internal: "INTERNAL",
          CreatedAt: "CREATED AT",
          Labels: "LABELS",
        },
      },
      rows,
    );
    return 0;
  },
);
