import { describe, expect, it } from "vitest";
import { parseLesson } from "./format.ts";
import { formatReport, type RunScript, verifyLesson } from "./verify.ts";

/** A guest that knows three commands: `make NAME`, `has NAME` (exit 1 when missing), `fail`. */
function fakeGuest(initial: string[] = []): { run: RunScript; scripts: string[]; things: Set<string> } {
  const things = new Set(initial);
  const scripts: string[] = [];
  const run: RunScript = async (script) => {
    scripts.push(script);
    const [verb, name = ""] = script.split(" ");
    if (verb === "make") things.add(name);
    if (verb === "has")
      return { code: things.has(name) ? 0 : 1, stdout: "", stderr: things.has(name) ? "" : `${name}?` };
    if (verb === "fail") return { code: 2, stdout: "partial", stderr: "it broke" };
    return { code: 0, stdout: "", stderr: "" };
  };
  return { run, scripts, things };
}

function lesson(steps: Array<{ title: string; check: string; solution: string }>, front = "") {
  const body = steps
    .map(
      (s) => `## ${s.title}\n\n> Hint: h\n\n\`\`\`check\n${s.check}\n\`\`\`\n\n\`\`\`solution\n${s.solution}\n\`\`\`\n`,
    )
    .join("\n");
  return parseLesson("lessons/05-test.md", `---\ntitle: T\nsummary: S\nminutes: 5\n${front}---\n\n${body}`);
}

const fast = { settleMs: 0, retryMs: 0 };

