// The part of Go's text/template that `--format` needs (fields, pipelines, if/range/with, variables in range) and
// the functions docker adds (json, join, split, lower, upper, title, pad, truncate). Not a full engine: an unknown
// function or construct is a clear error, never a silent guess.

/** Marks an object as a Go struct: asking for a field it does not have is an error, as in Go (maps say <no value>). */
const STRUCT_TYPE = Symbol("goStructType");

/** An object tagged with the Go type name that errors will show. */
export type GoStruct = Record<string, unknown> & { [STRUCT_TYPE]?: string };

/**
 * Tags `fields` as a Go struct named `typeName`, so `{{.Nope}}` fails like docker's does instead of printing nothing.
 * @example
 * goStruct("*formatter.ContainerContext", { ID: "4f2a…" });
 */
export function goStruct<T extends Record<string, unknown>>(typeName: string, fields: T): T {
  Object.defineProperty(fields, STRUCT_TYPE, { value: typeName, enumerable: false });
  return fields;
}

/** A template that cannot be parsed or executed; its message reads like Go's ("template: :1: …"). */
export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

type Operand =
  | { kind: "field"; base: "dot" | { variable: string }; path: string[] }
  | { kind: "literal"; value: unknown }
  | { kind: "function"; name: string }
  | { kind: "pipeline"; pipeline: Pipeline };

interface Pipeline {
  declarations: string[];
  commands: Operand[][];
  text: string;
}

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipeline: Pipeline }
  | { kind: "if" | "with" | "range"; pipeline: Pipeline; body: Node[]; otherwise: Node[] };

type Func = (...args: unknown[]) => unknown;

const MISSING = Symbol("noValue");

function isTruthy(value: unknown): boolean {
  if (value === undefined || value === null || value === MISSING) return false;
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return value !== 0;
  if (typeof value === "string") return value.length > 0;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "object") return Object.keys(value).length > 0;
  return true;
}

/**
 * How Go's `%v` prints a value decoded from JSON: `[a b]`, `map[k:v]`, `<nil>`, `<no value>`.
 * @example
 * goPrint(["PATH=/bin", "A=1"]); // "[PATH=/bin A=1]"
 */
