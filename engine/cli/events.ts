// `docker events`: the daemon's events as they happen (or between --since and --until), one line each as docker
// prints them: time, type, action, actor and its attributes. It streams until --until or Ctrl-C (exit 130).
import { defineVerb } from "./command.ts";
import { compileTemplate, renderTemplate, rfc3339Nano } from "./format.ts";
import { jsonLines } from "./jsonmessage.ts";
import { filtersJson } from "./ps.ts";
import { interruptible } from "./signals.ts";

/** One event of `GET /events`. */
export interface EventMessage {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  id?: string;
  status?: string;
  from?: string;
  time?: number;
  timeNano?: number;
}

/**
 * An event as docker prints it: `2024-05-01T10:20:30.000000000Z container start 4f2a… (image=busybox, name=web)`.
 * @example
 * eventLine({ Type: "container", Action: "start", Actor: { ID: "4f2a", Attributes: { name: "web" } }, timeNano: 0 });
 */
export function eventLine(event: EventMessage): string {
  const nanoseconds = event.timeNano !== undefined ? BigInt(event.timeNano) : BigInt(event.time ?? 0) * 1_000_000_000n;
  let line = `${rfc3339Nano(nanoseconds)} `;
  line += `${event.Type ?? ""} ${event.Action ?? event.status ?? ""} ${event.Actor?.ID ?? event.id ?? ""}`;
  const attributes = Object.entries(event.Actor?.Attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (attributes.length > 0) line += ` (${attributes.map(([key, value]) => `${key}=${value}`).join(", ")})`;
  return line;
}

/** docker's --since/--until: a Unix time, an RFC 3339 date or a duration before now (`10m`). */
function timestamp(value: string, now: number): string | undefined {
  if (value === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const duration = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (duration) {
    const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[duration[2] as "ms" | "s" | "m" | "h"];
    return String(Math.trunc(now / 1000 - Number(duration[1]) * unit));
  }
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new Error(`failed to parse value as time or duration: "${value}"`);
  return String(Math.trunc(parsed / 1000));
}

export const events = defineVerb(
  {
    name: "events",
    usage: "[OPTIONS]",
    summary: "Get real time events from the server",
    args: { max: 0 },
    flags: [
      {
        name: "filter",
        short: "f",
        type: "list",
        valueName: "filter",
        help: "Filter output based on conditions provided",
      },
      { name: "format", type: "string", help: "Format the output using the given Go template" },
      { name: "since", type: "string", help: "Show all events created since timestamp" },
      { name: "until", type: "string", help: "Stream events until this timestamp" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const now = Date.now();
    const client = await context.client();
    const response = await client.request("GET", "/events", {
      query: {
        since: timestamp(flags.since, now),
        until: timestamp(flags.until, now),
        filters: filtersJson(flags.filter),
      },
    });
    const template = flags.format ? compileTemplate(flags.format) : undefined;
    if (!response.body) return 0;
    for await (const event of jsonLines(interruptible(context.io, response.body))) {
      await context.out.line(template ? renderTemplate(template, event) : eventLine(event as EventMessage));
    }
    return 0;
  },
);
