// Proves a lesson can be done: for every step, in order, its check fails first (the learner cannot get it for free),
// its solution runs, and then its check passes. Optionally it also proves every way into a step that the page offers:
// "Start over" (the lesson's setup) followed by opening any step with its prerequisites done for the learner, each
// check failing again after the reset, and nothing outside the lesson touched by it. Pure: the guest is whatever
// runs a shell script, so the same logic runs against the real guest (scripts/lessons.ts) and a fake in unit tests.
import { type Lesson, prerequisites, type Step } from "./format.ts";

/** What `sh -c script` in the guest printed and returned. */
export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a shell script in the guest, outside any container. */
export type RunScript = (script: string) => Promise<ScriptResult>;

export interface StepReport {
  step: Step;
  ok: boolean;
  /** Proved as the page opens a step directly (after Start over), not in the straight run. */
  direct?: boolean;
  /** What went wrong, with what the script printed. */
  failure?: string;
  /** Milliseconds: the check before, the solution, the check after (including its retries). */
  timings: { before: number; solution: number; after: number };
}

export interface LessonReport {
  lesson: Lesson;
  ok: boolean;
  /** Set when the lesson failed outside a step (the pre-pulls, the setup script, the bystander). */
  failure?: string;
  /** Milliseconds spent on the pre-pulls and the setup script. */
  prepareMs: number;
  steps: StepReport[];
  /** With `jumps`: each step proved again after "Start over", opened directly with its prerequisites done. */
  jumps: StepReport[];
}

/** Something outside the lesson that its reset must leave alone: made before the lesson, checked at the end. */
export interface Bystander {
  /** Makes it (run once, before the lesson's setup). */
  mark: string;
  /** Exits 0 while it is intact. */
  intact: string;
}

