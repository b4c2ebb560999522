// The benchmark harness: suites record figures; run.ts prints them and writes bench/results.json.
import { readFileSync } from "node:fs";

export interface BenchResult {
  suite: string;
  name: string;
  unit: string;
  /** The figure to compare: the median of the runs. */
  value: number;
  runs: number;
  median: number;
  min: number;
  max: number;
  goal?: string;
  /** The machine's 1-minute load average when the figure was recorded: a loaded figure is not a quiet one. */
  load: number;
}

/** The 1-minute load average (/proc/loadavg), or NaN where there is none. */
export function loadAverage(): number {
  try {
    return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
  } catch {
    return Number.NaN;
  }
}

export interface BenchContext {
  /** Records a figure measured once (a size, a count). */
  record(name: string, value: number, unit: string, goal?: string): void;
  /** Times `fn` `runs` times (after `warmup` untimed runs) and records the median in milliseconds. */
  time(
    name: string,
    runs: number,
    fn: () => Promise<void>,
    options?: { warmup?: number; goal?: string },
  ): Promise<void>;
  /** Records a series of samples measured by the suite itself. */
  samples(name: string, values: number[], unit: string, goal?: string): void;
}

export interface BenchSuite {
  name: string;
  run(ctx: BenchContext): Promise<void>;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function createContext(suite: string, results: BenchResult[]): BenchContext {
  const samples = (name: string, values: number[], unit: string, goal?: string) => {
    const m = median(values);
    results.push({
      suite,
      name,
      unit,
      value: m,
      runs: values.length,
      median: m,
      min: Math.min(...values),
      max: Math.max(...values),
      ...(goal ? { goal } : {}),
      load: loadAverage(),
    });
  };
  return {
    record: (name, value, unit, goal) => samples(name, [value], unit, goal),
    samples,
    async time(name, runs, fn, options = {}) {
      for (let i = 0; i < (options.warmup ?? 0); i++) await fn();
      const values: number[] = [];
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        await fn();
        values.push(performance.now() - start);
      }
      samples(name, values, "ms", options.goal);
    },
  };
}
