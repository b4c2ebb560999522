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
