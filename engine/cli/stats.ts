// `docker stats --no-stream`: one sample of each container's CPU, memory, network, block I/O and pids, computed from
// the daemon's stats the way docker's client does (cgroup v2: memory usage without inactive file pages).
import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";
import { writeFormatted } from "./format.ts";
import type { ContainerSummary } from "./ps.ts";
import { goStruct } from "./template.ts";
import { bytesSize, humanSize, shortId } from "./units.ts";

/** The part of `GET /containers/{id}/stats` the CLI reads. */
export interface StatsJson {
  id?: string;
  name?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
  pids_stats?: { current?: number };
}

/**
 * One row of `docker stats` from one stats sample (docker's calculateCPUPercentUnix and friends).
 * @example
 * statsRow("4f2a…", "web", sample).MemUsage; // "1.2MiB / 64MiB"
 */
export function statsRow(id: string, name: string, stats: StatsJson, truncate = true) {
  const cpuDelta = (stats.cpu_stats?.cpu_usage?.total_usage ?? 0) - (stats.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (stats.cpu_stats?.system_cpu_usage ?? 0) - (stats.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = stats.cpu_stats?.online_cpus || 1;
  const cpu = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0;
  const memory = stats.memory_stats ?? {};
  const cache = memory.stats?.inactive_file ?? memory.stats?.total_inactive_file ?? memory.stats?.cache ?? 0;
  const used = Math.max(0, (memory.usage ?? 0) - cache);
  const limit = memory.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const network of Object.values(stats.networks ?? {})) {
    rx += network.rx_bytes ?? 0;
    tx += network.tx_bytes ?? 0;
  }
  let read = 0;
  let write = 0;
  for (const entry of stats.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (entry.op.toLowerCase() === "read") read += entry.value;
    if (entry.op.toLowerCase() === "write") write += entry.value;
  }
  return goStruct("*container.statsContext", {
    BlockIO: `${humanSize(read, 3)} / ${humanSize(write, 3)}`,
    CPUPerc: `${cpu.toFixed(2)}%`,
    Container: name,
    ID: truncate ? shortId(id) : id,
    MemPerc: `${(limit > 0 ? (used / limit) * 100 : 0).toFixed(2)}%`,
    MemUsage: `${bytesSize(used)} / ${bytesSize(limit)}`,
    Name: name.replace(/^\//, ""),
    NetIO: `${humanSize(rx, 3)} / ${humanSize(tx, 3)}`,
    PIDs: String(stats.pids_stats?.current ?? 0),
  });
}

const DEFAULT_FORMAT =
  "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const HEADER = {
  ID: "CONTAINER ID",
  Container: "CONTAINER",
  Name: "NAME",
  CPUPerc: "CPU %",
  MemUsage: "MEM USAGE / LIMIT",
  MemPerc: "MEM %",
  NetIO: "NET I/O",
  BlockIO: "BLOCK I/O",
  PIDs: "PIDS",
};

export const stats = defineVerb(
  {
    name: "stats",
    usage: "[OPTIONS] [CONTAINER...]",
    summary: "Display a live stream of container(s) resource usage statistics",
    flags: [
      { name: "all", short: "a", type: "bool", help: "Show all containers (default shows just running)" },
      { name: "format", type: "string", help: "Pretty-print images using a Go template" },
      { name: "no-stream", type: "bool", help: "Disable streaming stats and only pull the first result" },
      { name: "no-trunc", type: "bool", help: "Do not truncate output" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    if (!flags["no-stream"]) {
      throw new CliError("docker stats streams only with --no-stream here: run `docker stats --no-stream`");
    }
    const client = await context.client();
    let targets = context.args.map((name) => ({ id: name, name }));
    if (targets.length === 0) {
      const containers = await client.json<ContainerSummary[]>("GET", "/containers/json", {
        query: { all: flags.all || undefined },
      });
      targets = containers.map((container) => ({ id: container.Id, name: container.Names[0] ?? container.Id }));
    }
    const rows = [];
    const failures: string[] = [];
    for (const target of targets) {
      try {
        const sample = await client.json<StatsJson>("GET", `/containers/${encodeURIComponent(target.id)}/stats`, {
          query: { stream: false },
        });
        rows.push(statsRow(sample.id ?? target.id, sample.name ?? target.name, sample, !flags["no-trunc"]));
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
    if (failures.length > 0) throw new CliError(failures.join("\n"));
    await writeFormatted(context.out, { format: flags.format, defaultFormat: DEFAULT_FORMAT, header: HEADER }, rows);
    return 0;
  },
);
