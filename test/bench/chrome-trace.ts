// Chrome traces for the page benches: record one around some work (CDP Tracing), and find the main threads of the
// renderers that showed the page's origin (not Chromium's own pages, not an earlier page's renderer).
import type { CDPSession } from "playwright-core";

export interface TraceFrame {
  url?: string;
  processId?: number;
}

export interface TraceEvent {
  name: string;
  cat?: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  /** The thread's CPU time in the event, in µs. */
  tdur?: number;
  args?: Record<string, unknown> & {
    name?: string;
    data?: TraceFrame & { frames?: TraceFrame[] } & Record<string, unknown>;
  };
}

/** Records a trace of `categories` while `fn` runs; returns its events. */
export async function recordTrace(
  cdp: CDPSession,
  categories: string[],
  fn: () => Promise<void>,
): Promise<TraceEvent[]> {
  const events: TraceEvent[] = [];
  const collect = ({ value }: { value: unknown }) => events.push(...(value as TraceEvent[]));
  cdp.on("Tracing.dataCollected", collect);
  const complete = new Promise<void>((resolve) => cdp.once("Tracing.tracingComplete", () => resolve()));
  await cdp.send("Tracing.start", { transferMode: "ReportEvents", traceConfig: { includedCategories: categories } });
  try {
    await fn();
  } finally {
    await cdp.send("Tracing.end");
    await complete;
    cdp.off("Tracing.dataCollected", collect);
  }
  return events;
}

/** The `pid:tid` of each main thread of a renderer that committed a frame of `origin` (every renderer's if none did). */
export function pageMainThreads(events: TraceEvent[], origin: string): Set<string> {
  const pagePids = new Set<number>();
  for (const e of events) {
    const data = e.args?.data;
    for (const frame of [...(data?.frames ?? []), ...(data ? [data] : [])]) {
      if (frame.url?.startsWith(origin) && frame.processId !== undefined) pagePids.add(frame.processId);
    }
  }
  return new Set(
    events
      .filter(
        (e) =>
          e.ph === "M" &&
          e.name === "thread_name" &&
          e.args?.name === "CrRendererMain" &&
          (pagePids.size === 0 || pagePids.has(e.pid)),
      )
      .map((e) => `${e.pid}:${e.tid}`),
  );
}
