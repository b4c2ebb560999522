// `docker system df`: space used by images, containers, local volumes and the build cache, and what could go.

import { humanSize } from "../conventions/index.ts";
import { defineVerb } from "./command.ts";
import { writeFormatted } from "./format.ts";
import { goStruct } from "./template.ts";

interface DiskUsage {
  LayersSize?: number;
  Images?: { Containers: number; Size: number; SharedSize: number; VirtualSize?: number }[] | null;
  Containers?: { State: string; SizeRw?: number }[] | null;
  Volumes?: { UsageData?: { Size: number; RefCount: number } | null }[] | null;
  BuildCache?: { Size: number; InUse: boolean; Shared: boolean }[] | null;
}

function reclaimable(amount: number, total: number): string {
  return total > 0 ? `${humanSize(amount)} (${Math.trunc((amount * 100) / total)}%)` : humanSize(amount);
}

/**
 * The four rows of `docker system df` from `GET /system/df`.
 * @example
 * diskUsageRows({ LayersSize: 4_262_300, Images: [], Containers: [], Volumes: [] })[0].Size; // "4.262MB"
 */
export function diskUsageRows(usage: DiskUsage) {
  const images = usage.Images ?? [];
  const containers = usage.Containers ?? [];
  const volumes = usage.Volumes ?? [];
  const cache = usage.BuildCache ?? [];
  const imageTotal = usage.LayersSize ?? 0;
  let imageUsed = 0;
  for (const image of images) {
    const size = image.VirtualSize ?? image.Size;
    if (image.Containers !== 0 && size !== -1 && image.SharedSize !== -1) imageUsed += size - image.SharedSize;
  }
  const active = (state: string) => state.includes("running") || state.includes("paused");
  const containerTotal = containers.reduce((sum, container) => sum + (container.SizeRw ?? 0), 0);
  const containerIdle = containers.filter((c) => !active(c.State)).reduce((sum, c) => sum + (c.SizeRw ?? 0), 0);
  const volumeTotal = volumes.reduce((sum, volume) => sum + Math.max(0, volume.UsageData?.Size ?? 0), 0);
  const volumeIdle = volumes
    .filter((volume) => (volume.UsageData?.RefCount ?? 0) === 0)
    .reduce((sum, volume) => sum + Math.max(0, volume.UsageData?.Size ?? 0), 0);
  const cacheTotal = cache.filter((record) => !record.Shared).reduce((sum, record) => sum + record.Size, 0);
  const cacheIdle = cache
    .filter((record) => !record.InUse && !record.Shared)
    .reduce((sum, record) => sum + record.Size, 0);
  const row = (type: string, total: number, activeCount: number, size: number, free: string) =>
    goStruct("*formatter.diskUsageContext", {
      Type: type,
      TotalCount: String(total),
      Active: String(activeCount),
      Size: humanSize(size),
      Reclaimable: free,
    });
  return [
    row(
      "Images",
      images.length,
      images.filter((image) => image.Containers > 0).length,
      imageTotal,
      reclaimable(imageTotal - imageUsed, imageTotal),
    ),
    row(
      "Containers",
      containers.length,
      containers.filter((c) => active(c.State)).length,
      containerTotal,
      reclaimable(containerIdle, containerTotal),
    ),
    row(
      "Local Volumes",
      volumes.length,
      volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length,
      volumeTotal,
      reclaimable(volumeIdle, volumeTotal),
    ),
    row("Build Cache", cache.length, cache.filter((record) => record.InUse).length, cacheTotal, humanSize(cacheIdle)),
  ];
}

export const systemDf = defineVerb(
  {
    name: "df",
    usage: "[OPTIONS]",
    summary: "Show docker disk usage",
    args: { max: 0 },
    topLevel: false,
    flags: [
      { name: "format", type: "string", help: "Pretty-print images using a Go template" },
      { name: "verbose", short: "v", type: "bool", help: "Show detailed information on space usage" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    const usage = await client.json<DiskUsage>("GET", "/system/df");
    await writeFormatted(
      context.out,
      {
        format: context.flags.format,
        defaultFormat: "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        header: { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" },
      },
      diskUsageRows(usage),
    );
    return 0;
  },
);
