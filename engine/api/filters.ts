// Docker's list filters (`docker ps --filter`, `docker images --filter`): which keys a list accepts, dockerd's words
// for a bad key or value, and the matchers its filters share (labels, glob references); the `filters` query itself and
// event times, read alike by the containers, images and system routes (here so that none of them imports another).
import { EngineError } from "../errors.ts";

export type Filters = Record<string, string[]>;

/**
 * Refuses a filter key the list does not know, in dockerd's words (a 400 the CLI prints as is).
 * @example
 * acceptFilters({ colour: ["red"] }, ["label"]); // throws "invalid filter 'colour'"
 */
export function acceptFilters(filters: Filters, accepted: readonly string[]): void {
  for (const key of Object.keys(filters)) {
    if (!accepted.includes(key)) throw new EngineError("invalidArgument", `invalid filter '${key}'`);
  }
}

/** dockerd's error for a value a filter cannot take: `invalid filter 'dangling=[maybe]'`. */
export function invalidFilterValue(key: string, values: string[]): EngineError {
  return new EngineError("invalidArgument", `invalid filter '${key}=[${values.join(" ")}]'`);
}

/**
 * Whether `labels` has every `key` or `key=value` the filter names (dockerd ANDs label filters).
 * @example
 * labelsMatch({ tier: "web", team: "a" }, ["tier=web", "team"]); // true
 */
export function labelsMatch(labels: Record<string, string>, wanted: string[] | undefined): boolean {
  if (!wanted) return true;
  return wanted.every((item) => {
    const at = item.indexOf("=");
    const key = at < 0 ? item : item.slice(0, at);
    if (!Object.hasOwn(labels, key)) return false;
    return at < 0 || labels[key] === item.slice(at + 1);
  });
}

/** Go's `path.Match` pattern (`*`, `?`, `[…]`, `\` escapes; `*` stops at `/`) as a whole-string regular expression. */
function globRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") source += "[^/]*";
    else if (ch === "?") source += "[^/]";
    else if (ch === "\\" && i + 1 < pattern.length) source += `\\${pattern[++i]}`;
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new EngineError("invalidArgument", `invalid reference filter "${pattern}": unclosed [`);
      const body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
      source += `[${body.startsWith("^") ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else source += ch.replace(/[.+^${}()|\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/**
 * dockerd's reference filter: the pattern matches a familiar reference (`busybox:latest`) or its name alone
 * (`busybox`), with Go's glob syntax.
 * @example
 * referenceMatches("busy*", "busybox:latest"); // true
 * referenceMatches("busybox:1", "busybox:latest"); // false
 */
export function referenceMatches(pattern: string, familiar: string): boolean {
  const regexp = globRegExp(pattern);
  const name = familiar.replace(/@.*$/, "").replace(/:[^:/]*$/, "");
  return regexp.test(familiar) || regexp.test(name);
}

/** A `true`/`false` filter value (`dangling`), or dockerd's error for anything else. */
export function booleanFilter(filters: Filters, key: string): boolean | undefined {
  const values = filters[key];
  if (!values) return undefined;
  if (values.length === 1 && ["true", "1"].includes(values[0]!.toLowerCase())) return true;
  if (values.length === 1 && ["false", "0"].includes(values[0]!.toLowerCase())) return false;
  throw invalidFilterValue(key, values);
}

/** Docker's `since`/`until`: unix seconds (fractions allowed) or an RFC 3339 time; in ms since the epoch. */
export function parseEventTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new EngineError("invalidArgument", `invalid ${name} value "${value}": use unix seconds`);
  return ms;
}

/**
 * Docker's `filters` query: JSON of `{"key": ["value", …]}`, or the old `{"key": {"value": true}}`.
 * @example
 * parseFilters('{"status":["exited"]}'); // { status: ["exited"] }
 */
export function parseFilters(text: string | undefined): Filters {
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new EngineError("invalidArgument", `invalid filters: ${text} is not JSON`);
  }
  const filters: Filters = {};
  for (const [key, values] of Object.entries((value ?? {}) as Record<string, unknown>)) {
    if (Array.isArray(values)) filters[key] = values.map(String);
    else if (values && typeof values === "object") filters[key] = Object.keys(values);
    else throw new EngineError("invalidArgument", `invalid filter ${key}: give a list of values`);
  }
  return filters;
}
