// `docker ps`: the container list as docker's formatter shows it (12-character ids, quoted and shortened commands,
// "Up 3 seconds", names without their slash), or as --format says.

import { ellipsis, humanDuration, humanSize, shortId } from "../conventions/index.ts";
import { defineVerb } from "./command.ts";
import { goTimeString, writeFormatted } from "./format.ts";
import { goStruct } from "./template.ts";

/** A container as `GET /containers/json` lists it (the fields ps reads). */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Ports?: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
  Labels?: Record<string, string> | null;
  SizeRw?: number;
  SizeRootFs?: number;
  Mounts?: { Name?: string; Source?: string; Driver?: string }[];
  NetworkSettings?: { Networks?: Record<string, unknown> } | null;
}

const DEFAULT_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

export const HEADER = {
  ID: "CONTAINER ID",
  Names: "NAMES",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Size: "SIZE",
  Labels: "LABELS",
  Mounts: "MOUNTS",
  LocalVolumes: "LOCAL VOLUMES",
  Networks: "NETWORKS",
};

/**
 * One row of `docker ps` with the fields its templates can name (docker's ContainerContext).
 * @example
 * containerRow(summary, true, Date.now()).Status; // "Up 3 seconds"
 */
export function containerRow(container: ContainerSummary, truncate: boolean, now: number) {
  const names = container.Names.map((name) => name.replace(/^\//, ""));
  const image = container.Image === "" ? "<no image>" : container.Image;
  const labels = container.Labels ?? {};
  return goStruct("*formatter.ContainerContext", {
    Command: JSON.stringify(truncate ? ellipsis(container.Command, 20) : container.Command),
    CreatedAt: goTimeString(new Date(container.Created * 1000)),
    ID: truncate ? shortId(container.Id) : container.Id,
    Image: truncate && shortId(container.ImageID) === shortId(image) ? shortId(image) : image,
    Labels: Object.entries(labels)
      .map(([key, value]) => `${key}=${value}`)
      .sort()
      .join(","),
    LocalVolumes: String((container.Mounts ?? []).filter((mount) => mount.Driver === "local").length),
    Mounts: (container.Mounts ?? []).map((mount) => mount.Name || mount.Source || "").join(","),
    Names: truncate ? (names.find((name) => !name.includes("/")) ?? "") : names.join(","),
    Networks: Object.keys(container.NetworkSettings?.Networks ?? {}).join(","),
    Ports: (container.Ports ?? [])
      .map((port) =>
        port.PublicPort
          ? `${port.IP ?? "0.0.0.0"}:${port.PublicPort}->${port.PrivatePort}/${port.Type}`
          : `${port.PrivatePort}/${port.Type}`,
      )
      .join(", "),
    RunningFor: `${humanDuration(now - container.Created * 1000)} ago`,
    Size:
      (container.SizeRootFs ?? 0) > 0
        ? `${humanSize(container.SizeRw ?? 0, 3)} (virtual ${humanSize(container.SizeRootFs ?? 0, 3)})`
        : humanSize(container.SizeRw ?? 0, 3),
    State: container.State,
    Status: container.Status,
  });
}

/** docker's filter flags as the API's JSON: `status=exited` → `{"status":{"exited":true}}`. */
export function filtersJson(filters: string[]): string | undefined {
  if (filters.length === 0) return undefined;
  const map: Record<string, Record<string, boolean>> = {};
  for (const filter of filters) {
    const equals = filter.indexOf("=");
    const key = (equals === -1 ? filter : filter.slice(0, equals)).trim().toLowerCase();
    const value = equals === -1 ? "" : filter.slice(equals + 1).trim();
    map[key] = { ...map[key], [value]: true };
  }
  return JSON.stringify(map);
}

export const ps = defineVerb(
  {
    name: "ps",
    usage: "[OPTIONS]",
    summary: "List containers",
    args: { max: 0 },
    flags: [
      { name: "all", short: "a", type: "bool", help: "Show all containers (default shows just running)" },
      {
        name: "filter",
        short: "f",
        type: "list",
        valueName: "filter",
        help: "Filter output based on conditions provided",
      },
      { name: "format", type: "string", help: "Pretty-print containers using a Go template" },
      {
        name: "last",
        short: "n",
        type: "int",
        default: -1,
        help: "Show n last created containers (includes all states)",
      },
      { name: "latest", short: "l", type: "bool", help: "Show the latest created container (includes all states)" },
      { name: "no-trunc", type: "bool", help: "Don't truncate output" },
      { name: "quiet", short: "q", type: "bool", help: "Only display container IDs" },
      { name: "size", short: "s", type: "bool", help: "Display total file sizes" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    const limit = flags.latest ? 1 : flags.last;
    const containers = await client.json<ContainerSummary[]>("GET", "/containers/json", {
      query: {
        all: flags.all || limit !== -1 || undefined,
        limit: limit > 0 ? limit : undefined,
        size: flags.size || flags.format.includes("{{.Size}}") || undefined,
        filters: filtersJson(flags.filter),
      },
    });
    const now = Date.now();
    const format = flags.quiet ? "{{.ID}}" : flags.format || (flags.size ? `${DEFAULT_FORMAT}\t{{.Size}}` : "");
    await writeFormatted(
      context.out,
      { format, defaultFormat: flags.size ? `${DEFAULT_FORMAT}\t{{.Size}}` : DEFAULT_FORMAT, header: HEADER },
      containers.map((container) => containerRow(container, !flags["no-trunc"], now)),
    );
    return 0;
  },
);
