// The course as the page bundles it: every lessons/*.md, inlined at build time by Vite and parsed once.
import { type Lesson, type LessonError, parseCourse } from "./format.ts";

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
 * 100–200 ms task on a first visit, just after the prompt).
 * @example
 * const { lessons, errors } = await loadCourseInSlices();
 */
export async function loadCourseInSlices(): Promise<{ lessons: Lesson[]; errors: LessonError[] }> {
  const lessons: Lesson[] = [];
  const errors: LessonError[] = [];
  for (const [file, text] of Object.entries(sources)) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const one = parseCourse({ [file]: text });
    lessons.push(...one.lessons);
    errors.push(...one.errors);
  }
  lessons.sort((a, b) => a.id.localeCompare(b.id));
  return { lessons, errors };
}