export function goPrint(value: unknown): string {
  if (value === MISSING || value === undefined) return "<no value>";
  if (value === null) return "<nil>";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "<nil>" : goPrint(item))).join(" ")}]`;
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (STRUCT_TYPE in record) return `{${Object.values(record).map(goPrint).join(" ")}}`;
    const entries = Object.keys(record)
      .sort()
      .map((key) => `${key}:${goPrint(record[key])}`);
    return `map[${entries.join(" ")}]`;
  }
  return String(value);
}

function goJson(value: unknown): string {
  return JSON.stringify(value === MISSING || value === undefined ? null : value) ?? "null";
}

function text(value: unknown): string {
  return typeof value === "string" ? value : goPrint(value);
}

function toInt(value: unknown, name: string): number {
  const number = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(number)) throw new TemplateError(`template: :1: wrong type for value; expected int in ${name}`);
  return number;
}

function sprintf(format: string, args: unknown[]): string {
  let index = 0;
  return format.replace(/%([-+ #0]*\d*(?:\.\d+)?)([svdqtf%])/g, (whole, _flags: string, verb: string) => {
    if (verb === "%") return "%";
    if (index >= args.length) return `%!${verb}(MISSING)`;
    const arg = args[index++];
    switch (verb) {
      case "q":
        return JSON.stringify(text(arg));
      case "d":
        return String(Math.trunc(Number(arg)));
      case "f":
        return Number(arg).toFixed(6);
      default:
        return whole.length > 2 ? text(arg) : goPrint(arg);
    }
  });
}

const FUNCTIONS: Record<string, Func> = {
  json: (value) => goJson(value),
  join: (list, separator) => (Array.isArray(list) ? list.map(text).join(text(separator)) : text(list)),
  split: (value, separator) => text(value).split(text(separator)),
  lower: (value) => text(value).toLowerCase(),
  upper: (value) => text(value).toUpperCase(),
  title: (value) =>
    text(value).replace(
      /(^|[^\p{L}\p{N}'])(\p{L})/gu,
      (_, before: string, letter: string) => before + letter.toUpperCase(),
    ),
  pad: (value, prefix, suffix) => {
    const source = text(value);
    return source === "" ? "" : " ".repeat(toInt(prefix, "pad")) + source + " ".repeat(toInt(suffix, "pad"));
  },
  truncate: (value, length) => {
    const source = text(value);
    const limit = toInt(length, "truncate");
    return source.length < limit ? source : source.slice(0, limit);
  },
  index: (collection, ...keys) => {
    let current = collection;
    for (const key of keys) {
      if (current === null || current === undefined || current === MISSING) {
        throw new TemplateError("template: :1: error calling index: index of untyped nil");
      }
      if (Array.isArray(current)) {
        const at = toInt(key, "index");
        if (at < 0 || at >= current.length)
          throw new TemplateError(`template: :1: error calling index: index out of range: ${at}`);
        current = current[at];
      } else if (typeof current === "object") {
        const record = current as Record<string, unknown>;
        current = Object.hasOwn(record, text(key)) ? record[text(key)] : MISSING;
      } else {
        throw new TemplateError(`template: :1: error calling index: can't index item of type ${typeof current}`);
      }
    }
    return current;
  },
  len: (value) => {
    if (typeof value === "string" || Array.isArray(value)) return value.length;
    if (value && typeof value === "object") return Object.keys(value).length;
    throw new TemplateError("template: :1: error calling len: len of nil pointer");
  },
  print: (...args) => args.map(text).join(""),
  println: (...args) => `${args.map(text).join(" ")}\n`,
  printf: (format, ...args) => sprintf(text(format), args),
  not: (value) => !isTruthy(value),
  and: (...args) => args.find((arg) => !isTruthy(arg)) ?? args.at(-1),
  or: (...args) => args.find((arg) => isTruthy(arg)) ?? args.at(-1),
  eq: (first, ...others) => others.some((other) => other === first),
  ne: (first, second) => first !== second,
  lt: (first, second) => Number(first) < Number(second),
  le: (first, second) => Number(first) <= Number(second),
  gt: (first, second) => Number(first) > Number(second),
  ge: (first, second) => Number(first) >= Number(second),
};

/** docker's header functions: in a table's header row each of these gives back the header text it is handed. */
const HEADER_FUNCTIONS: Record<string, Func> = {
  json: (value) => text(value),
  split: (value) => text(value),
  join: (value) => text(value),
  title: (value) => text(value),
  lower: (value) => text(value),
  upper: (value) => text(value),
  truncate: (value) => text(value),
};

// ---------------------------------------------------------------- lexing and parsing

type Token =
  | { kind: "field"; text: string }
  | { kind: "variable"; text: string }
  | { kind: "identifier"; text: string }
  | { kind: "string"; value: string }
  | { kind: "number"; value: number }
  | { kind: "punct"; text: "|" | "(" | ")" | ":=" | "," | "=" };

