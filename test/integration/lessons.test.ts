// The course, proved in the real guest: for every lesson (each in a fresh guest), each step's check fails before its
// solution and passes after it, then again as a link opens the step (after Start over, its needs done), and Start
// over leaves a bystander container and file alone. The same module as `npm run lessons -- --check`.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkLessons, loadCourseFromDisk } from "../../scripts/lessons.ts";

const { lessons } = await loadCourseFromDisk();

describe("the course", () => {
  // A lesson proves its steps twice (straight through, then each opened directly): allow for it.
  it.each(lessons.map((lesson) => [lesson.id, lesson] as const))(
    "%s: every step is proved",
    { timeout: 300_000 },
    async (id, lesson) => {
      const log: string[] = [];
      const { ok, reports, errors } = await checkLessons({ only: [id], log: (line) => log.push(line) });
      // On failure the message is the checker's own output: the file, the step's line, what the check printed.
      expect(ok, log.join("\n")).toBe(true);
      expect(errors).toEqual([]);
      expect(reports).toHaveLength(1);
      expect(reports[0]!.steps.map((s) => [s.step.title, s.ok])).toEqual(lesson.steps.map((s) => [s.title, true]));
      expect(reports[0]!.jumps.map((s) => [s.step.title, s.ok])).toEqual(lesson.steps.map((s) => [s.title, true]));
    },
  );
});

describe("a broken lesson", () => {
  it("is refused with its file and line, before any guest boots", async () => {
    const dir = await mkdtemp(join(tmpdir(), "drydock-broken-lessons-"));
    try {
      const broken =
        "---\ntitle: Broken\nsummary: no check\nminutes: 5\n---\n\n## A step\n\n> Hint: h\n\n```solution\ntrue\n```\n";
      await writeFile(join(dir, "01-broken.md"), broken);
      const log: string[] = [];
      const result = await checkLessons({ dir, log: (line) => log.push(line) });
      expect(result.ok).toBe(false);
      expect(result.reports).toEqual([]);
      expect(log).toEqual([expect.stringMatching(/01-broken\.md:7: the step "A step" has no ```check block$/)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
