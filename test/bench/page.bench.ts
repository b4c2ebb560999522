// The playground page in real Chromium (a production build under `vite preview`), next to its floor: a bare v86 page
// (test/bench/floor/) restoring the same saved state from the same kind of server, in the same browser, visit for
// visit. Prints where each millisecond of a cached visit goes (the page's and the worker's performance measures), the
// time to a typed command's answer as the page shows it, first visits (bytes, time), the longest main-thread task;
// and, in Node, what zstd does to the saved state (size, and restore time raw vs compressed).
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { CDPSession, Page, Request } from "playwright-core";
import { build, preview } from "vite";
import { Drydock } from "../../engine/index.ts";
import { ensureSavedState, loadGuestArtifacts, v86WasmPath } from "../../engine/node/index.ts";
import { guestAssets, prepareGuestAssets } from "../../web/guest-assets.ts";
import { buildPage, launchBrowser, type PageServer, servePage, waitForPrompt } from "../e2e/harness.ts";
import { pageMainThreads, recordTrace } from "./chrome-trace.ts";
import { type BenchSuite, loadAverage, median } from "./harness.ts";

/** One step of a visit, in ms since navigation. */
export interface Step {
  name: string;
  start: number;
  end: number;
}

const FLOOR_ROOT = join(import.meta.dirname, "floor");
const VISITS = 7;

/** Builds the floor page (with the playground's guest-assets plugin: the same state under the same kind of URL). */
export async function buildFloor(outDir: string): Promise<void> {
  await build({
    configFile: false,
    root: FLOOR_ROOT,
    logLevel: "error",
    plugins: [guestAssets()],
    worker: { format: "es" },
    build: { outDir, emptyOutDir: true, target: "es2022" },
  });
}