const TOKEN_RULES: [RegExp, (text: string) => Token][] = [
  [/^(\.[A-Za-z_][\w]*)+|^\./, (text) => ({ kind: "field", text })],
  [/^\$[\w]*(\.[A-Za-z_][\w]*)*/, (text) => ({ kind: "variable", text })],
  [/^"(?:[^"\\]|\\.)*"/, (text) => ({ kind: "string", value: JSON.parse(text) as string })],
  [/^`[^`]*`/, (text) => ({ kind: "string", value: text.slice(1, -1) })],
  [/^-?\d+(\.\d+)?/, (text) => ({ kind: "number", value: Number(text) })],
  [/^[A-Za-z_][\w]*/, (text) => ({ kind: "identifier", text })],
  [/^(:=|[|(),=])/, (text) => ({ kind: "punct", text: text as ":=" })],
];

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < source.length) {
    const rest = source.slice(at);
    const space = /^\s+/.exec(rest);
    if (space) {
      at += space[0].length;
      continue;
    }
    const rule = TOKEN_RULES.map(([pattern, make]) => [pattern.exec(rest), make] as const).find(([match]) => match);
    if (!rule) throw new TemplateError(`template: :1: unexpected ${JSON.stringify(rest[0])} in command`);
    const text = rule[0]![0];
    tokens.push(rule[1](text));
    at += text.length;
  }
  return tokens;
}

function fieldOperand(token: Token & { kind: "field" | "variable" }): Operand {
  const parts = token.text.split(".");
  if (token.kind === "field") return { kind: "field", base: "dot", path: parts.slice(1).filter(Boolean) };
  return { kind: "field", base: { variable: parts[0]! }, path: parts.slice(1) };
}

function parsePipeline(tokens: Token[], source: string): Pipeline {
  let position = 0;
  const declarations: string[] = [];
  // `$k, $v :=` or `$x :=` at the front declares variables.
  const assign = tokens.findIndex((token) => token.kind === "punct" && (token.text === ":=" || token.text === "="));
  if (
    assign > 0 &&
    tokens.slice(0, assign).every((t) => t.kind === "variable" || (t.kind === "punct" && t.text === ","))
  ) {
    for (const token of tokens.slice(0, assign)) if (token.kind === "variable") declarations.push(token.text);
    position = assign + 1;
  }
  const parseCommands = (): Operand[][] => {
    const commands: Operand[][] = [[]];
    while (position < tokens.length) {
      const token = tokens[position++]!;
      if (token.kind === "punct" && token.text === ")") {
        position--;
        break;
      }
      if (token.kind === "punct" && token.text === "|") {
        if (commands.at(-1)!.length === 0) throw new TemplateError("template: :1: missing command before |");
        commands.push([]);
        continue;
      }
      const command = commands.at(-1)!;
      if (token.kind === "punct" && token.text === "(") {
        const inner = parseCommands();
        const closing = tokens[position++];
        if (closing?.kind !== "punct" || closing.text !== ")")
          throw new TemplateError("template: :1: unclosed left paren");
        command.push({ kind: "pipeline", pipeline: { declarations: [], commands: inner, text: source } });
      } else if (token.kind === "field" || token.kind === "variable") {
        command.push(fieldOperand(token));
      } else if (token.kind === "string" || token.kind === "number") {
        command.push({ kind: "literal", value: token.value });
      } else if (token.kind === "identifier") {
        if (token.text === "true" || token.text === "false")
          command.push({ kind: "literal", value: token.text === "true" });
        else if (token.text === "nil") command.push({ kind: "literal", value: null });
        else if (token.text in FUNCTIONS) command.push({ kind: "function", name: token.text });
        else throw new TemplateError(`template: :1: function "${token.text}" not defined`);
      } else {
        throw new TemplateError(`template: :1: unexpected "${token.text}" in command`);
      }
    }
    if (commands.at(-1)!.length === 0) throw new TemplateError(`template: :1: missing value for command`);
    return commands;
  };
  return { declarations, commands: parseCommands(), text: source };
}

interface Block {
  kind: "if" | "with" | "range";
  pipeline: Pipeline;
  body: Node[];
  otherwise: Node[];
  inElse: boolean;
  /** An `else if` opens a nested if that the same `end` closes. */
  chained: boolean;
}

function parse(source: string): Node[] {
  const root: Node[] = [];
  const stack: Block[] = [];
  const target = () => {
    const block = stack.at(-1);
    return block ? (block.inElse ? block.otherwise : block.body) : root;
  };
  let at = 0;
  let trimNext = false;
  while (at < source.length) {
    const open = source.indexOf("{{", at);
    let literal = source.slice(at, open === -1 ? undefined : open);
    if (trimNext) literal = literal.replace(/^\s+/, "");
    trimNext = false;
    if (open === -1) {
      if (literal) target().push({ kind: "text", text: literal });
      break;
    }
    const close = source.indexOf("}}", open + 2);
    if (close === -1) throw new TemplateError("template: :1: unclosed action");
    let inner = source.slice(open + 2, close);
    if (/^-\s/.test(inner)) {
      literal = literal.replace(/\s+$/, "");
      inner = inner.slice(1);
    }
    if (/\s-$/.test(inner)) {
      trimNext = true;
      inner = inner.slice(0, -1);
    }
    if (literal) target().push({ kind: "text", text: literal });
    at = close + 2;
    inner = inner.trim();
    if (inner.startsWith("/*")) continue;
    const tokens = tokenize(inner);
    const first = tokens[0];
    const keyword = first?.kind === "identifier" ? first.text : undefined;
    if (keyword === "if" || keyword === "with" || keyword === "range") {
      stack.push({
        kind: keyword,
        pipeline: parsePipeline(tokens.slice(1), inner),
        body: [],
        otherwise: [],
        inElse: false,
        chained: false,
      });
    } else if (keyword === "else") {
      const block = stack.at(-1);
      if (!block || block.inElse) throw new TemplateError("template: :1: unexpected {{else}}");
      block.inElse = true;
      const next = tokens[1];
      if (next?.kind === "identifier" && (next.text === "if" || next.text === "with")) {
        stack.push({
          kind: next.text,
          pipeline: parsePipeline(tokens.slice(2), inner),
          body: [],
          otherwise: [],
          inElse: false,
          chained: true,
        });
      }
    } else if (keyword === "end") {
      for (;;) {
        const block = stack.pop();
        if (!block) throw new TemplateError("template: :1: unexpected {{end}}");
        const { kind, pipeline, body, otherwise } = block;
        target().push({ kind, pipeline, body, otherwise });
        if (!block.chained) break;
      }
    } else if (
      keyword === "define" ||
      keyword === "template" ||
      keyword === "block" ||
      keyword === "break" ||
      keyword === "continue"
    ) {
      throw new TemplateError(`template: :1: {{${keyword}}} is not supported here`);
    } else if (tokens.length === 0) {
      throw new TemplateError("template: :1: missing value for command");
    } else {
      target().push({ kind: "action", pipeline: parsePipeline(tokens, inner) });
    }
  }
  if (stack.length) throw new TemplateError(`template: :1: unexpected EOF`);
  return root;
}

// ---------------------------------------------------------------- execution

interface Scope {
  dot: unknown;
  variables: Map<string, unknown>;
  functions: Record<string, Func>;
}

function field(value: unknown, path: string[], text: string): unknown {
  let current = value;
  for (const name of path) {
    if (current === MISSING || current === undefined || current === null) {
      throw new TemplateError(`template: :1: executing "" at <${text}>: nil pointer evaluating interface {}.${name}`);
    }
    if (typeof current !== "object" || Array.isArray(current)) {
      throw new TemplateError(
        `template: :1: executing "" at <${text}>: can't evaluate field ${name} in type ${Array.isArray(current) ? "[]interface {}" : typeof current}`,
      );
    }
    const record = current as GoStruct;
    const typeName = record[STRUCT_TYPE];
    if (Object.hasOwn(record, name)) current = record[name];
    else if (typeName)
      throw new TemplateError(
        `template: :1: executing "" at <${text}>: can't evaluate field ${name} in type ${typeName}`,
      );
    else current = MISSING;
  }
  return current;
}

