// Two production builds of the playground by turns, with the floor page, in one Chromium: for a change to the page
// whose effect is smaller than what the machine's load does between two runs. Build each side first
// (`npx vite build --outDir /tmp/a` on each commit), then:
//   npx tsx test/bench/page-ab.ts /tmp/a /tmp/b [visits]
// Prints, for each side, navigation → the prompt on screen, navigation → a typed `echo` answered, the same for the
// floor, the ratio, and each side's breakdown, every figure with the load average it met; then, traced by turns, each
// side's longest main-thread task on a first visit (everything the browser keeps for the origin forgotten) and on a
// cached visit, to 1 s after the prompt: its wall time, its CPU time, and the most CPU time of any one task.
import { rm } from "node:fs/promises";
import { launchBrowser, servePage, waitForPrompt } from "../e2e/harness.ts";
import { loadAverage, median } from "./harness.ts";
import {
  buildFloor,
  forget,
  type LongestTask,
  longestMainThreadTask,
  pageSteps,
  printBreakdown,
  type Step,
  serveFloor,
  typeAndWait,
  visit,
} from "./page.bench.ts";

const [dirA, dirB, count, tracedCount] = process.argv.slice(2);
if (!dirA || !dirB) {
  console.error(
    "usage: npx tsx test/bench/page-ab.ts <build A> <build B> [visits, default 9] [traced rounds, default 3]",
  );
  process.exit(2);
}
const visits = Number(count ?? 9);
const tracedRounds = Number(tracedCount ?? 3);
const floorDir = `${dirA.replace(/\/+$/, "")}-floor`;
await buildFloor(floorDir);
const sides = { A: await servePage(dirA), B: await servePage(dirB) };
const floor = await serveFloor(floorDir);
const browser = await launchBrowser();
const loads: number[] = [];
const figures: Record<string, { prompt: number[]; answered: number[]; latency: number[]; steps: Step[][] }> = {
  A: { prompt: [], answered: [], latency: [], steps: [] },
  B: { prompt: [], answered: [], latency: [], steps: [] },
  floor: { prompt: [], answered: [], latency: [], steps: [] },
};
try {
  const { page } = browser;
  // One untimed visit each: both start with what the browser keeps after a visit.
  for (const server of [sides.A, sides.B, floor]) {
    await page.goto(server.url);
    await page.waitForSelector("html[data-state=ready]", { timeout: 30_000 });
    await page.waitForTimeout(2500);
  }
  for (let i = 0; i < visits; i++) {
    loads.push(loadAverage());
    // The order turns too, so neither side always follows the other.
    const order = i % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const);
    for (const side of order) {
      const ready = await visit(page, sides[side].url, "drydock:prompt painted", "drydock:prompt");
      const typed = await typeAndWait(
        page,
        ".xterm-helper-textarea",
        ".xterm-rows",
        `echo ok-${i}-$((${i}*7))`,
        `ok-${i}-${i * 7}`,
      );
      figures[side]!.prompt.push(ready);
      figures[side]!.answered.push(ready + typed.answered - typed.entered);
      figures[side]!.latency.push(typed.answered - typed.entered);
      figures[side]!.steps.push(await pageSteps(page, "drydock:"));
    }
    const ready = await visit(page, floor.url, "floor:restored");
    const bare = await typeAndWait(page, "#input", "#out", `echo ok-${i}-$((${i}*7))`, `ok-${i}-${i * 7}`);
    figures.floor!.prompt.push(ready);
    figures.floor!.answered.push(ready + bare.answered - bare.entered);
    figures.floor!.latency.push(bare.answered - bare.entered);
    figures.floor!.steps.push(await pageSteps(page, "floor:"));
  }
  // Traced by turns (tracing slows the page, so these visits are not timed): the longest main-thread tasks.
  const cdp = await browser.context.newCDPSession(page);
  const tasks: Record<"A" | "B", { first: LongestTask[]; cached: LongestTask[] }> = {
    A: { first: [], cached: [] },
    B: { first: [], cached: [] },
  };
  const tracedLoads: number[] = [];
  for (let i = 0; i < tracedRounds; i++) {
    tracedLoads.push(loadAverage());
    const order = i % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const);
    for (const side of order) {
      const { url } = sides[side];
      const origin = new URL(url).origin;
      for (const kind of ["first", "cached"] as const) {
        if (kind === "first") await forget(cdp, origin);
        tasks[side][kind].push(
          await longestMainThreadTask(cdp, origin, async () => {
            await page.goto(url);
            await waitForPrompt(page);
            await page.waitForTimeout(1000);
          }),
        );
      }
    }
  }
  for (const side of ["A", "B"] as const)
    printBreakdown(`cached visit, ${side} (${side === "A" ? dirA : dirB})`, figures[side]!.steps);
  const range = (v: number[]) =>
    `${Math.round(median(v))} ms (${Math.round(Math.min(...v))}–${Math.round(Math.max(...v))})`;
  console.log(`\n${visits} visits each by turns; load average ${Math.min(...loads)}–${Math.max(...loads)} on 2 cores`);
  console.table(
    Object.fromEntries(
      Object.entries(figures).map(([side, f]) => [
        side,
        {
          "navigation → prompt on screen": range(f.prompt),
          "navigation → echo answered": range(f.answered),
          "Enter → answer": range(f.latency),
          "÷ floor": side === "floor" ? "" : (median(f.answered) / median(figures.floor!.answered)).toFixed(2),
        },
      ]),
    ),
  );
  if (tracedRounds > 0) printLongest();
  function printLongest(): void {
    const of = (list: LongestTask[], key: keyof LongestTask) =>
      `${median(list.map((t) => t[key])).toFixed(1)} (${Math.min(...list.map((t) => t[key])).toFixed(1)}–${Math.max(...list.map((t) => t[key])).toFixed(1)})`;
    console.log(
      `\nlongest main-thread task to 1 s after the prompt, ms, ${tracedRounds} traced rounds by turns; load average ${Math.min(...tracedLoads)}–${Math.max(...tracedLoads)}`,
    );
    console.table(
      Object.fromEntries(
        (["A", "B"] as const).map((side) => [
          side,
          {
            "first: wall": of(tasks[side].first, "wall"),
            "first: its CPU": of(tasks[side].first, "cpu"),
            "first: most CPU of a task": of(tasks[side].first, "maxCpu"),
            "cached: wall": of(tasks[side].cached, "wall"),
            "cached: its CPU": of(tasks[side].cached, "cpu"),
            "cached: most CPU of a task": of(tasks[side].cached, "maxCpu"),
          },
        ]),
      ),
    );
  }
} finally {
  await browser.close();
  await sides.A.close();
  await sides.B.close();
  await floor.close();
  await rm(floorDir, { recursive: true, force: true });
}
process.exit(0);
