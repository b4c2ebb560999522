// `docker volume ls`: the volumes, as docker's table (DRIVER, VOLUME NAME) or through --format.
import { defineVerb } from "./command.ts";
import { listFlags } from "./flags.ts";
import { writeFormatted } from "./format.ts";
import { filtersJson } from "./ps.ts";
import { goStruct } from "./template.ts";

export interface VolumeJson {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt?: string;
  Labels: Record<string, string> | null;
  Scope: string;
}

export const volumeLs = defineVerb(
  {
    name: "ls",
    usage: "[OPTIONS]",
    summary: "List volumes",
    args: { max: 0 },
    topLevel: false,
    flags: [
      ...listFlags({ filter: 'Provide filter values (e.g. "dangling=true")', quiet: "Only display volume names" }),
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    const { Volumes } = await client.json<{ Volumes: VolumeJson[] | null }>("GET", "/volumes", {
      query: { filters: filtersJson(flags.filter) },
    });
    const rows = (Volumes ?? [])
      .sort((a, b) => a.Name.localeCompare(b.Name))
      .map((volume) =>
        goStruct("*formatter.volumeContext", {
          Name: volume.Name,
          Driver: volume.Driver,
          Scope: volume.Scope,
          Mountpoint: volume.Mountpoint,
          CreatedAt: volume.CreatedAt ?? "",
          Labels: Object.entries(volume.Labels ?? {})
            .map(([key, value]) => `${key}=${value}`)
            .join(","),
        }),
      );
    await writeFormatted(
      context.out,
      {
        format: flags.quiet ? "{{.Name}}" : flags.format,
        defaultFormat: "table {{.Driver}}\t{{.Name}}",
        header: {
          Driver: "DRIVER",
          Name: "VOLUME NAME",
          Scope: "SCOPE",
          Mountpoint: "MOUNTPOINT",
          CreatedAt: "CREATED",
          Labels: "LABELS",
        },
      },
      rows,
    );
    return 0;
  },
);
