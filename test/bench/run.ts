// `npm run bench`: runs every test/bench/*.bench.ts suite (or those named on the command line), prints a table and
// writes bench/results.json with the machine it ran on.
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { type BenchResult, type BenchSuite, createContext, loadAverage } from "./harness.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const only = process.argv.slice(2);
const files = (await readdir(here)).filter((f) => f.endsWith(".bench.ts")).sort();
const results: BenchResult[] = [];

for (const file of files) {
  const suite = ((await import(`./${file}`)) as { default: BenchSuite }).default;
  if (only.length && !only.includes(suite.name)) continue;
  process.stdout.write(`bench: ${suite.name}… (load average ${loadAverage()} on ${cpus().length} cores)\n`);
  await suite.run(createContext(suite.name, results));
}

const round = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));
console.table(
  results.map((r) => ({
    suite: r.suite,
    name: r.name,
    median: `${round(r.median)} ${r.unit}`,
    min: round(r.min),
    max: round(r.max),
    runs: r.runs,
    goal: r.goal ?? "",
    load: r.load,
  })),
);

const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
};
const out = fileURLToPath(new URL("../../bench/results.json", import.meta.url));
await mkdir(fileURLToPath(new URL("../../bench/", import.meta.url)), { recursive: true });
await writeFile(out, `${JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2)}\n`);
console.log(`bench: wrote ${results.length} figures to bench/results.json`);
process.exit(0);