export interface VerifyOptions {
  /** Pulls the lesson's front-matter images into the engine before the first step. */
  pull?: (reference: string) => Promise<void>;
  /**
   * How long a check may take to start passing after its solution (the page keeps checking every few seconds, so a
   * learner would see it turn green within about this time). Default 5000 ms.
   */
  settleMs?: number;
  /** Pause between the retries of a check. Default 250 ms. */
  retryMs?: number;
  /** Longest a single script may run. Default 60000 ms. */
  scriptTimeoutMs?: number;
  /**
   * Also proves every step as the page opens it directly: after the lesson's setup ("Start over"), the setups and
   * solutions of the steps it needs, then its own setup; its check must fail, then pass after its solution.
   */
  jumps?: boolean;
  /** Also proves that the lesson's setup leaves this alone. */
  bystander?: Bystander;
  /** Called as each step ends, for live output. */
  onStep?: (report: StepReport) => void;
  /** Clock and sleep, replaceable in tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs a lesson's pre-pulls and setup, then proves each step: check fails, solution succeeds, check passes. Stops at
 * the first failing step (later steps build on it).
 * @example
 * const report = await verifyLesson(lesson, (script) => runInGuest(script), { pull: (ref) => images.pull(ref) });
 * if (!report.ok) console.error(report.failure ?? report.steps.at(-1)?.failure);
 */
export async function verifyLesson(lesson: Lesson, run: RunScript, options: VerifyOptions = {}): Promise<LessonReport> {
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const settleMs = options.settleMs ?? 5000;
  const retryMs = options.retryMs ?? 250;
  const timeoutMs = options.scriptTimeoutMs ?? 60_000;
  const runLimited = (script: string) => withTimeout(run(script), timeoutMs, script);

  const report: LessonReport = { lesson, ok: false, prepareMs: 0, steps: [], jumps: [] };
  const prepareStart = now();
  try {
    for (const image of lesson.images) {
      try {
        await options.pull?.(image);
      } catch (error) {
        report.failure = `${lesson.file}: the pre-pull of ${image} failed: ${message(error)}`;
        return report;
      }
    }
    if (options.bystander) {
      const marked = await runLimited(options.bystander.mark);
      if (marked.code !== 0) {
        report.failure = `${lesson.file}: the bystander could not be made (exit ${marked.code})${printed(marked)}`;
        return report;
      }
    }
    if (lesson.setup) {
      const setup = await runLimited(lesson.setup);
      if (setup.code !== 0) {
        report.failure = `${lesson.file}: the setup script exited ${setup.code}${printed(setup)}`;
        return report;
      }
    }
  } catch (error) {
    report.failure = `${lesson.file}: the setup script failed: ${message(error)}`;
    return report;
  } finally {
    report.prepareMs = now() - prepareStart;
  }

  /** Runs a script that must succeed; throws what it printed otherwise. */
  const must = async (what: string, script: string) => {
    const result = await runLimited(script);
    if (result.code !== 0) throw new Error(`${what} exited ${result.code}${printed(result)}`);
  };

  /** Proves one step from the state `before` leaves: its setup, check fails, solution, check passes. */
  const prove = async (step: Step, into: StepReport[], before?: () => Promise<void>): Promise<boolean> => {
    const where = `${lesson.file}:${step.line} (step "${step.title}"${before ? ", opened directly after Start over" : ""})`;
    const timings = { before: 0, solution: 0, after: 0 };
    const finish = (failure?: string) => {
      const stepReport: StepReport = {
        step,
        ok: !failure,
        timings,
        ...(before ? { direct: true } : {}),
        ...(failure ? { failure } : {}),
      };
      into.push(stepReport);
      options.onStep?.(stepReport);
      return stepReport.ok;
    };
    try {
      await before?.();
      if (step.setup) await must("the step's setup", step.setup.script);
      let start = now();
      const checked = await runLimited(step.check.script);
      timings.before = now() - start;
      if (checked.code === 0) {
        return finish(
          before
            ? `${where}: the check passes before the solution ran: Start over left this step done`
            : `${where}: the check passes before the solution ran, so the learner gets this step for free`,
        );
      }
      start = now();
      const solution = await runLimited(step.solution.script);
      timings.solution = now() - start;
      if (solution.code !== 0) return finish(`${where}: the solution exited ${solution.code}${printed(solution)}`);
      start = now();
      let after = await runLimited(step.check.script);
      while (after.code !== 0 && now() - start < settleMs) {
        await sleep(retryMs);
        after = await runLimited(step.check.script);
      }
      timings.after = now() - start;
      return finish(
        after.code === 0
          ? undefined
          : `${where}: the check still fails after the solution (exit ${after.code}, checked for ${Math.round(timings.after)} ms)${printed(after)}`,
      );
    } catch (error) {
      return finish(`${where}: ${message(error)}`);
    }
  };

  for (const step of lesson.steps) {
    if (!(await prove(step, report.steps))) return report;
  }
  if (options.jumps) {
    for (const step of lesson.steps) {
      const opened = await prove(step, report.jumps, async () => {
        if (!lesson.setup) throw new Error("the lesson has no setup, so Start over cannot clear what was done");
        await must("the lesson's setup (Start over)", lesson.setup);
        for (const needed of prerequisites(lesson, step)) {
          if (needed.setup) await must(`the setup of "${needed.title}"`, needed.setup.script);
          await must(`the solution of "${needed.title}" (a step it needs)`, needed.solution.script);
        }
      });
      if (!opened) return report;
    }
  }
  if (options.bystander) {
    const intact = await runLimited(options.bystander.intact);
    if (intact.code !== 0) {
      report.failure = `${lesson.file}: the lesson's setup touched something outside the lesson (exit ${intact.code})${printed(intact)}`;
      return report;
    }
  }
  report.ok = true;
  return report;
}

/**
 * One line per step and a verdict, for a terminal: `✓ 01-images… › Run a container  check 41 ms · solution 812 ms …`.
 * @example
 * for (const line of formatReport(report)) console.log(line);
 */
export function formatReport(report: LessonReport): string[] {
  const lines = [`${report.ok ? "✓" : "✗"} ${report.lesson.file}: ${report.lesson.title}`];
  if (report.lesson.images.length || report.lesson.setup) {
    lines.push(`    prepare (${report.lesson.images.join(", ") || "setup"}) ${ms(report.prepareMs)}`);
  }
  for (const step of report.steps) lines.push(...formatStep(step));
  if (report.jumps.length) lines.push("    opened directly, after Start over:");
  for (const step of report.jumps) lines.push(...formatStep(step));
  if (report.failure) lines.push(...report.failure.split("\n").map((l) => `    ${l}`));
  return lines;
}

/**
 * A step's line (`  ✓ Title  check 41 ms · solution 812 ms · check 40 ms`) and, if it failed, why.
 * @example
 * verifyLesson(lesson, run, { onStep: (step) => formatStep(step).forEach((l) => console.log(l)) });
 */
export function formatStep(report: StepReport): string[] {
  const t = report.timings;
  const lines = [
    `  ${report.ok ? "✓" : "✗"} ${report.step.title}  check ${ms(t.before)} · solution ${ms(t.solution)} · check ${ms(t.after)}`,
  ];
  if (report.failure) lines.push(...report.failure.split("\n").map((l) => `      ${l}`));
  return lines;
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

function printed(result: ScriptResult): string {
  const out = [
    result.stdout.trim() && `stdout: ${tail(result.stdout)}`,
    result.stderr.trim() && `stderr: ${tail(result.stderr)}`,
  ]
    .filter(Boolean)
    .join("\n");
  return out ? `; it printed:\n${out}` : " and printed nothing";
}

function tail(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > 2000 ? `…${trimmed.slice(-2000)}` : trimmed;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function withTimeout<T>(work: Promise<T>, ms: number, script: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const first = script.split("\n")[0] ?? "";
      reject(new Error(`the script \`${first}${script.includes("\n") ? " …" : ""}\` ran for more than ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