function evaluateOperand(operand: Operand, scope: Scope, text: string): unknown {
  switch (operand.kind) {
    case "literal":
      return operand.value;
    case "pipeline":
      return evaluatePipeline(operand.pipeline, scope);
    case "function":
      return scope.functions[operand.name]!();
    case "field": {
      let base = scope.dot;
      if (operand.base !== "dot") {
        if (!scope.variables.has(operand.base.variable))
          throw new TemplateError(`template: :1: undefined variable "${operand.base.variable}"`);
        base = scope.variables.get(operand.base.variable);
      }
      return field(base, operand.path, text);
    }
  }
}

function evaluatePipeline(pipeline: Pipeline, scope: Scope): unknown {
  let result: unknown = MISSING;
  pipeline.commands.forEach((command, index) => {
    const [head, ...rest] = command;
    const piped = index > 0 ? [result] : [];
    if (head!.kind === "function") {
      const args = rest.map((operand) => evaluateOperand(operand, scope, pipeline.text));
      const fn = scope.functions[head!.name] ?? FUNCTIONS[head!.name]!;
      result = fn(...args, ...piped);
    } else {
      if (rest.length > 0 || piped.length > 0) {
        throw new TemplateError(
          `template: :1: executing "" at <${pipeline.text}>: can't give argument to non-function`,
        );
      }
      result = evaluateOperand(head!, scope, pipeline.text);
    }
  });
  return result;
}

