// A Dockerfile, read with dockerfile-ast (line continuations, escapes, quoting, heredocs, parser directives) into
// stages of instructions the builder runs. Variables are left as written: the builder expands them step by step,
// since ENV and ARG change what they mean as the build goes on.
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { EngineError } from "../errors.ts";

/** One instruction, as the builder needs it. */
export interface Step {
  /** Upper case: RUN, COPY, … */
  keyword: string;
  /** The instruction as written, continuations joined (what `Step N/M :` prints). */
  text: string;
  /** The arguments after the flags, continuations joined. */
  content: string;
  /** The same with its newlines, for heredocs. */
  raw: string;
  /** Split words (quotes kept, as in the Dockerfile). */
  words: string[];
  /** `--name=value` flags. */
  flags: Map<string, string>;
  /** ENV, LABEL, ARG: name and value pairs (quotes removed, variables not yet expanded). */
  properties: [string, string | undefined][];
  /** The exec (JSON) form's argv, when the instruction used it. */
  json?: string[];
  /** 1-based line in the Dockerfile, for error messages. */
  line: number;
}

export interface Stage {
  /** The image or stage it starts FROM (variables not yet expanded). */
  base: string;
  /** `AS name`, lower-cased as Docker compares them. */
  name?: string;
  platform?: string;
  from: Step;
  steps: Step[];
}

export interface ParsedDockerfile {
  /** ARGs before the first FROM: they may be used in FROM lines. */
  metaArgs: Step[];
  stages: Stage[];
  escape: string;
}

const KNOWN = new Set([
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);

const invalid = (line: number, message: string) =>
  new EngineError("invalidArgument", `Dockerfile parse error line ${line}: ${message}`);

/** The exec form's argv, when `content` is a JSON array of strings (as Docker tries first). */
export function jsonForm(content: string): string[] | undefined {
  const trimmed = content.trim();
  if (!trimmed.startsWith("[")) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value as string[];
  } catch {
    // Not JSON: Docker runs it as a shell command then.
  }
  return undefined;
}

function stepOf(instruction: Instruction): Step {
  const keyword = instruction.getKeyword().toUpperCase();
  const line = instruction.getRange().start.line + 1;
  const withFlags = instruction as Instruction & {
    getFlags?: () => { getName(): string; getValue(): string | null }[];
    getProperties?: () => { getName(): string; getValue(): string | null }[];
  };
  const flags = new Map<string, string>();
  for (const flag of withFlags.getFlags?.() ?? []) flags.set(flag.getName().toLowerCase(), flag.getValue() ?? "");
  const words = instruction.getArguments().map((argument) => argument.getValue());
  // dockerfile-ast leaves the flags out of the arguments and their text.
  const content = instruction.getArgumentsContent() ?? "";
  const raw = instruction.getRawArgumentsContent() ?? "";
  const step: Step = {
    keyword,
    text: [keyword, ...[...flags].map(([name, value]) => `--${name}=${value}`), content].join(" ").trim(),
    content,
    raw,
    words,
    flags,
    properties: (withFlags.getProperties?.() ?? []).map((p) => [p.getName(), p.getValue() ?? undefined]),
    line,
  };
  if (["RUN", "CMD", "ENTRYPOINT", "SHELL"].includes(keyword)) {
    const json = jsonForm(content);
    if (json) step.json = json;
  }
  return step;
}

/**
 * Parses a Dockerfile into its stages. Throws invalidArgument, naming the line, for what Docker refuses.
 * @example
 * const { stages } = parseDockerfile("FROM busybox AS build\nRUN echo hi > /hi\nFROM busybox\nCOPY --from=build /hi /\n");
 * stages[1]?.steps[0]?.flags.get("from"); // "build"
 */
export function parseDockerfile(text: string): ParsedDockerfile {
  lendBufferForByteOrderMark();
  const dockerfile = DockerfileParser.parse(text.replace(/\r\n/g, "\n"));
  const metaArgs: Step[] = [];
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const step = stepOf(instruction);
    if (!KNOWN.has(step.keyword)) throw invalid(step.line, `unknown instruction: ${instruction.getKeyword()}`);
    if (step.keyword === "FROM") {
      const words = step.words;
      if (words.length !== 1 && !(words.length === 3 && words[1]?.toLowerCase() === "as")) {
        throw invalid(step.line, "FROM requires either one or three arguments");
      }
      const stage: Stage = { base: words[0] ?? "", from: step, steps: [] };
      if (words[2]) {
        const name = words[2].toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(name)) throw invalid(step.line, `invalid name for build stage: "${words[2]}"`);
        if (stages.some((other) => other.name === name)) {
          throw invalid(step.line, `duplicate name for build stage: "${words[2]}"`);
        }
        stage.name = name;
      }
      const platform = step.flags.get("platform");
      if (platform !== undefined) stage.platform = platform;
      stages.push(stage);
      continue;
    }
    const current = stages.at(-1);
    if (!current) {
      if (step.keyword !== "ARG") throw invalid(step.line, `${step.keyword} before the first FROM (only ARG may be)`);
      metaArgs.push(step);
      continue;
    }
    current.steps.push(step);
  }
  if (stages.length === 0) throw new EngineError("invalidArgument", "the Dockerfile has no FROM instruction");
  return { metaArgs, stages, escape: dockerfile.getEscapeCharacter() };
}

/**
 * Expands `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}` as Docker does in FROM, COPY, ENV,
 * WORKDIR and the other instructions it expands (not in RUN or CMD: the shell does that). `\$` is a literal `$`.
 * @example
 * expandVariables("${BASE:-busybox}:$TAG", { TAG: "1.36" }); // "busybox:1.36"
 */
export function expandVariables(text: string, env: Readonly<Record<string, string>>, escapeChar = "\\"): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === escapeChar && text[i + 1] === "$") {
      out += "$";
      i++;
      continue;
    }
    if (ch !== "$") {
      out += ch;
      continue;
    }
    if (text[i + 1] === "{") {
      const end = text.indexOf("}", i + 2);
      if (end < 0) {
        out += text.slice(i);
        break;
      }
      const inner = text.slice(i + 2, end);
      const match = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])(.*))?$/s.exec(inner);
      if (!match) throw new EngineError("invalidArgument", `bad substitution: \${${inner}}`);
      const [, name, op, word] = match;
      const value = env[name!];
      if (op === "-") out += value ? value : expandVariables(word ?? "", env, escapeChar);
      else if (op === "+") out += value ? expandVariables(word ?? "", env, escapeChar) : "";
      else out += value ?? "";
      i = end;
      continue;
    }
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!match) {
      out += ch;
      continue;
    }
    out += env[match[0]] ?? "";
    i += match[0].length;
  }
  return out;
}

/** Splits an expanded argument list into words the way Docker does for COPY, VOLUME, EXPOSE: quotes group words. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = "";
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else current += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = "";
      inWord = false;
      continue;
    }
    current += ch;
    inWord = true;
  }
  if (inWord) words.push(current);
  return words;
}

/**
 * dockerfile-ast looks for a byte order mark with Node's `Buffer.from(firstCharacter, "UTF-8")`, and a Web Worker
 * (the page's engine) has no Buffer: `docker build` in the page failed with "Buffer is not defined". Where Buffer is
 * missing, lend it that one function, answered by TextEncoder (the library asks for nothing else).
 */
function lendBufferForByteOrderMark(): void {
  const scope = globalThis as { Buffer?: unknown };
  scope.Buffer ??= { from: (text: string) => new TextEncoder().encode(text) };
}
