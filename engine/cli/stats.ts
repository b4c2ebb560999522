// `docker stats`: each container's CPU, memory, network, block I/O and pids, computed from the daemon's stats the way
// docker's client does (cgroup v2: memory usage without inactive file pages); a live table until Ctrl-C, or one
// sample with --no-stream.

import { bytesSize, humanSize, shortId } from "../conventions/index.ts";
import type { DockerClient } from "./client.ts";
import { type CommonContext, defineVerb } from "./command.ts";
import { CliError, describeFailure } from "./errors.ts";
import type { EventMessage } from "./events.ts";
import { writeFormatted } from "./format.ts";
import { jsonLines } from "./jsonmessage.ts";
import { type ContainerSummary, filtersJson } from "./ps.ts";
import { nextSignal, stoppable } from "./signals.ts";
import { goStruct } from "./template.ts";

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

/** How often the table is drawn again, as docker's ticker. */
export const STATS_REDRAW_MS = 500;

interface StatsTarget {
  id: string;
  name: string;
}

/** One container followed by a streaming `docker stats`: its last row, or why it has none. */
interface Collector {
  row?: ReturnType<typeof statsRow>;
  error?: string;
  /** Settles with the first sample or failure. */
  first: Promise<void>;
  stop(): void;
}

/** The stream was let go of on purpose (the command ended, the container went away). */
class Stopped extends Error {}

function collect(client: DockerClient, target: StatsTarget, truncate: boolean): Collector {
  let stopStream: ((error: Error) => void) | undefined;
  let stopped = false;
  let arrived!: () => void;
  const collector: Collector = {
    first: new Promise<void>((resolve) => {
      arrived = resolve;
    }),
    stop: () => {
      stopped = true;
      stopStream?.(new Stopped());
      arrived();
    },
  };
  void (async () => {
    try {
      const response = await client.request("GET", `/containers/${encodeURIComponent(target.id)}/stats`, {
        query: { stream: true },
        notFound: { object: "container", id: target.name },
      });
      if (!response.body) return;
      const session = stoppable(response.body);
      stopStream = session.stop;
      if (stopped) session.stop(new Stopped());
      for await (const sample of jsonLines(session.stream)) {
        const stats = sample as StatsJson;
        collector.row = statsRow(stats.id ?? target.id, stats.name ?? target.name, stats, truncate);
        arrived();
      }
    } catch (error) {
      if (!(error instanceof Stopped)) collector.error = describeFailure(error).message;
    } finally {
      arrived();
    }
  })();
  return collector;
}

/**
 * A streaming `docker stats`: one stats stream per container, the table drawn again every {@link STATS_REDRAW_MS}.
 * On a terminal each table is drawn over the last (cursor home, each line erased to its end, the rest of the screen
 * cleared, as docker does); elsewhere the tables follow one another. Without names the containers that start (with
 * -a, that are created) join the table and those that die (with -a, are removed) leave it, from the daemon's events.
 * Ctrl-C ends it: docker's RunStats then returns its context's cancellation, which docker exits 0 on, silently.
 */
async function streamStats(
  context: CommonContext,
  client: DockerClient,
  names: string[],
  options: { all: boolean; format: string; truncate: boolean },
): Promise<number> {
  const collectors = new Map<string, Collector>();
  const add = (target: StatsTarget) => {
    if (!collectors.has(target.id)) collectors.set(target.id, collect(client, target, options.truncate));
  };
  const remove = (id: string) => {
    collectors.get(id)?.stop();
    collectors.delete(id);
  };
  const signal = nextSignal(context.io);
  let events: { stop(error: Error): void } | undefined;
  try {
    if (names.length > 0) {
      for (const name of names) add({ id: name, name });
    } else {
      // Subscribed before listing, so a container starting in between is not missed.
      const response = await client.request("GET", "/events", { query: { filters: filtersJson(["type=container"]) } });
      if (response.body) {
        const session = stoppable(response.body);
        events = session;
        void (async () => {
          try {
            for await (const event of jsonLines(session.stream)) {
              const { Action, Actor } = event as EventMessage;
              const id = Actor?.ID;
              if (!id) continue;
              const name = Actor?.Attributes?.name ?? id;
              if (Action === "start" || (options.all && Action === "create")) add({ id, name });
              else if (Action === "destroy" || (!options.all && Action === "die")) remove(id);
            }
          } catch {
            // The stream was stopped, or the daemon went away: the table keeps what it has.
          }
        })();
      }
      const containers = await client.json<ContainerSummary[]>("GET", "/containers/json", {
        query: { all: options.all || undefined },
      });
      for (const container of containers) add({ id: container.Id, name: container.Names[0] ?? container.Id });
    }
    // docker exits 0 on SIGINT/SIGTERM (its context's cancellation); other signals end it as they would.
    const stoppedBy = (signal: number) => (signal === 2 || signal === 15 ? 0 : 128 + signal);
    const first = Promise.all([...collectors.values()].map((collector) => collector.first));
    const early = await Promise.race([first.then(() => undefined), signal.received]);
    if (early !== undefined) return stoppedBy(early);
    if (names.length > 0) {
      const failures = [...collectors.values()].flatMap((collector) => collector.error ?? []);
      if (failures.length > 0) throw new CliError(failures.join("\n"));
    }
    const draw = { format: options.format, defaultFormat: DEFAULT_FORMAT, header: HEADER };
    for (;;) {
      let table = "";
      const rows = [...collectors.values()].flatMap((collector) => collector.row ?? []);
      const buffer = {
        write: async (text: string | Uint8Array) => {
          table += text;
        },
      };
      await writeFormatted(buffer, draw, rows);
      if (context.out.isTerminal) {
        const lines = table.replace(/\n$/, "").split("\n");
        await context.out.write(`\x1b[H${lines.map((line) => `${line}\x1b[K\n`).join("")}\x1b[J`);
      } else {
        await context.out.write(table);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const tick = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), STATS_REDRAW_MS);
      });
      const received = await Promise.race([tick, signal.received]);
      clearTimeout(timer);
      if (received !== undefined) return stoppedBy(received);
    }
  } finally {
    signal.dispose();
    events?.stop(new Stopped());
    for (const id of [...collectors.keys()]) remove(id);
  }
}

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
    const client = await context.client();
    if (!flags["no-stream"]) {
      return streamStats(context, client, context.args, {
        all: flags.all,
        format: flags.format,
        truncate: !flags["no-trunc"],
      });
    }
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
