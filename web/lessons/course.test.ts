import { describe, expect, it } from "vitest";
import guide from "../../lessons/README.md?raw";
import { isTeacherIndexLink, lessonLink, stepNeedsNote } from "../ui/lessons.ts";
import { loadCourse } from "./course.ts";

describe("the course in lessons/", () => {
  it("has the lessons of the course, in order, each parsing cleanly and taking 5 to 15 minutes", () => {
    const { lessons, errors } = loadCourse();
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(lessons.map((l) => l.file)).toEqual([
      "lessons/01-images-and-containers.md",
      "lessons/02-registries-and-tags.md",
      "lessons/03-client-and-daemon.md",
      "lessons/04-namespaces.md",
      "lessons/05-cgroups.md",
      "lessons/06-union-filesystem.md",
      "lessons/07-container-lifecycle.md",
      "lessons/08-building-images.md",
      "lessons/09-shipping-images.md",
      "lessons/10-keeping-data.md",
      "lessons/11-networks-and-ports.md",
      "lessons/12-webassembly-containers.md",
      "lessons/13-root-in-a-container.md",
      "lessons/14-a-swarm.md",
    ]);
    for (const lesson of lessons) {
      expect(lesson.minutes, lesson.file).toBeGreaterThanOrEqual(5);
      expect(lesson.minutes, lesson.file).toBeLessThanOrEqual(15);
      expect(lesson.steps.length, lesson.file).toBeGreaterThanOrEqual(3);
    }
  });

  it("is listed in the teacher's index with each lesson's time and a presenter's link to every step", () => {
    const { lessons } = loadCourse();
    const index = guide.slice(guide.indexOf("## Teacher's index"));
    const headings = [...index.matchAll(/^### (\d\d) · (.+) · (\d+) min$/gm)].map((m) => [m[1], m[2], Number(m[3])]);
    expect(headings).toEqual(lessons.map((l) => [l.id.slice(0, 2), l.title, l.minutes]));
    const links = [...index.matchAll(/`(#lesson=[^`]+)`/g)].map((m) => m[1]);
    const expected = lessons.flatMap((l) =>
      l.steps.map((s) => new URL(lessonLink("https://drydock.example/", l.id, s.id, true)).hash),
    );
    expect(links).toEqual(expected);
  });

  it("says in the teacher's index how each step stands: straight on, building on others, or alone", () => {
    const { lessons } = loadCourse();
    const keeping = lessons.find((l) => l.id === "10-keeping-data")!;
    const note = (id: string) => stepNeedsNote(keeping, keeping.steps.find((s) => s.id === id)!);
    expect(note("writes-that-go-with-the-container")).toBeUndefined();
    expect(note("make-a-volume")).toBeUndefined();
    expect(note("a-volume-in-memory")).toBe("stands alone");
    const networks = lessons.find((l) => l.id === "11-networks-and-ports")!;
    const cables = networks.steps.find((s) => s.id === "bridges-and-cables-seen-from-the-guest")!;
    expect(stepNeedsNote(networks, cables)).toBe("builds on “Two containers find each other by name”");
    expect(isTeacherIndexLink("#teacher")).toBe(true);
    expect(isTeacherIndexLink("#lesson=01-images-and-containers")).toBe(false);
  });
});
