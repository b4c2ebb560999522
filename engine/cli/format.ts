// `--format` as docker's formatter applies it: `table` (the verb's default columns), `table TEMPLATE` (a header row
// then aligned rows), `json` (`{{json .}}`) or a bare TEMPLATE printed once per item.
import { CliError } from "./errors.ts";
import type { Output } from "./output.ts";
import { DOCKER_TABLE, type TabwriterOptions, tabwrite } from "./table.ts";
import { parseTemplate, TemplateError } from "./template.ts";

/**
 * Parses a template, turning a syntax error into docker's `template parsing error: …`.
 * @example
 * const template = compileTemplate("{{.ID}}");
 */
export function compileTemplate(source: string) {
  try {
    return parseTemplate(source);
  } catch (error) {
    if (error instanceof TemplateError) throw new CliError(`template parsing error: ${error.message}`);
    throw error;
  }
}

/**
 * Runs a template over one item, turning an execution error into docker's message.
 * @example
 * renderTemplate(compileTemplate("{{.ID}}"), { ID: "x" }); // "x"
 */
export function renderTemplate(template: ReturnType<typeof parseTemplate>, data: unknown): string {
  try {
    return template.execute(data);
  } catch (error) {
    if (error instanceof TemplateError) throw new CliError(`template parsing error: ${error.message}`);
    throw error;
  }
}

/** docker's Format.templateString: `table ` dropped, outer spaces trimmed, `\t` and `\n` escapes made real. */
function templateSource(format: string): string {
  let source = format;
  if (source === "json") return "{{json .}}";
  if (source.startsWith("table")) source = source.slice("table".length);
  return source
    .replace(/^ +| +$/g, "")
    .replaceAll("\\t", "\t")
    .replaceAll("\\n", "\n");
}

export interface FormatOptions {
  /** The user's `--format`, or "" for the verb's default. */
  format: string;
  /** The verb's default, e.g. `table {{.ID}}\t{{.Image}}…`. */
  defaultFormat: string;
  /** Column titles by field name, for a table's header row. */
  header: Record<string, string>;
  table?: TabwriterOptions;
}

/**
 * Writes `items` in the chosen format; a table gets its header row and docker's column alignment.
 * @example
 * await writeFormatted(out, { format: "", defaultFormat: "table {{.ID}}\t{{.Names}}", header: { ID: "CONTAINER ID", Names: "NAMES" } }, rows);
 */
export async function writeFormatted(
  out: Pick<Output, "write">,
  options: FormatOptions,
  items: unknown[],
): Promise<void> {
  const format = options.format === "" || options.format === "table" ? options.defaultFormat : options.format;
  const template = compileTemplate(templateSource(format));
  let text = "";
  for (const item of items) text += `${renderTemplate(template, item)}\n`;
  if (format.startsWith("table")) {
    let header: string;
    try {
      header = template.executeHeader(options.header);
    } catch {
      header = "";
    }
    text = tabwrite(`${header}\n${text}`, options.table ?? DOCKER_TABLE);
  }
  await out.write(text);
}

/**
 * Go's time.Time.String() for a moment, in the local zone as this runtime sees it: `2024-05-01 10:20:30 +0000 UTC`.
 * @example
 * goTimeString(new Date(0)); // "1970-01-01 00:00:00 +0000 UTC" (in UTC)
 */
export function goTimeString(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const zone = `${offset >= 0 ? "+" : "-"}${pad(Math.trunc(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone} ${offset === 0 ? "UTC" : zone}`
  );
}

/**
 * RFC 3339 with nanoseconds as docker's events and logs print them: `2024-05-01T10:20:30.123456789Z`.
 * @example
 * rfc3339Nano(0n); // "1970-01-01T00:00:00.000000000Z"
 */
export function rfc3339Nano(nanoseconds: bigint): string {
  const seconds = nanoseconds / 1_000_000_000n;
  const fraction = (nanoseconds % 1_000_000_000n).toString().padStart(9, "0");
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}
