// The lesson format (lessons/README.md is its authoring guide): YAML front matter, then Markdown where each `## `
// heading opens a step. Fenced blocks carry the parts a runner needs: ```sh (a command the learner can click; ```sh copy
// only copies), ```check (exits 0 once the step is done), ```solution, ```setup (the step's own starting state); a
// `> Hint:` quote is a hint, a `> Needs:` quote names the steps that must be done first. A closing `## Finish` section
// is the page shown when the lesson is done. Pure: runs in Node and the page.
import MarkdownIt from "markdown-it";
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";

/** A lesson file that cannot be used, with the place to fix it (`file:line: message`). */
export class LessonError extends Error {
  /**
   * @example
   * throw new LessonError("lessons/01-images.md", 12, "the step has no ```check block");
   */
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = "LessonError";
  }
}

/**
 * A piece of a step's text: prose (Markdown source), a command the learner can send to the terminal, or code to copy
 * and adapt rather than run as it is (```sh copy).
 */
export type StepPart =
  | { kind: "prose"; markdown: string }
  | { kind: "command"; command: string; line: number }
  | { kind: "copy"; code: string; line: number };

/** A script run with `sh -c` in the guest, outside any container. */
export interface Script {
  script: string;
  /** 1-based line of the fence in the lesson file, for error reports. */
  line: number;
}

export interface Step {
  /** A slug of the title, unique in its lesson: progress is kept by it, so reordering steps keeps progress. */
  id: string;
  title: string;
  /** 1-based line of the step's `## ` heading. */
  line: number;
  parts: StepPart[];
  /** Markdown, revealed one at a time. */
  hints: string[];
  /** Exits 0 when the step is done. */
  check: Script;
  /** What a learner could type to finish the step; the checker runs it to prove the check can pass. */
  solution: Script;
  /**
   * Run when the step opens (not when it is already done), after the steps it needs: makes the step's own starting
   * state, such as a container to look into, so the step does not rely on what the learner did elsewhere.
   */
  setup?: Script;
  /**
   * Ids of the steps that must be done before this one, all earlier in the file. Without a `> Needs:` quote a step
   * needs the one before it (a straight line); `> Needs: nothing` makes it independent.
   */
  needs: string[];
}

export interface Lesson {
  /** The file's name without `.md`, e.g. `01-images-and-containers`; the course is sorted by it. */
  id: string;
  file: string;
  title: string;
  summary: string;
  minutes: number;
  /** Images pulled before the lesson starts, so no step waits on a download it did not ask for. */
  images: string[];
  /** Run when a learner starts the lesson afresh: removes what an earlier attempt left behind. */
  setup?: string;
  /** Prose and commands before the first step: something to look at before starting, with nothing to check. */
  intro: StepPart[];
  steps: Step[];
  /** The `## Finish` section: what was learned and where to go next, shown once every step is done. */
  finish: StepPart[];
}

const FRONT_MATTER_KEYS = ["title", "summary", "minutes", "images", "setup"] as const;
const COMMAND_INFOS = new Set(["sh", "shell", "bash"]);
const HINT_PREFIX = /^\s*(\*\*Hint:?\*\*:?|Hint:)\s*/i;
const NEEDS_PREFIX = /^\s*(\*\*Needs:?\*\*:?|Needs:)\s*/i;
const FINISH_TITLE = "finish";
const NO_NEEDS = new Set(["nothing", "none"]);

const markdown = new MarkdownIt({ html: false });

/**
 * Parses and validates one lesson. Throws {@link LessonError} naming the file and line of the first problem: broken
 * front matter, a missing field, a step without a check, a solution or a hint, a check outside a step.
 * @example
 * const lesson = parseLesson("lessons/01-images-and-containers.md", await readFile(path, "utf8"));
 * for (const step of lesson.steps) console.log(step.title, step.check.script);
 */
