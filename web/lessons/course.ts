// The course as the page bundles it: every lessons/*.md, inlined at build time by Vite and parsed once.
import { type Lesson, type LessonError, parseCourse, warmUpParser } from "./format.ts";

const files = import.meta.glob<string>("../../lessons/[0-9]*.md", { query: "?raw", import: "default", eager: true });

/** Files' paths as authors know them: `lessons/01-images-and-containers.md`. */
const sources = Object.fromEntries(Object.entries(files).map(([path, text]) => [path.replace(/^(\.\.\/)+/, ""), text]));

/**
 * The bundled course: lessons sorted by file name, and the files that did not parse (shown, never hidden).
 * @example
 * const { lessons, errors } = loadCourse();
 * list.replaceChildren(...lessons.map((l) => item(l.title)));
 */
export function loadCourse(): { lessons: Lesson[]; errors: LessonError[] } {
  return parseCourse(sources);
}

/**
 * The bundled course, parsed one lesson per task so the page never stalls on it (all seven at once took one
 * 100–200 ms task on a first visit, just after the prompt), after a task for each parser's first run.
 * @example
 * const { lessons, errors } = await loadCourseInSlices();
 */
export async function loadCourseInSlices(): Promise<{ lessons: Lesson[]; errors: LessonError[] }> {
  const lessons: Lesson[] = [];
  const errors: LessonError[] = [];
  // Each slice waits behind whatever else is queued (a zero timeout, not scheduler.yield(), which would run the slices
  // ahead of the worker's messages: the prompt's among them). The parsers' code is compiled in slices of their own (on
  // a first visit that was most of the first lesson's task).
  const later = () => new Promise((resolve) => setTimeout(resolve, 0));
  for (const parser of ["yaml", "markdown"] as const) {
    await later();
    warmUpParser(parser);
  }
  for (const [file, text] of Object.entries(sources)) {
    await later();
    const one = parseCourse({ [file]: text });
    lessons.push(...one.lessons);
    errors.push(...one.errors);
  }
  lessons.sort((a, b) => a.id.localeCompare(b.id));
  return { lessons, errors };
}