describe("verifyLesson", () => {
  it("proves each step: check fails, solution runs, check passes, in order", async () => {
    const guest = fakeGuest();
    const report = await verifyLesson(
      lesson([
        { title: "One", check: "has a", solution: "make a" },
        { title: "Two", check: "has b", solution: "make b" },
      ]),
      guest.run,
      fast,
    );
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => [s.step.title, s.ok])).toEqual([
      ["One", true],
      ["Two", true],
    ]);
    expect(guest.scripts).toEqual(["has a", "make a", "has a", "has b", "make b", "has b"]);
  });

  it("fails a step whose check already passes, naming the file, line and step", async () => {
    const report = await verifyLesson(
      lesson([{ title: "Free", check: "has a", solution: "make a" }]),
      fakeGuest(["a"]).run,
      fast,
    );
    expect(report.ok).toBe(false);
    expect(report.steps[0]!.failure).toBe(
      'lessons/05-test.md:7 (step "Free"): the check passes before the solution ran, so the learner gets this step for free',
    );
  });

  it("fails a step whose check still fails after the solution, with what the check printed", async () => {
    const guest = fakeGuest();
    const report = await verifyLesson(
      lesson([
        { title: "Wrong", check: "has a", solution: "make b" },
        { title: "Never reached", check: "has c", solution: "make c" },
      ]),
      guest.run,
      fast,
    );
    expect(report.ok).toBe(false);
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]!.failure).toMatch(
      /^lessons\/05-test\.md:7 \(step "Wrong"\): the check still fails after the solution \(exit 1, .*\nstderr: a\?$/,
    );
    expect(guest.scripts).not.toContain("has c");
  });

  it("fails a step whose solution exits non-zero, quoting its output", async () => {
    const report = await verifyLesson(
      lesson([{ title: "Broken", check: "has a", solution: "fail" }]),
      fakeGuest().run,
      fast,
    );
    expect(report.steps[0]!.failure).toContain("the solution exited 2; it printed:\nstdout: partial\nstderr: it broke");
  });

  it("keeps checking for a while after the solution, as the page does, until the check passes", async () => {
    const guest = fakeGuest();
    let clock = 0;
    let checksAfter = 0;
    // The thing appears only on the third check after the solution (a container that takes a moment to start).
    const run: RunScript = async (script) => {
      if (script === "has late" && guest.scripts.includes("make late") && ++checksAfter === 3) guest.things.add("late");
      return guest.run(script === "make late" ? "noop" : script).finally(() => guest.scripts.push(script));
    };
    const report = await verifyLesson(lesson([{ title: "Slow", check: "has late", solution: "make late" }]), run, {
      settleMs: 1000,
      retryMs: 100,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    expect(report.ok).toBe(true);
    expect(checksAfter).toBe(3);
    expect(report.steps[0]!.timings.after).toBe(200);
  });

  it("pulls the front matter's images and runs the setup before the first step", async () => {
    const guest = fakeGuest(["leftover"]);
    const pulled: string[] = [];
    const report = await verifyLesson(
      lesson([{ title: "One", check: "has a", solution: "make a" }], "images: [busybox, alpine]\nsetup: make clean\n"),
      guest.run,
      { ...fast, pull: async (ref) => void pulled.push(ref) },
    );
    expect(report.ok).toBe(true);
    expect(pulled).toEqual(["busybox", "alpine"]);
    expect(guest.scripts[0]).toBe("make clean");
    expect(formatReport(report)[1]).toMatch(/^ {4}prepare \(busybox, alpine\) \d+ ms$/);
  });

  it("reports a failed pre-pull without running any step", async () => {
    const guest = fakeGuest();
    const report = await verifyLesson(
      lesson([{ title: "One", check: "has a", solution: "make a" }], "images: [nope]\n"),
      guest.run,
      {
        ...fast,
        pull: async () => {
          throw new Error("manifest unknown");
        },
      },
    );
    expect(report.failure).toBe("lessons/05-test.md: the pre-pull of nope failed: manifest unknown");
    expect(guest.scripts).toEqual([]);
  });

  it("gives up on a script that hangs", async () => {
    const report = await verifyLesson(
      lesson([{ title: "Hang", check: "has a", solution: "make a" }]),
      () => new Promise(() => {}),
      { ...fast, scriptTimeoutMs: 20 },
    );
    expect(report.steps[0]!.failure).toBe(
      'lessons/05-test.md:7 (step "Hang"): the script `has a` ran for more than 20 ms',
    );
  });

  it("proves each step again as the page opens it directly: Start over, its needs done, its own setup", async () => {
    // `clean` is the lesson's setup: it forgets everything but the bystander's `mine`.
    const guest = fakeGuest();
    const run: RunScript = async (script) => {
      if (script === "clean") {
        guest.scripts.push(script);
        for (const thing of [...guest.things]) if (thing !== "mine") guest.things.delete(thing);
        return { code: 0, stdout: "", stderr: "" };
      }
      return guest.run(script);
    };
    const text = `---\ntitle: T\nsummary: S\nminutes: 5\nsetup: clean\n---\n
## One\n\n> Hint: h\n\n\`\`\`check\nhas a\n\`\`\`\n\n\`\`\`solution\nmake a\n\`\`\`\n
## Two\n\n> Needs: nothing\n\n\`\`\`setup\nmake seed\n\`\`\`\n\n> Hint: h\n\n\`\`\`check\nhas b\n\`\`\`\n\n\`\`\`solution\nmake b\n\`\`\`\n
## Three\n\n> Hint: h\n\n\`\`\`check\nhas c\n\`\`\`\n\n\`\`\`solution\nmake c\n\`\`\`\n`;
    const report = await verifyLesson(parseLesson("lessons/05-test.md", text), run, {
      ...fast,
      jumps: true,
      bystander: { mark: "make mine", intact: "has mine" },
    });
    expect(report.ok).toBe(true);
    expect(report.jumps.map((s) => [s.step.title, s.ok, s.direct])).toEqual([
      ["One", true, true],
      ["Two", true, true],
      ["Three", true, true],
    ]);
    const direct = guest.scripts.slice(guest.scripts.indexOf("has c", guest.scripts.indexOf("make c")) + 1);
    expect(direct).toEqual([
      ...["clean", "has a", "make a", "has a"],
      ...["clean", "make seed", "has b", "make b", "has b"],
      // Three needs Two (the step before it), which needs nothing: Two's setup and solution, then Three.
      ...["clean", "make seed", "make b", "has c", "make c", "has c"],
      "has mine",
    ]);
    expect(formatReport(report)).toContain("    opened directly, after Start over:");
  });

  it("fails when Start over leaves a step done, or touches what is not the lesson's", async () => {
    const steps = [{ title: "One", check: "has a", solution: "make a" }];
    const keeps = await verifyLesson(lesson(steps, "setup: noop\n"), fakeGuest().run, { ...fast, jumps: true });
    expect(keeps.ok).toBe(false);
    expect(keeps.jumps[0]!.failure).toBe(
      'lessons/05-test.md:8 (step "One", opened directly after Start over): the check passes before the solution ran: Start over left this step done',
    );
    const guest = fakeGuest();
    const run: RunScript = async (script) => {
      if (script === "wipe") guest.things.clear();
      return guest.run(script);
    };
    const wipes = await verifyLesson(lesson(steps, "setup: wipe\n"), run, {
      ...fast,
      jumps: true,
      bystander: { mark: "make mine", intact: "has mine" },
    });
    expect(wipes.ok).toBe(false);
    expect(wipes.failure).toMatch(/^lessons\/05-test\.md: the lesson's setup touched something outside the lesson/);
  });
});
