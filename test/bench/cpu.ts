// CPU time per thread of this process and its descendants (Chromium's processes, a registry, the Node side), read
// from /proc: what a run asked of each thread, where a wall-clock figure on a loaded machine mostly says how long
// the threads waited for a core. Linux only; elsewhere the snapshots are empty.
import { readdirSync, readFileSync } from "node:fs";

/** CPU seconds by thread, keyed `process kind / thread name #tid`. */
export type CpuSnapshot = Map<string, number>;

const TICKS_PER_SECOND = 100;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** A process's kind: Chromium's `--type` (and utility sub-type), else its command name. */
function kindOf(pid: number): string {
  const cmdline = read(`/proc/${pid}/cmdline`)?.split("\0") ?? [];
  const type = cmdline.find((arg) => arg.startsWith("--type="))?.slice(7);
  const sub = cmdline.find((arg) => arg.startsWith("--utility-sub-type="))?.slice(19);
  if (type) return sub ? `${type}:${sub.replace(/\.mojom\./, ".")}` : type;
  if (pid === process.pid) return "node (bench, proxy)";
  return read(`/proc/${pid}/comm`)?.trim() ?? String(pid);
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = read(`/proc/${pid}/stat`);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const all: number[] = [];
  const walk = (pid: number) => {
    all.push(pid);
    for (const child of children.get(pid) ?? []) walk(child);
  };
  walk(root);
  return all;
}

/** Every thread's CPU seconds so far, in this process and all its descendants. */
export function cpuSnapshot(): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
  if (process.platform !== "linux") return snapshot;
  for (const pid of descendants(process.pid)) {
    const kind = kindOf(pid);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const stat = read(`/proc/${pid}/task/${tid}/stat`);
      if (!stat) continue;
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name.
      const ticks = Number(fields[11]) + Number(fields[12]);
      snapshot.set(`${kind} / ${name} #${tid}`, ticks / TICKS_PER_SECOND);
    }
  }
  return snapshot;
}

/** What each thread spent between two snapshots, adding into `into` (threads that spent nothing are left out). */
export function addCpu(into: Map<string, number>, before: CpuSnapshot, after: CpuSnapshot): void {
  for (const [thread, seconds] of after) {
    const spent = seconds - (before.get(thread) ?? 0);
    if (spent > 0) into.set(thread, (into.get(thread) ?? 0) + spent);
  }
}

/** The threads that spent the most, as rows for console.table: seconds per unit of work (e.g. per pull). */
export function topThreads(spent: Map<string, number>, per: number, count = 8): Record<string, string> {
  const total = [...spent.values()].reduce((sum, s) => sum + s, 0);
  const rows = [...spent.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
  return Object.fromEntries([
    ...rows.map(([thread, seconds]) => [thread, `${(seconds / per).toFixed(2)} s`]),
    ["all threads", `${(total / per).toFixed(2)} s`],
  ]);
}
