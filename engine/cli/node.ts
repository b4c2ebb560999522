// `docker node ls|inspect|update|rm` (on a manager): the swarm's nodes as docker's table shows them, one inspected,
// its availability, role and labels changed at the version read, or a node that is down removed.

import type { DockerClient } from "./client.ts";
import { defineVerb } from "./command.ts";
import { listFlags } from "./flags.ts";
import { compileTemplate, renderTemplate, writeFormatted } from "./format.ts";
import { filtersJson } from "./ps.ts";
import { goStruct } from "./template.ts";

export interface NodeJson {
  ID: string;
  Version: { Index: number };
  Spec: { Labels: Record<string, string>; Role: string; Availability: string; Name?: string };
  Description: { Hostname: string; Engine: { EngineVersion: string } };
  Status: { State: string; Addr: string };
  ManagerStatus?: { Leader: boolean; Reachability: string; Addr: string };
}

const title = (text: string) => (text ? text[0]!.toUpperCase() + text.slice(1) : text);

/** This daemon's own node id in the swarm ("" when it is in none). */
export async function selfNodeId(client: DockerClient): Promise<string> {
  const info = await client.json<{ Swarm: { NodeID: string } }>("GET", "/info");
  return info.Swarm.NodeID;
}

export const nodeLs = defineVerb(
  {
    name: "ls",
    usage: "[OPTIONS]",
    summary: "List nodes in the swarm",
    args: { max: 0 },
    topLevel: false,
    flags: [...listFlags({ filter: "Filter output based on conditions provided", quiet: "Only display IDs" })] as const,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    const nodes = await client.json<NodeJson[]>("GET", "/nodes", { query: { filters: filtersJson(flags.filter) } });
    const self = await selfNodeId(client);
    const rows = nodes
      .sort((a, b) => a.Description.Hostname.localeCompare(b.Description.Hostname, "en", { numeric: true }))
      .map((node) =>
        goStruct("*formatter.nodeContext", {
          ID: node.ID === self ? `${node.ID} *` : node.ID,
          Self: node.ID === self,
          Hostname: node.Description.Hostname,
          Status: title(node.Status.State),
          Availability: title(node.Spec.Availability),
          ManagerStatus: node.ManagerStatus
            ? node.ManagerStatus.Leader
              ? "Leader"
              : title(node.ManagerStatus.Reachability)
            : "",
          TLSStatus: "Unknown",
          EngineVersion: node.Description.Engine.EngineVersion,
        }),
      );
    await writeFormatted(
      context.out,
      {
        format: flags.quiet ? "{{.ID}}" : flags.format,
        defaultFormat:
          "table {{.ID}}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}",
        header: {
          ID: "ID",
          Hostname: "HOSTNAME",
          Status: "STATUS",
          Availability: "AVAILABILITY",
          ManagerStatus: "MANAGER STATUS",
          TLSStatus: "TLS STATUS",
          EngineVersion: "ENGINE VERSION",
        },
      },
      flags.quiet ? rows.map((row) => ({ ...row, ID: String(row.ID).replace(/ \*$/, "") })) : rows,
    );
    return 0;
  },
);

export const nodeInspect = defineVerb(
  {
    name: "inspect",
    usage: "[OPTIONS] self|NODE [NODE...]",
    summary: "Display detailed information on one or more nodes",
    args: { min: 1 },
    topLevel: false,
    flags: [
      { name: "format", short: "f", type: "string", help: "Format output using a custom template" },
      { name: "pretty", type: "bool", help: "Print the information in a human friendly format" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    const found: NodeJson[] = [];
    for (const ref of context.args) {
      const id = ref === "self" ? await selfNodeId(client) : ref;
      found.push(await client.json<NodeJson>("GET", `/nodes/${encodeURIComponent(id)}`));
    }
    if (context.flags.format) {
      const template = compileTemplate(context.flags.format);
      for (const node of found) await context.out.line(renderTemplate(template, node));
      return 0;
    }
    await context.out.line(JSON.stringify(found, null, 4));
    return 0;
  },
);

export const nodeUpdate = defineVerb(
  {
    name: "update",
    usage: "[OPTIONS] NODE",
    summary: "Update a node",
    args: { min: 1, max: 1 },
    topLevel: false,
    flags: [
      { name: "availability", type: "string", help: 'Availability of the node ("active"|"pause"|"drain")' },
      { name: "label-add", type: "list", help: "Add or update a node label (key=value)" },
      { name: "label-rm", type: "list", help: "Remove a node label if exists" },
      { name: "role", type: "string", help: 'Role of the node ("worker"|"manager")' },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    const ref = context.args[0]!;
    const node = await client.json<NodeJson>("GET", `/nodes/${encodeURIComponent(ref)}`);
    const labels = { ...node.Spec.Labels };
    for (const entry of flags["label-add"]) {
      const equals = entry.indexOf("=");
      labels[equals < 0 ? entry : entry.slice(0, equals)] = equals < 0 ? "" : entry.slice(equals + 1);
    }
    for (const key of flags["label-rm"]) delete labels[key];
    await client.call("POST", `/nodes/${encodeURIComponent(node.ID)}/update`, {
      query: { version: node.Version.Index },
      body: {
        ...node.Spec,
        Labels: labels,
        ...(flags.availability ? { Availability: flags.availability } : {}),
        ...(flags.role ? { Role: flags.role } : {}),
      },
    });
    await context.out.line(ref);
    return 0;
  },
);

export const nodeRm = defineVerb(
  {
    name: "rm",
    usage: "[OPTIONS] NODE [NODE...]",
    summary: "Remove one or more nodes from the swarm",
    args: { min: 1 },
    topLevel: false,
    flags: [{ name: "force", short: "f", type: "bool", help: "Force remove a node from the swarm" }] as const,
  },
  async (context) => {
    const client = await context.client();
    for (const ref of context.args) {
      await client.call("DELETE", `/nodes/${encodeURIComponent(ref)}`, { query: { force: context.flags.force } });
      await context.out.line(ref);
    }
    return 0;
  },
);
