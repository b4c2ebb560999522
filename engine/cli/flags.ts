// Verb descriptors and the flag parser behind them, with pflag's rules (what docker uses): `--name value`,
// `--name=value`, `-abc` for several booleans, `-e VALUE` / `-eVALUE`, `--` ends the flags, and for `run` and `exec`
// the first argument that is not a flag ends them too. Help text is generated from the same descriptors.

export type FlagType = "bool" | "string" | "int" | "list";

/** One flag of a verb: its type, its names, its default and the line `--help` shows for it. */
export interface FlagSpec {
  name: string;
  /** The one-letter form (`-a`). */
  short?: string;
  type: FlagType;
  /** What `--help` says the flag does. */
  help: string;
  /** Default of an int flag (0 when absent); bool flags default to false, strings to "", lists to []. */
  default?: number | boolean | string;
  /** The word shown after the flag in `--help` (pflag's `string`, `int`, `list`; docker's `bytes`, `decimal`…). */
  valueName?: string;
  hidden?: boolean;
}

/** The typed values of a list of flags, keyed by flag name. */
export type FlagValues<F extends readonly FlagSpec[]> = {
  [S in F[number] as S["name"]]: S["type"] extends "bool"
    ? boolean
    : S["type"] extends "int"
      ? number
      : S["type"] extends "list"
        ? string[]
        : string;
};

/** Raised for a flag the verb does not have or one without its value; docker answers these with exit code 125. */
export class FlagError extends Error {
  override readonly name = "FlagError";
}

/** The flags given explicitly, and the arguments left once flags are taken out. */
export interface ParsedFlags {
  values: Record<string, boolean | number | string | string[]>;
  /** Names of the flags that appeared on the command line. */
  changed: Set<string>;
  args: string[];
}

function defaultValue(spec: FlagSpec): boolean | number | string | string[] {
  switch (spec.type) {
    case "bool":
      return spec.default === true;
    case "int":
      return typeof spec.default === "number" ? spec.default : 0;
    case "list":
      return [];
    default:
      return typeof spec.default === "string" ? spec.default : "";
  }
}

function flagLabel(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
}

/**
 * Parses `argv` against `specs`. With `interspersed: false` the first non-flag argument ends the flags (docker run).
 * @example
 * parseFlags([{ name: "all", short: "a", type: "bool", help: "" }], ["-a", "x"]);
 * // { values: { all: true }, changed: Set { "all" }, args: ["x"] }
 */
export function parseFlags(specs: readonly FlagSpec[], argv: string[], interspersed = true): ParsedFlags {
  const values: ParsedFlags["values"] = {};
  for (const spec of specs) values[spec.name] = defaultValue(spec);
  const changed = new Set<string>();
  const args: string[] = [];
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const byShort = new Map(specs.filter((spec) => spec.short).map((spec) => [spec.short!, spec]));

  const set = (spec: FlagSpec, raw: string) => {
    changed.add(spec.name);
    if (spec.type === "bool") {
      const value = {
        true: true,
        false: false,
        1: true,
        0: false,
        t: true,
        f: false,
        TRUE: true,
        FALSE: false,
        True: true,
        False: false,
      }[raw];
      if (value === undefined)
        throw new FlagError(
          `invalid argument "${raw}" for "${flagLabel(spec)}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`,
        );
      values[spec.name] = value;
    } else if (spec.type === "int") {
      if (!/^[+-]?\d+$/.test(raw))
        throw new FlagError(
          `invalid argument "${raw}" for "${flagLabel(spec)}" flag: strconv.ParseInt: parsing "${raw}": invalid syntax`,
        );
      values[spec.name] = Number.parseInt(raw, 10);
    } else if (spec.type === "list") {
      (values[spec.name] as string[]).push(raw);
    } else {
      values[spec.name] = raw;
    }
  };

  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === "--") {
      args.push(...argv.slice(index + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      const name = arg.slice(2, equals === -1 ? undefined : equals);
      const spec = byName.get(name);
      if (!spec) throw new FlagError(`unknown flag: --${name}`);
      if (equals !== -1) set(spec, arg.slice(equals + 1));
      else if (spec.type === "bool") set(spec, "true");
      else if (index + 1 < argv.length) set(spec, argv[++index]!);
      else throw new FlagError(`flag needs an argument: --${name}`);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      let shorts = arg.slice(1);
      while (shorts.length > 0) {
        const letter = shorts[0]!;
        const spec = byShort.get(letter);
        if (!spec) throw new FlagError(`unknown shorthand flag: '${letter}' in ${arg}`);
        if (spec.type === "bool") {
          if (shorts[1] === "=") {
            set(spec, shorts.slice(2));
            shorts = "";
          } else {
            set(spec, "true");
            shorts = shorts.slice(1);
          }
        } else if (shorts.length > 1) {
          set(spec, shorts[1] === "=" ? shorts.slice(2) : shorts.slice(1));
          shorts = "";
        } else if (index + 1 < argv.length) {
          set(spec, argv[++index]!);
          shorts = "";
        } else {
          throw new FlagError(`flag needs an argument: '${letter}' in ${arg}`);
        }
      }
      continue;
    }
    if (!interspersed) {
      args.push(...argv.slice(index));
      break;
    }
    args.push(arg);
  }
  return { values, changed, args };
}

