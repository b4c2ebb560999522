// What the page's longest main-thread tasks are: a Chrome trace of a first visit and of cached visits of one
// production build, and for each of the longest tasks on the page's main thread its wall and CPU time and the work
// inside it (scripts by URL and function, layout, style, parsing, compiles, garbage collection), nested as the trace
// nests them. Build first (`npx vite build --outDir /tmp/a`), then:
//   npx tsx test/bench/page-tasks.ts /tmp/a [cached visits, default 3] [tasks shown, default 4]
import type { CDPSession } from "playwright-core";
import { launchBrowser, servePage, waitForPrompt } from "../e2e/harness.ts";
import { pageMainThreads, recordTrace, type TraceEvent } from "./chrome-trace.ts";
import { loadAverage } from "./harness.ts";

const [dir, cachedArg, shownArg] = process.argv.slice(2);
if (!dir) {
  console.error("usage: npx tsx test/bench/page-tasks.ts <build> [cached visits] [tasks shown]");
  process.exit(2);
}
const cachedVisits = Number(cachedArg ?? 3);
const shown = Number(shownArg ?? 4);

function trace(cdp: CDPSession, fn: () => Promise<void>): Promise<TraceEvent[]> {
  return recordTrace(
    cdp,
    [
      "devtools.timeline",
      "disabled-by-default-devtools.timeline",
      "blink.user_timing",
      "v8.execute",
      "v8",
      "disabled-by-default-v8.compile",
      "loading",
      "toplevel",
      "blink",
      "mojom",
      "ipc",
      "__metadata",
      ...(process.env.PROFILE ? ["disabled-by-default-v8.cpu_profiler"] : []),
    ],
    fn,
  );
}

/** A short label for an event inside a task. */
function label(e: TraceEvent): string {
  const data = (e.args?.data ?? {}) as Record<string, unknown>;
  const url = typeof data.url === "string" ? data.url.replace(/^https?:\/\/[^/]+/, "") : "";
  const fn = typeof data.functionName === "string" ? data.functionName : "";
  const extra = [fn && `${fn}()`, url, typeof data.type === "string" ? data.type : ""].filter(Boolean).join(" ");
  const args = e.args ?? {};
  const src =
    typeof args.src_func === "string" ? ` ${args.src_file}:${args.src_func}` : typeof args.name === "string" ? "" : "";
  const more = process.env.ARGS && e.name === "EvaluateScript" ? ` ${JSON.stringify(e.args).slice(0, 300)}` : "";
  return `${e.name}${extra ? ` [${extra}]` : ""}${src}${more}`;
}

interface ProfileNode {
  id: number;
  parent?: number;
  callFrame: { functionName: string; url?: string; scriptId?: number; lineNumber?: number; columnNumber?: number };
}

/** The V8 sampling profile's samples of thread pid:tid: [time in µs (trace clock), node]. */
function samples(
  events: TraceEvent[],
  thread: string,
): { at: number; node: ProfileNode; nodes: Map<number, ProfileNode> }[] {
  const nodes = new Map<number, ProfileNode>();
  const out: { at: number; node: ProfileNode; nodes: Map<number, ProfileNode> }[] = [];
  const profiles = new Map<string, { start: number; last: number }>();
  const key = (e: TraceEvent) => `${e.pid}:${(e as { id?: string }).id}`;
  for (const e of events) {
    if (e.name === "Profile" && `${e.pid}:${e.tid}` === thread) {
      const data = e.args?.data as { startTime: number };
      profiles.set(key(e), { start: data.startTime, last: data.startTime });
    }
  }
  for (const e of events) {
    if (e.name !== "ProfileChunk") continue;
    const p = profiles.get(key(e));
    if (!p) continue;
    const data = e.args?.data as {
      cpuProfile?: { nodes?: ProfileNode[]; samples?: number[] };
      timeDeltas?: number[];
    };
    for (const n of data.cpuProfile?.nodes ?? []) nodes.set(n.id, n);
    const s = data.cpuProfile?.samples ?? [];
    const d = data.timeDeltas ?? [];
    for (let i = 0; i < s.length; i++) {
      p.last += d[i] ?? 0;
      const node = nodes.get(s[i]!);
      if (node) out.push({ at: p.last, node, nodes });
    }
  }
  return out;
}

function frameName(n: ProfileNode): string {
  const f = n.callFrame;
  const url = (f.url ?? "").replace(/^https?:\/\/[^/]+/, "").replace(/^.*node_modules\//, "");
  return `${f.functionName || "(anonymous)"} ${url || (f.scriptId ? `script#${f.scriptId}` : "")}${url ? `:${(f.lineNumber ?? 0) + 1}` : ""}`;
}

function profileOf(all: ReturnType<typeof samples>, start: number, end: number): void {
  const inside = all.filter((s) => s.at >= start && s.at <= end);
  if (!inside.length) return;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const s of inside) {
    self.set(frameName(s.node), (self.get(frameName(s.node)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let n: ProfileNode | undefined = s.node; n; n = n.parent ? s.nodes.get(n.parent) : undefined) {
      // parent links are not given by id: find by children
      const name = frameName(n);
      if (!seen.has(name)) total.set(name, (total.get(name) ?? 0) + 1);
      seen.add(name);
    }
  }
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 12));
  console.log(`      samples ${inside.length}; self:`);
  for (const [n, c] of top(self)) console.log(`        ${c} ${n}`);
  console.log("      total:");
  for (const [n, c] of top(total)) console.log(`        ${c} ${n}`);
}