export function parseLesson(file: string, text: string): Lesson {
  const source = text.replace(/\r\n?/g, "\n");
  const lines = source.split("\n");
  if (lines[0]?.trim() !== "---") {
    throw new LessonError(file, 1, "a lesson starts with front matter: a line `---`, YAML (title, summary, …), `---`");
  }
  const end = lines.findIndex((line, i) => i > 0 && line.trim() === "---");
  if (end < 0) throw new LessonError(file, 1, "the front matter is not closed: add a line `---` after it");
  const meta = parseFrontMatter(file, lines.slice(1, end).join("\n"), 2);
  const body = lines.slice(end + 1);
  // markdown-it's token maps are 0-based lines of `body`; the file's line is that + this.
  const offset = end + 2;
  const lesson: Lesson = {
    id: lessonId(file),
    file,
    ...meta,
    intro: [],
    steps: [],
    finish: [],
  };
  type Draft = Partial<Step> & { title: string; line: number; parts: StepPart[]; hints: string[] };
  let step: Draft | undefined;
  /** The `> Needs:` of each step, as written, resolved once every step is known. */
  const neededBy = new Map<Draft, { names: string[]; line: number }>();
  let finishLine: number | undefined;
  const finish = () => {
    if (!step) return;
    if (!step.check) throw new LessonError(file, step.line, `the step "${step.title}" has no \`\`\`check block`);
    if (!step.solution) throw new LessonError(file, step.line, `the step "${step.title}" has no \`\`\`solution block`);
    if (step.hints.length === 0) {
      throw new LessonError(file, step.line, `the step "${step.title}" has no hint (a quote starting "> Hint:")`);
    }
    const id = slug(step.title);
    const twin = lesson.steps.find((s) => s.id === id);
    if (twin) throw new LessonError(file, step.line, `two steps are called "${step.title}" (see line ${twin.line})`);
    const written = neededBy.get(step);
    const previous = lesson.steps.at(-1);
    const needs = written ? resolveNeeds(file, written, lesson.steps, step.title) : previous ? [previous.id] : [];
    lesson.steps.push({ ...step, id, check: step.check, solution: step.solution, needs });
  };
  /** Where prose and commands go now: the step, the finish page, or the introduction. */
  const target = () => (step ? step.parts : finishLine !== undefined ? lesson.finish : lesson.intro);
  const prose = (startLine: number, endLine: number) => {
    const text = body.slice(startLine, endLine).join("\n").trim();
    if (!text) return;
    const parts = target();
    const last = parts.at(-1);
    if (last?.kind === "prose") last.markdown += `\n\n${text}`;
    else parts.push({ kind: "prose", markdown: text });
  };

  const tokens = markdown.parse(body.join("\n"), {});
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.level !== 0 || !token.map) continue;
    const [startLine, endLine] = token.map;
    const line = startLine + offset;
    if (token.type === "heading_open" && (token.tag === "h1" || token.tag === "h2")) {
      if (token.tag === "h1") {
        throw new LessonError(file, line, "use `## ` for steps; the lesson's title belongs in the front matter");
      }
      if (finishLine !== undefined) {
        throw new LessonError(file, line, `the \`## Finish\` section (line ${finishLine}) must be the last one`);
      }
      finish();
      step = undefined;
      const title = tokens[i + 1]?.content.trim() ?? "";
      if (!title) throw new LessonError(file, line, "a step heading needs a title");
      if (title.toLowerCase() === FINISH_TITLE) finishLine = line;
      else step = { title, line, parts: [], hints: [] };
      continue;
    }
    if (token.type === "fence") {
      const [info = "", ...flags] = token.info.trim().split(/\s+/);
      const content = token.content.replace(/\n$/, "");
      const special = info === "check" || info === "solution" || info === "setup";
      if (special || COMMAND_INFOS.has(info)) {
        if (!content.trim()) throw new LessonError(file, line, `the \`\`\`${info} block is empty`);
        if (COMMAND_INFOS.has(info)) {
          const unknown = flags.find((flag) => flag !== "copy");
          if (unknown) {
            throw new LessonError(file, line, `unknown flag "${unknown}" on a \`\`\`${info} block (known: copy)`);
          }
          target().push(
            flags.includes("copy")
              ? { kind: "copy", code: content, line }
              : { kind: "command", command: content, line },
          );
          continue;
        }
        if (!step) {
          throw new LessonError(file, line, `a \`\`\`${info} block must be inside a step (after a \`## \` heading)`);
        }
        const kind = info as "check" | "solution" | "setup";
        if (step[kind]) {
          throw new LessonError(file, line, `the step "${step.title}" has a second \`\`\`${info} block (one per step)`);
        }
        step[kind] = { script: content, line };
        continue;
      }
    }
    if (token.type === "blockquote_open") {
      const quoted = body.slice(startLine, endLine).map((l) => l.replace(/^\s*>\s?/, ""));
      const first = quoted.findIndex((l) => l.trim() !== "");
      const opening = quoted[first] ?? "";
      if (first >= 0 && (HINT_PREFIX.test(opening) || NEEDS_PREFIX.test(opening))) {
        const what = HINT_PREFIX.test(opening) ? "hint" : "needs";
        if (!step) throw new LessonError(file, line, `a ${what} quote must be inside a step (after a \`## \` heading)`);
        quoted[first] = opening.replace(what === "hint" ? HINT_PREFIX : NEEDS_PREFIX, "");
        const value = quoted.join("\n").trim();
        if (what === "hint") {
          if (!value) throw new LessonError(file, line, "the hint is empty");
          step.hints.push(value);
        } else {
          if (neededBy.has(step))
            throw new LessonError(file, line, `the step "${step.title}" has a second Needs quote`);
          if (!value) throw new LessonError(file, line, `name the steps needed first, or write "Needs: nothing"`);
          neededBy.set(step, { names: value.split(","), line });
        }
        continue;
      }
    }
    // Any other block (paragraphs, lists, other fences, other quotes) is prose, kept as its Markdown source.
    if (token.nesting >= 0) prose(startLine, endLine);
  }
  finish();
  if (lesson.steps.length === 0) {
    throw new LessonError(file, offset, "the lesson has no steps: each `## ` heading opens one");
  }
  if (finishLine !== undefined && !lesson.finish.some((part) => part.kind === "prose")) {
    throw new LessonError(file, finishLine, "the `## Finish` section is empty: say what was learned and what is next");
  }
  return lesson;
}