/** pflag's wrapN: cut at the last space before `width` unless the rest fits in `width + slop`. */
function wrapN(width: number, slop: number, text: string): [string, string] {
  if (width + slop > text.length) return [text, ""];
  const head = text.slice(0, width);
  const space = Math.max(head.lastIndexOf(" "), head.lastIndexOf("\t"), head.lastIndexOf("\n"));
  if (space <= 0) return [text, ""];
  const newline = head.lastIndexOf("\n");
  if (newline > 0 && newline < space) return [text.slice(0, newline), text.slice(newline + 1)];
  return [text.slice(0, space), text.slice(space + 1)];
}

/** pflag's wrap: `text` starting at column `indent`, wrapped to `width` columns. */
function wrap(indent: number, width: number, text: string): string {
  let room = width - indent;
  let out = "";
  if (room < 24) {
    indent = 16;
    room = width - indent;
    out += `\n${" ".repeat(indent)}`;
  }
  if (room < 24) return text.replaceAll("\n", out);
  const slop = 5;
  room -= slop;
  let [line, rest] = wrapN(room, slop, text);
  out += line.replaceAll("\n", `\n${" ".repeat(indent)}`);
  while (rest !== "") {
    [line, rest] = wrapN(room, slop, rest);
    out += `\n${" ".repeat(indent)}${line.replaceAll("\n", `\n${" ".repeat(indent)}`)}`;
  }
  return out;
}

/**
 * The `Options:` block of `--help`, as pflag's FlagUsagesWrapped lays it out (sorted by name, wrapped to `columns`).
 * @example
 * flagUsages([{ name: "all", short: "a", type: "bool", help: "Show all containers" }], 80);
 * // "  -a, --all   Show all containers\n"
 */
export function flagUsages(specs: readonly FlagSpec[], columns: number): string {
  const lines: { head: string; usage: string }[] = [];
  let widest = 0;
  for (const spec of [...specs].filter((s) => !s.hidden).sort((a, b) => a.name.localeCompare(b.name))) {
    let head = spec.short ? `  -${spec.short}, --${spec.name}` : `      --${spec.name}`;
    const valueName = spec.valueName ?? (spec.type === "bool" ? "" : spec.type);
    if (valueName) head += ` ${valueName}`;
    widest = Math.max(widest, head.length);
    let usage = spec.help;
    if (spec.type === "string" && typeof spec.default === "string" && spec.default !== "")
      usage += ` (default "${spec.default}")`;
    else if (spec.type === "int" && typeof spec.default === "number" && spec.default !== 0)
      usage += ` (default ${spec.default})`;
    else if (spec.type === "bool" && spec.default === true) usage += " (default true)";
    lines.push({ head, usage });
  }
  return lines
    .map(({ head, usage }) => `${head}${" ".repeat(widest - head.length)}   ${wrap(widest + 3, columns - 1, usage)}\n`)
    .join("");
}

/**
 * The `--filter`, `--format` and `--quiet` flags every `ls` verb has, with that verb's own help texts (docker words
 * them per object). Spread into a verb's `flags`.
 * @example
 * flags: [...listFlags({ filter: 'Provide filter values (e.g. "driver=bridge")', quiet: "Only display network IDs" })] as const
 */
export function listFlags(help: { filter: string; quiet: string; format?: string }) {
  return [
    { name: "filter", short: "f", type: "list", valueName: "filter", help: help.filter },
    { name: "format", type: "string", help: help.format ?? "Format output using a custom template" },
    { name: "quiet", short: "q", type: "bool", help: help.quiet },
  ] as const;
}