function analyse(events: TraceEvent[], origin: string, title: string): void {
  const mains = pageMainThreads(events, origin);
  const onMain = events.filter((e) => mains.has(`${e.pid}:${e.tid}`) && e.ph === "X" && e.dur !== undefined);
  const navStart = events.find((e) => e.name === "navigationStart" && mains.has(`${e.pid}:${e.tid}`))?.ts;
  const key = process.env.SORT === "cpu" ? "tdur" : "dur";
  const tasks = onMain.filter((e) => e.name === "RunTask").sort((a, b) => (b[key] ?? 0) - (a[key] ?? 0));
  const marks = events
    .filter(
      (e) =>
        e.cat?.includes("blink.user_timing") &&
        e.name.startsWith("drydock:") &&
        (e.ph === "R" || e.ph === "I" || e.ph === "n" || e.ph === "b"),
    )
    .map((e) => ({ name: e.name, at: navStart ? (e.ts - navStart) / 1000 : 0 }));
  console.log(`\n=== ${title} (load ${loadAverage()}) — ${tasks.length} tasks on the main thread`);
  if (marks.length) {
    const uniq = new Map<string, number>();
    for (const m of marks) if (!uniq.has(m.name)) uniq.set(m.name, m.at);
    console.log("marks:", [...uniq].map(([n, t]) => `${n.replace("drydock:", "")} @${t.toFixed(0)}`).join(", "));
  }
  const byCpu = [...tasks].sort((a, b) => (b.tdur ?? 0) - (a.tdur ?? 0)).slice(0, 8);
  console.log(
    "most CPU:",
    byCpu
      .map((t) => {
        const inner = onMain.find((e) => e !== t && e.ts >= t.ts && e.name === "ThreadControllerImpl::RunTask");
        const src = String(inner?.args?.src_func ?? "");
        const at = navStart ? Math.round((t.ts - navStart) / 1000) : 0;
        return `${((t.tdur ?? 0) / 1000).toFixed(1)}/${((t.dur ?? 0) / 1000).toFixed(0)} ${src}@${at}`;
      })
      .join(", "),
  );
  const thread = [...mains][0] ?? "";
  const prof = process.env.PROFILE ? samples(events, thread) : [];
  // Parent links: ProfileChunk nodes carry `parent`.
  for (const task of tasks.slice(0, shown)) {
    const start = task.ts;
    const end = task.ts + (task.dur ?? 0);
    const at = navStart ? `${((start - navStart) / 1000).toFixed(0)} ms after navigation` : "";
    console.log(
      `\n  task ${((task.dur ?? 0) / 1000).toFixed(1)} ms wall / ${((task.tdur ?? 0) / 1000).toFixed(1)} ms CPU, ${at}`,
    );
    const inside = onMain
      .filter(
        (e) =>
          e !== task &&
          e.ts >= start &&
          e.ts + (e.dur ?? 0) <= end &&
          (e.dur ?? 0) >= Number(process.env.MIN_US ?? 1000),
      )
      .sort((a, b) => a.ts - b.ts || (b.dur ?? 0) - (a.dur ?? 0));
    // Depth by containment.
    const stack: TraceEvent[] = [];
    for (const e of inside) {
      while (stack.length && stack.at(-1)!.ts + (stack.at(-1)!.dur ?? 0) <= e.ts) stack.pop();
      const depth = stack.length;
      stack.push(e);
      if (depth > Number(process.env.DEPTH ?? 5)) continue;
      console.log(
        `    ${"  ".repeat(depth)}${((e.dur ?? 0) / 1000).toFixed(1)} ms${e.tdur !== undefined ? ` (cpu ${((e.tdur ?? 0) / 1000).toFixed(1)})` : ""} +${((e.ts - start) / 1000).toFixed(1)} ${label(e)}`,
      );
    }
    if (prof.length) profileOf(prof, start, end);
  }
}

const server = await servePage(dir);
const browser = await launchBrowser();
try {
  const { page, context } = browser;
  const cdp = await context.newCDPSession(page);
  const origin = new URL(server.url).origin;
  await cdp.send("Network.clearBrowserCache");
  await cdp.send("Storage.clearDataForOrigin", { origin, storageTypes: "all" });
  const first = await trace(cdp, async () => {
    await page.goto(server.url);
    await waitForPrompt(page);
    await page.waitForTimeout(1000);
  });
  analyse(first, origin, "first visit");
  await page.waitForTimeout(2000);
  for (let i = 0; i < cachedVisits; i++) {
    const events = await trace(cdp, async () => {
      await page.goto(server.url);
      await waitForPrompt(page);
      await page.waitForTimeout(1000);
    });
    analyse(events, origin, `cached visit ${i + 1}`);
  }
} finally {
  await browser.close();
  await server.close();
}
process.exit(0);
