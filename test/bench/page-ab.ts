// Two production builds of the playground by turns, with the floor page, in one Chromium: for a change to the page
// whose effect is smaller than what the machine's load does between two runs. Build each side first
// (`npx vite build --outDir /tmp/a` on each commit), then:
//   npx tsx test/bench/page-ab.ts /tmp/a /tmp/b [visits]
// Prints, for each side, navigation → the prompt on screen, navigation → a typed `echo` answered, the same for the
// floor, the ratio, and each side's breakdown, every figure with the load average it met.
import { rm } from "node:fs/promises";
import { launchBrowser, servePage } from "../e2e/harness.ts";
import { loadAverage, median } from "./harness.ts";
import { buildFloor, pageSteps, printBreakdown, type Step, serveFloor, typeAndWait, visit } from "./page.bench.ts";

const [dirA, dirB, count] = process.argv.slice(2);
if (!dirA || !dirB) {
  console.error("usage: npx tsx test/bench/page-ab.ts <build A> <build B> [visits, default 9]");
  process.exit(2);
}
const visits = Number(count ?? 9);
const floorDir = `${dirA.replace(/\/+$/, "")}-floor`;
await buildFloor(floorDir);
const sides = { A: await servePage(dirA), B: await servePage(dirB) };
const floor = await serveFloor(floorDir);
const browser = await launchBrowser();
const loads: number[] = [];
const figures: Record<string, { prompt: number[]; answered: number[]; steps: Step[][] }> = {
  A: { prompt: [], answered: [], steps: [] },
  B: { prompt: [], answered: [], steps: [] },
  floor: { prompt: [], answered: [], steps: [] },
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
      figures[side]!.steps.push(await pageSteps(page, "drydock:"));
    }
    const ready = await visit(page, floor.url, "floor:restored");
    const bare = await typeAndWait(page, "#input", "#out", `echo ok-${i}-$((${i}*7))`, `ok-${i}-${i * 7}`);
    figures.floor!.prompt.push(ready);
    figures.floor!.answered.push(ready + bare.answered - bare.entered);
    figures.floor!.steps.push(await pageSteps(page, "floor:"));
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
          "÷ floor": side === "floor" ? "" : (median(f.answered) / median(figures.floor!.answered)).toFixed(2),
        },
      ]),
    ),
  );
} finally {
  await browser.close();
  await sides.A.close();
  await sides.B.close();
  await floor.close();
  await rm(floorDir, { recursive: true, force: true });
}
process.exit(0);