export async function serveFloor(outDir: string): Promise<PageServer> {
  const server = await preview({
    configFile: false,
    root: FLOOR_ROOT,
    logLevel: "error",
    plugins: [guestAssets()],
    build: { outDir },
    preview: { port: 0, host: "127.0.0.1", strictPort: false },
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error("vite preview did not say where the floor page listens");
  return { url, close: () => server.close() };
}

/**
 * Types `command` and Enter as a person would, key by key (xterm takes no inserted text), and waits until the screen
 * shows `answer`. Returns, in the page's clock, when Enter went down (the event's own time stamp) and when the answer
 * showed (polled every frame).
 */
export async function typeAndWait(
  page: Page,
  input: string,
  screen: string,
  command: string,
  answer: string,
): Promise<{ entered: number; answered: number }> {
  await page.focus(input);
  await page.evaluate(
    `addEventListener("keydown", (e) => { if (e.key === "Enter") window.enteredAt = e.timeStamp; }, true)`,
  );
  await page.keyboard.type(command);
  await page.keyboard.press("Enter");
  const handle = await page.waitForFunction(
    `(document.querySelector(${JSON.stringify(screen)})?.textContent ?? "").includes(${JSON.stringify(answer)}) && performance.now()`,
    undefined,
    { polling: "raf" },
  );
  const answered = (await handle.jsonValue()) as number;
  return { entered: (await page.evaluate("window.enteredAt")) as number, answered };
}

/**
 * Navigates to `url` and waits, polling every frame, until the page sets `readyMark` (or, within a second of
 * `fallbackMark`, without it: an older page); returns when, in its clock.
 */
export async function visit(page: Page, url: string, readyMark: string, fallbackMark = readyMark): Promise<number> {
  await page.goto(url);
  const [ready, fallback] = [JSON.stringify(readyMark), JSON.stringify(fallbackMark)];
  await page.waitForFunction(
    `document.documentElement.dataset.state === "error" || performance.getEntriesByName(${fallback}).length > 0`,
    undefined,
    { polling: "raf", timeout: 30_000 },
  );
  if ((await page.locator("html").getAttribute("data-state")) === "error") {
    throw new Error(`${url} did not start: ${await page.locator("body").innerText()}`);
  }
  const found = await page
    .waitForFunction(`performance.getEntriesByName(${ready}).length > 0`, undefined, { polling: "raf", timeout: 1000 })
    .then(() => ready)
    .catch(() => fallback);
  return (await page.evaluate(`performance.getEntriesByName(${found})[0].startTime`)) as number;
}

/** The page's own steps: navigation timing, its marks and measures whose names start with `prefix`. */
export async function pageSteps(page: Page, prefix: string): Promise<Step[]> {
  const script = `(() => {
    const prefix = ${JSON.stringify(prefix)};
    const steps = [];
    const nav = performance.getEntriesByType("navigation")[0];
    if (nav) steps.push({ name: "navigation → HTML received", start: 0, end: nav.responseEnd });
    const scripts = performance.getEntriesByType("resource").filter((e) => e.name.split("?")[0].endsWith(".js"));
    if (scripts.length) {
      steps.push({
        name: "the page's scripts fetched",
        start: Math.min(...scripts.map((e) => e.startTime)),
        end: Math.max(...scripts.map((e) => e.responseEnd)),
      });
    }
    const runs = performance.getEntriesByName(prefix + "page script runs")[0];
    if (runs && nav) steps.push({ name: "HTML received → page script runs", start: nav.responseEnd, end: runs.startTime });
    for (const entry of performance.getEntries()) {
      if (!entry.name.startsWith(prefix)) continue;
      const name = entry.name.slice(prefix.length);
      if (entry.entryType === "measure") steps.push({ name, start: entry.startTime, end: entry.startTime + entry.duration });
      else if (entry.entryType === "mark" && name !== "page script runs") {
        steps.push({ name: "(mark) " + name, start: entry.startTime, end: entry.startTime });
      }
    }
    return steps;
  })()`;
  return (await page.evaluate(script)) as Step[];
}

/** The longest task on the page's main thread: its wall time, and the CPU time its thread spent in it. */
export interface LongestTask {
  wall: number;
  cpu: number;
  /** The longest CPU time of any one task (not necessarily the task with the longest wall time). */
  maxCpu: number;
}

/**
 * Records a Chrome trace around `fn` and returns the longest task on the main thread of the renderer showing `origin`
 * (not Chromium's own pages), in ms. A task's wall time counts the time its thread waited for a core; on a loaded
 * machine that dwarfs its work, so the CPU time the thread spent (the trace's `tdur`) is returned too: it is what the
 * page itself asks of the main thread, the floor the wall time meets on a quiet machine.
 */
export async function longestMainThreadTask(
  cdp: CDPSession,
  origin: string,
  fn: () => Promise<void>,
): Promise<LongestTask> {
  const events = await recordTrace(
    cdp,
    ["devtools.timeline", "disabled-by-default-devtools.timeline", "__metadata"],
    fn,
  );
  const mainThreads = pageMainThreads(events, origin);
  const longest: LongestTask = { wall: 0, cpu: 0, maxCpu: 0 };
  for (const e of events) {
    if (e.name === "RunTask" && e.ph === "X" && mainThreads.has(`${e.pid}:${e.tid}`)) {
      const wall = (e.dur ?? 0) / 1000;
      const cpu = (e.tdur ?? 0) / 1000;
      if (wall > longest.wall) Object.assign(longest, { wall, cpu });
      longest.maxCpu = Math.max(longest.maxCpu, cpu);
    }
  }
  return longest;
}

/** Prints the median start, end and duration of each step over the visits, in order of the median start. */
export function printBreakdown(title: string, visits: Step[][]): void {
  const names = [...new Set(visits.flat().map((s) => s.name))];
  const rows = names
    .map((name) => {
      const of = visits.map((v) => v.find((s) => s.name === name)).filter((s): s is Step => s !== undefined);
      return {
        step: name,
        start: median(of.map((s) => s.start)),
        end: median(of.map((s) => s.end)),
        ms: median(of.map((s) => s.end - s.start)),
        visits: of.length,
      };
    })
    .sort((a, b) => a.start - b.start || a.end - b.end);
  console.log(`\n${title} (medians over ${visits.length} visits, ms since navigation; load ${loadAverage()})`);
  console.table(
    rows.map((r) => ({
      step: r.step,
      start: Math.round(r.start),
      end: Math.round(r.end),
      ms: Math.round(r.ms * 10) / 10,
      ...(r.visits < visits.length ? { visits: r.visits } : {}),
    })),
  );
}

/** Empties the HTTP cache, the compiled-code cache and the origin's storage: the next visit is a first visit. */
export async function forget(cdp: CDPSession, origin: string): Promise<void> {
  await cdp.send("Network.clearBrowserCache");
  await cdp.send("Storage.clearDataForOrigin", { origin, storageTypes: "all" });
}

const suite: BenchSuite = {
  name: "page",
  async run(ctx) {
    // --- the saved state: raw vs zstd ------------------------------------------------------------------------------
    const assets = await prepareGuestAssets();
    const raw = (await ensureSavedState()).state;
    ctx.record("saved state, raw", raw.byteLength, "bytes");
    ctx.record("saved state, zstd -19", assets.state.size, "bytes");
    const artifacts = await loadGuestArtifacts();
    const zst = assets.state.bytes.slice().buffer as ArrayBuffer;
    for (const [label, state] of [
      ["raw", raw],
      ["zstd", zst],
    ] as const) {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const drydock = await Drydock.boot({ artifacts, wasmPath: v86WasmPath(), state });
        await drydock.agent.run(["true"]);
        times.push(performance.now() - started);
        await drydock.dispose();
      }
      ctx.samples(`restore to first command from the ${label} state (Node)`, times, "ms");
    }

    // --- the page and its floor in Chromium ------------------------------------------------------------------------
    const outDir = await buildPage();
    const floorDir = `${outDir}-floor`;
    await buildFloor(floorDir);
    const server = await servePage(outDir);
    const floor = await serveFloor(floorDir);
    const browser = await launchBrowser();
    try {
      const { page, context } = browser;
      const cdp = await context.newCDPSession(page);
      const origin = new URL(server.url).origin;

      // First visit, traced: bytes, requests and the longest main-thread task.
      let bytes = 0;
      let requests = 0;
      const counting = new Set<Promise<void>>();
      const count = async (request: Request) => {
        const sizes = await request.sizes().catch(() => undefined);
        if (!sizes) return;
        requests++;
        bytes += sizes.responseBodySize + sizes.responseHeadersSize;
      };
      const onRequest = (request: Request) => {
        const done = count(request);
        counting.add(done);
        void done.finally(() => counting.delete(done));
      };
      page.on("requestfinished", onRequest);
      const firstLongest = await longestMainThreadTask(cdp, origin, async () => {
        await page.goto(server.url);
        await waitForPrompt(page);
        await page.waitForTimeout(1000);
      });
      await Promise.all(counting);
      page.off("requestfinished", onRequest);
      ctx.record("first visit: bytes transferred", bytes, "bytes", "≤ 6 MB");
      ctx.record("first visit: requests", requests, "requests");
      ctx.record("first visit: longest main-thread task (to 1 s after the prompt)", firstLongest.wall, "ms", "≤ 50 ms");
      ctx.record(
        "first visit: … its CPU time (what the page asked; the rest waited for a core)",
        firstLongest.cpu,
        "ms",
      );
      ctx.record("first visit: the most CPU time of any one main-thread task (the floor)", firstLongest.maxCpu, "ms");

      // First visits, untraced: everything the browser keeps for the origin forgotten before each.
      const firstAnswered: number[] = [];
      for (let i = 0; i < 3; i++) {
        await forget(cdp, origin);
        const ready = await visit(page, server.url, "drydock:prompt painted", "drydock:prompt");
        const typed = await typeAndWait(
          page,
          ".xterm-helper-textarea",
          ".xterm-rows",
          "echo first-$((6*7))",
          "first-42",
        );
        firstAnswered.push(ready + typed.answered - typed.entered);
      }
      ctx.samples(
        "first visit: navigation → an `echo` answered (prompt on screen + Enter → answer)",
        firstAnswered,
        "ms",
        "≤ 1200 ms",
      );

      // Cached visits, the playground and the floor by turns, so load from others falls on both alike.
      const prompts: number[] = [];
      const answered: number[] = [];
      const latency: number[] = [];
      const floorAnswered: number[] = [];
      const floorLatency: number[] = [];
      const pageVisits: Step[][] = [];
      const floorVisits: Step[][] = [];
      // One untimed visit each, so both start with whatever the browser keeps after a visit (compiled code too).
      for (const url of [server.url, floor.url]) {
        await page.goto(url);
        await page.waitForSelector("html[data-state=ready]", { timeout: 30_000 });
        await page.waitForTimeout(2500);
      }
      for (let i = 0; i < VISITS; i++) {
        const ready = await visit(page, server.url, "drydock:prompt painted", "drydock:prompt");
        prompts.push(ready);
        const typed = await typeAndWait(
          page,
          ".xterm-helper-textarea",
          ".xterm-rows",
          `echo ok-${i}-$((${i}*7))`,
          `ok-${i}-${i * 7}`,
        );
        latency.push(typed.answered - typed.entered);
        answered.push(ready + typed.answered - typed.entered);
        pageVisits.push([
          ...(await pageSteps(page, "drydock:")),
          { name: "(later) Enter → the answer on screen", start: typed.entered, end: typed.answered },
        ]);

        const floorReady = await visit(page, floor.url, "floor:restored");
        const bare = await typeAndWait(page, "#input", "#out", `echo ok-${i}-$((${i}*7))`, `ok-${i}-${i * 7}`);
        floorLatency.push(bare.answered - bare.entered);
        floorAnswered.push(floorReady + bare.answered - bare.entered);
        floorVisits.push([
          ...(await pageSteps(page, "floor:")),
          { name: "(later) Enter → the answer on screen", start: bare.entered, end: bare.answered },
        ]);
      }
      // The first processes a learner starts, 3 s after the prompt, with the page's warm-up of v86's compiler and
      // without it (`?warmup=0`), by turns: five fork-and-execs and an echo.
      const firstCommand: Record<"on" | "off", number[]> = { on: [], off: [] };
      for (let i = 0; i < 5; i++) {
        for (const mode of ["on", "off"] as const) {
          await visit(
            page,
            `${server.url}${mode === "off" ? "?warmup=0" : ""}`,
            "drydock:prompt painted",
            "drydock:prompt",
          );
          await page.waitForTimeout(3000);
          const typed = await typeAndWait(
            page,
            ".xterm-helper-textarea",
            ".xterm-rows",
            `for n in 1 2 3 4 5; do /bin/true; done; echo w-${i}-$((${i}*3))`,
            `w-${i}-${i * 3}`,
          );
          firstCommand[mode].push(typed.answered - typed.entered);
        }
      }
      ctx.samples("first command 3 s after the prompt (5 × /bin/true), warm-up on", firstCommand.on, "ms");
      ctx.samples("the same with ?warmup=0", firstCommand.off, "ms");

      printBreakdown("cached visit: the playground", pageVisits);
      printBreakdown("cached visit: the floor (v86 alone, the same state, serial console)", floorVisits);

      // Cached visits, traced (tracing slows the page down, so these are not timed).
      // The floor's too, by turns: what a page with next to no main-thread work of its own shows as its longest task
      // in the same browser at the same load (the wall time a task spends waiting for a core while v86 restores).
      const longest: LongestTask[] = [];
      const floorLongest: LongestTask[] = [];
      for (let i = 0; i < 3; i++) {
        longest.push(
          await longestMainThreadTask(cdp, origin, async () => {
            await page.goto(server.url);
            await waitForPrompt(page);
            // Start ends a second after the prompt: what the page does right after it counts too.
            await page.waitForTimeout(1000);
          }),
        );
        floorLongest.push(
          await longestMainThreadTask(cdp, new URL(floor.url).origin, async () => {
            await page.goto(floor.url);
            await page.waitForSelector("html[data-state=ready]", { timeout: 30_000 });
            await page.waitForTimeout(1000);
          }),
        );
      }
      const ratio = median(answered) / median(floorAnswered);
      ctx.samples("cached visit: navigation → the prompt on screen", prompts, "ms");
      ctx.samples(
        "cached visit: navigation → an `echo` answered (prompt on screen + Enter → answer)",
        answered,
        "ms",
        "≤ 350 ms and ≤ 1.3 × floor",
      );
      ctx.samples("floor (v86 alone): the same (restored + Enter → answer)", floorAnswered, "ms");
      ctx.record("cached visit / floor", Math.round(ratio * 100) / 100, "×", "≤ 1.3");
      ctx.samples("cached visit: Enter → the answer on screen", latency, "ms");
      ctx.samples("floor: Enter → the answer on screen (serial console)", floorLatency, "ms");
      ctx.samples(
        "cached visit: longest main-thread task (to 1 s after the prompt)",
        longest.map((l) => l.wall),
        "ms",
        "≤ 50 ms",
      );
      ctx.samples(
        "cached visit: … its CPU time",
        longest.map((l) => l.cpu),
        "ms",
      );
      ctx.samples(
        "cached visit: the most CPU time of any one main-thread task (the floor)",
        longest.map((l) => l.maxCpu),
        "ms",
      );
      ctx.samples(
        "floor (v86 alone): longest main-thread task, wall (to 1 s after the restore)",
        floorLongest.map((l) => l.wall),
        "ms",
      );
      ctx.samples(
        "floor: … its CPU time",
        floorLongest.map((l) => l.cpu),
        "ms",
      );
    } finally {
      await browser.close();
      await server.close();
      await floor.close();
      await rm(outDir, { recursive: true, force: true });
      await rm(floorDir, { recursive: true, force: true });
    }
  },
};

export default suite;