/** Turns the names of a `> Needs:` quote into ids of earlier steps (titles or ids, separated by commas). */
function resolveNeeds(
  file: string,
  written: { names: string[]; line: number },
  earlier: readonly Step[],
  title: string,
): string[] {
  const names = written.names.map((name) => name.trim().replace(/\.$/, "")).filter(Boolean);
  if (names.length === 1 && NO_NEEDS.has(names[0]!.toLowerCase())) return [];
  return names.map((name) => {
    const id = slug(name);
    if (earlier.some((s) => s.id === id)) return id;
    throw new LessonError(
      file,
      written.line,
      `the step "${title}" needs "${name}", which is not a step before it (steps it can need: ${earlier.map((s) => s.title).join(", ") || "none"})`,
    );
  });
}

/**
 * The steps that must be done before `step`, its needs and theirs, in the lesson's order.
 * @example
 * for (const before of prerequisites(lesson, step)) await run(before.solution.script);
 */
export function prerequisites(lesson: Lesson, step: Step): Step[] {
  const wanted = new Set<string>();
  const visit = (id: string) => {
    if (wanted.has(id)) return;
    wanted.add(id);
    for (const need of lesson.steps.find((s) => s.id === id)?.needs ?? []) visit(need);
  };
  for (const need of step.needs) visit(need);
  return lesson.steps.filter((s) => wanted.has(s.id));
}

/**
 * Parses every lesson of a course, sorted by id. Returns the lessons that parse and the errors of those that do not,
 * so one broken file does not hide the others.
 * @example
 * const { lessons, errors } = parseCourse({ "lessons/01-a.md": textA, "lessons/02-b.md": textB });
 */
export function parseCourse(files: Readonly<Record<string, string>>): { lessons: Lesson[]; errors: LessonError[] } {
  const lessons: Lesson[] = [];
  const errors: LessonError[] = [];
  for (const [file, text] of Object.entries(files)) {
    try {
      lessons.push(parseLesson(file, text));
    } catch (error) {
      if (!(error instanceof LessonError)) throw error;
      errors.push(error);
    }
  }
  lessons.sort((a, b) => a.id.localeCompare(b.id));
  return { lessons, errors };
}

/**
 * Runs the YAML parser (`"yaml"`) or the Markdown parser (`"markdown"`) once over a few lines shaped like a lesson's,
 * so that compiling their code (V8 compiles a function when it is first called) is a main-thread task of its own and
 * not part of the first lesson's: on a first visit that one task was the page's longest.
 * @example
 * warmUpParser("yaml");
 * await new Promise((resolve) => setTimeout(resolve, 0));
 * warmUpParser("markdown");
 */
export function warmUpParser(which: "yaml" | "markdown"): void {
  if (which === "yaml") {
    parseDocument('title: A\nsummary: "b"\nminutes: 5\nimages: [busybox]\nsetup: |\n  true\n', {
      lineCounter: new LineCounter(),
      prettyErrors: false,
    });
  } else {
    markdown.parse("Some *text* and `code`.\n\n## A step\n\n```sh\nls\n```\n\n> Hint: a [link](x).\n", {});
  }
}