function execute(nodes: Node[], scope: Scope): string {
  let out = "";
  for (const node of nodes) {
    if (node.kind === "text") {
      out += node.text;
      continue;
    }
    const value = evaluatePipeline(node.pipeline, scope);
    if (node.kind === "action") {
      const [name] = node.pipeline.declarations;
      if (name) scope.variables.set(name, value);
      else out += goPrint(value);
    } else if (node.kind === "if") {
      out += execute(isTruthy(value) ? node.body : node.otherwise, scope);
    } else if (node.kind === "with") {
      out += isTruthy(value) ? execute(node.body, { ...scope, dot: value }) : execute(node.otherwise, scope);
    } else {
      const entries: [unknown, unknown][] = Array.isArray(value)
        ? value.map((item, index) => [index, item])
        : value && typeof value === "object"
          ? Object.keys(value)
              .sort()
              .map((key) => [key, (value as Record<string, unknown>)[key]])
          : [];
      if (value !== MISSING && value !== null && value !== undefined && typeof value !== "object") {
        throw new TemplateError(`template: :1: range can't iterate over ${goPrint(value)}`);
      }
      if (entries.length === 0) {
        out += execute(node.otherwise, scope);
        continue;
      }
      const [keyName, valueName] = node.pipeline.declarations;
      for (const [key, item] of entries) {
        const variables = new Map(scope.variables);
        if (valueName !== undefined) {
          variables.set(keyName!, key);
          variables.set(valueName, item);
        } else if (keyName !== undefined) variables.set(keyName, item);
        out += execute(node.body, { ...scope, dot: item, variables });
      }
    }
  }
  return out;
}

/** A parsed `--format` template. */
export interface Template {
  /** Renders the template with `data` as dot; throws {@link TemplateError} when execution fails. */
  execute(data: unknown): string;
  /** Renders a table's header row: `header` maps field names to column titles, json/lower/… pass them through. */
  executeHeader(header: Record<string, string>): string;
}

/**
 * Parses a Go template of the forms `--format` takes; unknown functions fail here, as in Go.
 * @example
 * parseTemplate("{{.Name}} {{join .Args \",\"}}").execute({ Name: "web", Args: ["a", "b"] }); // "web a,b"
 */
export function parseTemplate(source: string): Template {
  const nodes = parse(source);
  return {
    execute: (data) => execute(nodes, { dot: data, variables: new Map([["$", data]]), functions: FUNCTIONS }),
    executeHeader: (header) =>
      execute(nodes, {
        dot: header,
        variables: new Map([["$", header]]),
        functions: { ...FUNCTIONS, ...HEADER_FUNCTIONS },
      }),
  };
}
