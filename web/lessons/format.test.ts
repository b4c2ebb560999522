import { describe, expect, it } from "vitest";
import {
  findLesson,
  LessonError,
  parseCourse,
  parseLesson,
  prerequisites,
  renderMarkdown,
  unknownLessonMessage,
} from "./format.ts";

const GOOD = `---
title: A first container
summary: Run one, see it listed.
minutes: 5
images: [busybox]
---

Some words before the first step.

## Run a container

Type this:

\`\`\`sh
docker run --name first busybox echo hello
\`\`\`

A plain block, not clickable:

\`\`\`text
hello
\`\`\`

> **Hint:** The name comes from \`--name\`.

> Hint: Still stuck? Look at \`docker ps -a\`.

> A quote that is not a hint.

\`\`\`check
docker ps -a --format '{{.Names}}' | grep -qx first
\`\`\`

\`\`\`solution
docker run --name first busybox echo hello
\`\`\`

## Remove it

\`\`\`sh
docker rm first
\`\`\`

> Hint: rm takes a name.

\`\`\`check
! docker ps -a --format '{{.Names}}' | grep -qx first
\`\`\`

\`\`\`solution
docker rm first
\`\`\`
`;

function expectRefused(text: string, line: number, reason: RegExp): void {
  let caught: unknown;
  try {
    parseLesson("lessons/99-broken.md", text);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(LessonError);
  const error = caught as LessonError;
  expect(error.message).toMatch(/^lessons\/99-broken\.md:\d+: /);
  expect(error.reason).toMatch(reason);
  expect(error.line).toBe(line);
}

describe("parseLesson", () => {
  it("reads the front matter, the intro and each step's commands, hints, check and solution", () => {
    const lesson = parseLesson("lessons/01-first.md", GOOD);
    expect(lesson).toMatchObject({
      id: "01-first",
      title: "A first container",
      summary: "Run one, see it listed.",
      minutes: 5,
      images: ["busybox"],
      intro: [{ kind: "prose", markdown: "Some words before the first step." }],
    });
    expect(lesson.steps.map((s) => [s.id, s.title, s.line])).toEqual([
      ["run-a-container", "Run a container", 10],
      ["remove-it", "Remove it", 38],
    ]);
    const [run] = lesson.steps;
    expect(run!.parts).toEqual([
      { kind: "prose", markdown: "Type this:" },
      { kind: "command", command: "docker run --name first busybox echo hello", line: 14 },
      {
        kind: "prose",
        markdown: "A plain block, not clickable:\n\n```text\nhello\n```\n\n> A quote that is not a hint.",
      },
    ]);
    expect(run!.hints).toEqual(["The name comes from `--name`.", "Still stuck? Look at `docker ps -a`."]);
    expect(run!.check).toEqual({ script: "docker ps -a --format '{{.Names}}' | grep -qx first", line: 30 });
    expect(run!.solution.script).toBe("docker run --name first busybox echo hello");
  });

  it("keeps commands in the introduction, to look around before the first step", () => {
    const lesson = parseLesson("x.md", GOOD.replace("Some words", "```sh\nps -ef\n```\n\nSome words"));
    expect(lesson.intro).toEqual([
      { kind: "command", command: "ps -ef", line: 8 },
      { kind: "prose", markdown: "Some words before the first step." },
    ]);
  });

  it("takes a multi-line setup script", () => {
    const lesson = parseLesson(
      "x.md",
      GOOD.replace("minutes: 5\n", "minutes: 5\nsetup: |\n  docker rm -f first\n  true\n"),
    );
    expect(lesson.setup).toBe("docker rm -f first\ntrue");
  });

  it("refuses a file without front matter, at line 1", () => {
    expectRefused("# Hello\n", 1, /starts with front matter/);
  });

  it("refuses front matter that is never closed", () => {
    expectRefused("---\ntitle: x\n", 1, /not closed/);
  });

  it("refuses front matter that is not YAML, at the line of the mistake", () => {
    expectRefused(GOOD.replace("images: [busybox]", "images: [busybox"), 5, /not valid YAML/);
  });

  it("refuses a missing title, a bad minutes and an unknown key, each at its line", () => {
    expectRefused(GOOD.replace("title: A first container\n", ""), 2, /needs a "title"/);
    expectRefused(GOOD.replace("minutes: 5", "minutes: soon"), 4, /"minutes" must be a whole number/);
    expectRefused(GOOD.replace("images: [busybox]", "imagez: [busybox]"), 5, /unknown front matter key "imagez"/);
    expectRefused(GOOD.replace("images: [busybox]", "images: busybox"), 5, /"images" must be a list/);
  });

  it("refuses a step without a check, without a solution, or without a hint, at the step's heading", () => {
    const noCheck = GOOD.replace("```check\n! docker ps -a --format '{{.Names}}' | grep -qx first\n```\n", "");
    expectRefused(noCheck, 38, /"Remove it" has no ```check block/);
    expectRefused(GOOD.replace("```solution\ndocker rm first\n```\n", ""), 38, /has no ```solution block/);
    expectRefused(GOOD.replace("> Hint: rm takes a name.\n", ""), 38, /has no hint/);
  });

  it("refuses a second check in one step, a command before any step, an empty check, and an h1", () => {
    expectRefused(GOOD.replace("## Remove it\n", "## Remove it\n\n```check\ntrue\n```\n"), 50, /second ```check/);
    expectRefused(GOOD.replace("Some words", "```check\nls\n```\n\nSome words"), 8, /must be inside a step/);
    expectRefused(GOOD.replace("```check\n! docker", "```check\n\n```\n\n```check\n! docker"), 46, /is empty/);
    expectRefused(GOOD.replace("Some words", "# Title\n\nSome words"), 8, /front matter/);
  });

  it("refuses a lesson with no steps, and two steps of the same title", () => {
    expectRefused("---\ntitle: t\nsummary: s\nminutes: 5\n---\n\nJust prose.\n", 6, /no steps/);
    expectRefused(
      GOOD.replace("## Remove it", "## Run a container"),
      38,
      /two steps are called "Run a container" \(see line 10\)/,
    );
  });
});

describe("the grown format: step setups, needs, copy blocks, the finish page", () => {
  const STEPS = `---
title: T
summary: S
minutes: 5
---

## Make a

\`\`\`sh copy
docker run --name NAME busybox
\`\`\`

> Hint: h

\`\`\`check
has a
\`\`\`

\`\`\`solution
make a
\`\`\`

## Make b

> Needs: nothing

\`\`\`setup
make seed
\`\`\`

> Hint: h

\`\`\`check
has b
\`\`\`

\`\`\`solution
make b
\`\`\`

## Make c

> **Needs:** Make a, make-b.

> Hint: h

\`\`\`check
has c
\`\`\`

\`\`\`solution
make c
\`\`\`

## Make d

> Hint: h

\`\`\`check
has d
\`\`\`

\`\`\`solution
make d
\`\`\`

## Finish

You made four things. Next: [the course](#).

\`\`\`sh
docker ps -a
\`\`\`
`;

  it("reads a step's setup, its needs (a straight line by default), copy blocks and the finish section", () => {
    const lesson = parseLesson("lessons/09-t.md", STEPS);
    expect(lesson.steps.map((s) => [s.id, s.needs])).toEqual([
      ["make-a", []],
      ["make-b", []],
      ["make-c", ["make-a", "make-b"]],
      ["make-d", ["make-c"]],
    ]);
    expect(lesson.steps[0]!.parts).toEqual([{ kind: "copy", code: "docker run --name NAME busybox", line: 9 }]);
    expect(lesson.steps[1]!.setup).toEqual({ script: "make seed", line: 27 });
    expect(lesson.steps[0]!.setup).toBeUndefined();
    expect(lesson.finish).toEqual([
      { kind: "prose", markdown: "You made four things. Next: [the course](#)." },
      { kind: "command", command: "docker ps -a", line: 71 },
    ]);
  });

  it("lists what a step needs, theirs included, in the lesson's order", () => {
    const lesson = parseLesson("lessons/09-t.md", STEPS);
    const d = lesson.steps.find((s) => s.id === "make-d")!;
    expect(prerequisites(lesson, d).map((s) => s.id)).toEqual(["make-a", "make-b", "make-c"]);
    expect(prerequisites(lesson, lesson.steps[1]!)).toEqual([]);
  });

  it("refuses a need that is unknown or comes later, a second Needs, a flag it does not know", () => {
    expectRefused(STEPS.replace("Make a, make-b.", "Make z"), 43, /needs "Make z", which is not a step before it/);
    expectRefused(STEPS.replace("Make a, make-b.", "Make d"), 43, /needs "Make d"/);
    expectRefused(STEPS.replace("> Needs: nothing", "> Needs: nothing\n\n> Needs: nothing"), 27, /second Needs/);
    expectRefused(STEPS.replace("```sh copy", "```sh paste"), 9, /unknown flag "paste"/);
    expectRefused(
      STEPS.replace("```setup\nmake seed", "```setup\nmake seed\n```\n\n```setup\nx"),
      31,
      /second ```setup/,
    );
  });

  it("refuses a finish section that is not last or says nothing", () => {
    expectRefused(`${STEPS}\n## Later\n`, 75, /`## Finish` section \(line 67\) must be the last/);
    expectRefused(STEPS.replace("You made four things. Next: [the course](#).", ""), 67, /Finish` section is empty/);
  });
});

describe("parseCourse", () => {
  it("sorts lessons by file name and keeps one file's error from hiding the others", () => {
    const { lessons, errors } = parseCourse({
      "lessons/02-b.md": GOOD,
      "lessons/03-broken.md": "no front matter",
      "lessons/01-a.md": GOOD,
    });
    expect(lessons.map((l) => l.id)).toEqual(["01-a", "02-b"]);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^lessons\/03-broken\.md:1: /)]);
  });
});

describe("renderMarkdown", () => {
  it("renders Markdown and escapes raw HTML", () => {
    expect(renderMarkdown("**bold** <script>alert(1)</script>")).toBe(
      "<p><strong>bold</strong> &lt;script&gt;alert(1)&lt;/script&gt;</p>\n",
    );
  });
});

describe("findLesson", () => {
  const lessons = ["01-images-and-containers", "04-namespaces", "05-cgroups", "14-namespaces"].map((id) =>
    parseLesson(`lessons/${id}.md`, GOOD),
  );
  const first = lessons.slice(0, 3);

  it("takes an id, the id without its number, or the number", () => {
    expect(findLesson(first, "04-namespaces")?.id).toBe("04-namespaces");
    expect(findLesson(first, "namespaces")?.id).toBe("04-namespaces");
    expect(findLesson(first, " Cgroups ")?.id).toBe("05-cgroups");
    expect(findLesson(first, "01")?.id).toBe("01-images-and-containers");
  });

  it("finds nothing for a typo, an empty name or a name two lessons share, and says what would work", () => {
    expect(findLesson(first, "namespace")).toBeUndefined();
    expect(findLesson(first, "")).toBeUndefined();
    expect(findLesson(lessons, "namespaces")).toBeUndefined();
    expect(findLesson(lessons, "14-namespaces")?.id).toBe("14-namespaces");
    expect(unknownLessonMessage(first, "namespace")).toBe(
      'There is no lesson "namespace" in the course: use one of images-and-containers, namespaces, cgroups (with or without its number, as in 01-images-and-containers).',
    );
  });
});