/**
 * The Markdown renderer lessons are parsed with (raw HTML off, so a lesson cannot inject markup into the page).
 * @example
 * element.innerHTML = renderMarkdown(step.hints[0]);
 */
export function renderMarkdown(source: string): string {
  return markdown.render(source);
}

type FrontMatter = Pick<Lesson, "title" | "summary" | "minutes" | "images" | "setup">;

function parseFrontMatter(file: string, yaml: string, firstLine: number): FrontMatter {
  const lineCounter = new LineCounter();
  const doc = parseDocument(yaml, { lineCounter, prettyErrors: false });
  const at = (offset: number | undefined) =>
    offset === undefined ? firstLine : lineCounter.linePos(offset).line - 1 + firstLine;
  const problem = doc.errors[0];
  if (problem) {
    throw new LessonError(
      file,
      at(problem.pos[0]),
      `the front matter is not valid YAML: ${problem.message.split("\n")[0]}`,
    );
  }
  const root = doc.contents;
  if (!isMap(root)) {
    throw new LessonError(file, firstLine, "the front matter must be YAML keys (title, summary, minutes, images)");
  }
  const lineOf = new Map<string, number>();
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const line = at(isScalar(pair.key) ? pair.key.range?.[0] : undefined);
    if (!(FRONT_MATTER_KEYS as readonly string[]).includes(key)) {
      throw new LessonError(file, line, `unknown front matter key "${key}" (known: ${FRONT_MATTER_KEYS.join(", ")})`);
    }
    lineOf.set(key, line);
  }
  const data = doc.toJS() as Record<string, unknown>;
  const where = (key: string) => lineOf.get(key) ?? firstLine;
  const text = (key: "title" | "summary") => {
    const value = data[key];
    if (typeof value !== "string" || !value.trim()) {
      throw new LessonError(file, where(key), `the front matter needs a "${key}" (a line of text)`);
    }
    return value.trim();
  };
  const title = text("title");
  const summary = text("summary");
  const minutes = data.minutes;
  if (typeof minutes !== "number" || !Number.isInteger(minutes) || minutes < 1 || minutes > 60) {
    throw new LessonError(file, where("minutes"), `"minutes" must be a whole number from 1 to 60 (how long it takes)`);
  }
  const images = data.images ?? [];
  if (!Array.isArray(images) || !images.every((i): i is string => typeof i === "string" && i.trim() !== "")) {
    throw new LessonError(file, where("images"), `"images" must be a list of image references, e.g. [busybox]`);
  }
  const setup = data.setup;
  if (setup !== undefined && (typeof setup !== "string" || !setup.trim())) {
    throw new LessonError(file, where("setup"), `"setup" must be a shell script (use a YAML block: "setup: |")`);
  }
  return { title, summary, minutes, images, ...(typeof setup === "string" ? { setup: setup.trim() } : {}) };
}

function lessonId(file: string): string {
  const name = file.slice(file.lastIndexOf("/") + 1);
  return name.endsWith(".md") ? name.slice(0, -3) : name;
}

function slug(title: string): string {
  return (
    title
      .toLowerCase()
      .replace(/[`*_]/g, "")
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "") || "step"
  );
}

/**
 * Finds a lesson by the name someone wrote for it: its id (`04-namespaces`), its id without the number
 * (`namespaces`), or its number (`04`). Undefined when none matches, or when a name fits more than one.
 * @example
 * findLesson(lessons, "namespaces")?.id; // "04-namespaces"
 */
export function findLesson(lessons: readonly Lesson[], name: string): Lesson | undefined {
  const wanted = name.trim().toLowerCase();
  if (!wanted) return undefined;
  const exact = lessons.find((l) => l.id === wanted);
  if (exact) return exact;
  const matches = lessons.filter((l) => l.id.replace(/^\d+-/, "") === wanted || l.id.split("-")[0] === wanted);
  return matches.length === 1 ? matches[0] : undefined;
}

/**
 * What to say when {@link findLesson} found nothing: the name, and the names that would work.
 * @example
 * unknownLessonMessage(lessons, "namespace"); // 'There is no lesson "namespace" in the course: use one of …'
 */
export function unknownLessonMessage(lessons: readonly Lesson[], name: string): string {
  const names = lessons.map((l) => l.id.replace(/^\d+-/, ""));
  return `There is no lesson "${name}" in the course: use one of ${names.join(", ")} (with or without its number, as in ${lessons[0]?.id ?? "01-…"}).`;
}
