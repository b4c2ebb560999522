// The lessons panel beside the terminal: the course, then one lesson a step at a time. Command blocks type themselves
// into the terminal (copy blocks only copy, or type without running); the step's check runs in the guest on demand,
// shortly after each Enter and every few seconds, and the step turns green when it passes. Hints come one at a time,
// the solution behind a button, progress is kept in localStorage, and a finished lesson ends on its finish page. A
// step that needs others says so and can do them for the learner; a link (#lesson=…&step=…) opens a step with its
// setup done, and the presenter's mode shows one step per screen with its solution, for a projector.
import { CheckLoop } from "../lessons/check-loop.ts";
import {
  type Lesson,
  type LessonError,
  prerequisites,
  renderMarkdown,
  type Step,
  type StepPart,
} from "../lessons/format.ts";
import { type KeyValueStorage, ProgressStore } from "../lessons/progress.ts";
import { errorMessage } from "./format.ts";

export interface LessonsPanelOptions {
  lessons: Lesson[];
  /** Lesson files that did not parse: listed, so an author sees them. */
  errors: LessonError[];
  /** `sh -c script` in the guest, outside containers. */
  runScript(script: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Types text into the terminal's shell (a trailing carriage return runs it). */
  sendToShell(text: string): void;
  /** Pulls an image into the engine the guest's docker uses. */
  pull(reference: string): Promise<void>;
  /** Settles once the shell runs and images can be pulled; nothing is checked before. */
  ready: Promise<void>;
  storage: KeyValueStorage;
  /** Milliseconds between checks while a step is open. Default 3000. */
  checkIntervalMs?: number;
  /** Called when the presenter's mode is turned on or off (the page enlarges the terminal). */
  onPresent?: (on: boolean) => void;
}

/** Where a link into the course points: `#lesson=04-namespaces&step=a-host-name-of-its-own`. */
export interface LessonLink {
  lesson: string;
  step?: string;
  /** `&present`: open in the presenter's mode. */
  present: boolean;
}

/**
 * Reads a link into the course from a URL's hash (`#lesson=ID&step=ID&present`); undefined when it names no lesson.
 * @example
 * const link = parseLessonLink(location.hash);
 */
export function parseLessonLink(hash: string): LessonLink | undefined {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const lesson = params.get("lesson");
  if (!lesson) return undefined;
  const step = params.get("step");
  return { lesson, ...(step ? { step } : {}), present: params.has("present") };
}

/** The page's address with this fragment opens the teacher's index: every lesson's steps with their solutions. */
export const TEACHER_INDEX_HASH = "#teacher";

/**
 * Whether a URL's hash asks for the teacher's index (`#teacher`).
 * @example
 * if (isTeacherIndexLink(location.hash)) panel.showIndex();
 */
export function isTeacherIndexLink(hash: string): boolean {
  return hash === TEACHER_INDEX_HASH;
}

/**
 * How a step stands in its lesson, for the teacher's index: `undefined` for the usual straight line (it needs the
 * step before it), else which steps it builds on or that it stands alone.
 * @example
 * stepNeedsNote(lesson, lesson.steps[4]!); // "stands alone"
 */
export function stepNeedsNote(lesson: Lesson, step: Step): string | undefined {
  const index = lesson.steps.indexOf(step);
  const before = lesson.steps[index - 1];
  if (before && step.needs.length === 1 && step.needs[0] === before.id) return undefined;
  if (!before && step.needs.length === 0) return undefined;
  if (step.needs.length === 0) return "stands alone";
  const titles = step.needs.map((id) => lesson.steps.find((s) => s.id === id)?.title ?? id);
  return `builds on ${titles.map((t) => `“${t}”`).join(", ")}`;
}

/**
 * The link that opens `lesson` at `step` with its setup done.
 * @example
 * navigator.clipboard.writeText(lessonLink(location.href, lesson.id, step.id));
 */
export function lessonLink(page: string, lessonId: string, stepId: string, present = false): string {
  const url = new URL(page);
  url.hash = `lesson=${encodeURIComponent(lessonId)}&step=${encodeURIComponent(stepId)}${present ? "&present" : ""}`;
  return url.href;
}

/** After Enter, the command has usually finished (or at least started) by then. */
const AFTER_ENTER_MS = 400;
const OPEN_KEY = "drydock.lessons.open";
const PRESENT_KEY = "drydock.lessons.present";

type StepState = "waiting" | "checking" | "pending" | "done";

/**
 * Renders the course into `root` and runs the open step's check.
 * @example
 * const { lessons, errors } = loadCourse();
 * const panel = new LessonsPanel(byId("lessons", HTMLDivElement), { lessons, errors, runScript, sendToShell, pull,
 *   ready, storage: localStorage });
 * terminal.onData((data) => data.includes("\r") && panel.onEnter());
 */
export class LessonsPanel {
  readonly #root: HTMLElement;
  readonly #options: LessonsPanelOptions;
  readonly #progress: ProgressStore;
  #loop: CheckLoop | undefined;
  /** Bumped whenever the view changes, so late answers for a view that is gone are dropped. */
  #view = 0;
  #prepared = new Set<string>();
  /** Steps whose own setup ran since they were last opened fresh (`lesson/step`). */
  #setUp = new Set<string>();
  #present = false;
  /** The step on screen, for the presenter's keys. */
  #current: { lesson: Lesson; index: number } | undefined;

  constructor(root: HTMLElement, options: LessonsPanelOptions, link?: LessonLink) {
    this.#root = root;
    this.#options = options;
    this.#progress = new ProgressStore(options.storage);
    this.#root.ownerDocument.addEventListener("keydown", (event) => this.#presenterKey(event));
    if (link?.present || options.storage.getItem(PRESENT_KEY) === "1") this.present(true);
    const linked = link && options.lessons.find((l) => l.id === link.lesson);
    if (linked && link.step) {
      void this.openAt(linked.id, link.step);
      return;
    }
    const open = linked?.id ?? options.storage.getItem(OPEN_KEY);
    const lesson = options.lessons.find((l) => l.id === open);
    if (lesson) this.openLesson(lesson.id);
    else this.showCourse();
  }

  /**
   * The presenter's mode: one step per screen in large type with its solution shown, PageDown / PageUp (what a
   * clicker sends) to move between steps; the page enlarges the terminal through `onPresent`.
   * @example
   * panel.present(true);
   */
  present(on: boolean): void {
    this.#present = on;
    this.#options.storage.setItem(PRESENT_KEY, on ? "1" : "");
    this.#root.dataset.present = on ? "on" : "off";
    this.#options.onPresent?.(on);
    for (const solution of this.#root.querySelectorAll<HTMLDetailsElement>("details.solution")) solution.open = on;
    const toggle = this.#root.querySelector<HTMLButtonElement>("button.present-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", String(on));
  }

  /**
   * Opens `stepId` of a lesson as a link does: Start over (the lesson's setup), then the setups and solutions of the
   * steps it needs, then the step itself with its own setup. `npm run lessons -- --check` proves this path.
   * @example
   * await panel.openAt("04-namespaces", "a-host-name-of-its-own");
   */
  async openAt(lessonId: string, stepId: string): Promise<void> {
    const lesson = this.#options.lessons.find((l) => l.id === lessonId);
    const step = lesson?.steps.find((s) => s.id === stepId);
    if (!lesson || !step) {
      if (lesson) this.openLesson(lesson.id);
      else this.showCourse();
      return;
    }
    this.#options.storage.setItem(OPEN_KEY, lesson.id);
    this.#leave();
    const view = this.#view;
    const status = el("p", { className: "check-status", role: "status", textContent: "Waiting for the machine…" });
    this.#root.replaceChildren(el("h3", { className: "lesson-title", textContent: lesson.title }), status);
    const problem = await this.#prepare(lesson, (text) => {
      status.textContent = text;
    });
    if (view !== this.#view) return;
    if (problem) {
      status.textContent = problem;
      return;
    }
    this.#progress.reset(lesson.id);
    this.#setUp.clear();
    try {
      if (lesson.setup) {
        status.textContent = "Starting the lesson over…";
        await this.#mustRun(lesson.setup);
      }
      await this.#doFor(lesson, prerequisites(lesson, step), (text) => {
        status.textContent = text;
      });
    } catch (error) {
      status.textContent = `This step could not be set up: ${errorMessage(error)}`;
      return;
    }
    if (view === this.#view) this.#showStep(lesson, step);
  }

  /**
   * The learner pressed Enter in the terminal: check soon.
   * @example
   * terminal.onData((data) => data.includes("\r") && panel.onEnter());
   */
  onEnter(): void {
    this.#loop?.request(AFTER_ENTER_MS);
  }

  /**
   * Shows the list of lessons with each one's progress.
   * @example
   * panel.showCourse();
   */
  showCourse(): void {
    this.#leave();
    this.#options.storage.setItem(OPEN_KEY, "");
    const list = el("ol", { className: "course" });
    for (const lesson of this.#options.lessons) {
      const done = this.#progress.get(lesson.id).done.filter((id) => lesson.steps.some((s) => s.id === id)).length;
      const total = lesson.steps.length;
      const button = el("button", { type: "button", className: "course-lesson" }, [
        el("span", { className: "course-title", textContent: lesson.title }),
        el("span", { className: "course-summary", textContent: lesson.summary }),
        el("span", {
          className: "course-meta",
          textContent: `${lesson.minutes} min · ${done === total ? "done ✓" : `${done} of ${total} steps`}`,
        }),
      ]);
      button.dataset.lesson = lesson.id;
      if (done === total) button.dataset.state = "done";
      button.addEventListener("click", () => this.openLesson(lesson.id));
      list.append(el("li", {}, [button]));
    }
    const index = el("button", {
      type: "button",
      className: "quiet teacher-index-open",
      textContent: "Teacher's index",
    });
    index.title = "Every lesson's steps with their solutions and a link to each, for a class";
    index.addEventListener("click", () => this.showIndex());
    const children: HTMLElement[] = [el("div", { className: "row lesson-head" }, [index]), list];
    if (this.#options.errors.length) {
      children.push(
        el("div", { className: "lesson-errors", role: "alert" }, [
          el("p", { textContent: "These lesson files could not be read:" }),
          el(
            "ul",
            {},
            this.#options.errors.map((e) => el("li", {}, [el("code", { textContent: e.message })])),
          ),
        ]),
      );
    }
    this.#root.replaceChildren(...children);
  }

  /**
   * Opens a lesson at the step the learner was on (the first not done, for a new one).
   * @example
   * panel.openLesson("01-images-and-containers");
   */
  openLesson(lessonId: string): void {
    const lesson = this.#options.lessons.find((l) => l.id === lessonId);
    if (!lesson) {
      this.showCourse();
      return;
    }
    this.#options.storage.setItem(OPEN_KEY, lesson.id);
    const progress = this.#progress.get(lesson.id);
    const first = lesson.steps.find((s) => !progress.done.includes(s.id)) ?? lesson.steps[0]!;
    const current = lesson.steps.find((s) => s.id === progress.current) ?? first;
    this.#showStep(lesson, current);
  }

  #leave(): void {
    this.#loop?.stop();
    this.#loop = undefined;
    this.#current = undefined;
    this.#view++;
  }

  /** Runs a script in the guest that must succeed. */
  async #mustRun(script: string): Promise<void> {
    const result = await this.#options.runScript(script);
    if (result.code !== 0) {
      throw new Error(`a script exited ${result.code}: ${(result.stderr || result.stdout).trim().slice(-300)}`);
    }
  }

  /** Does `steps` for the learner, in order: each one's setup and solution; a step whose check then passes is done. */
  async #doFor(lesson: Lesson, steps: Step[], say: (text: string) => void): Promise<void> {
    for (const step of steps) {
      if (this.#progress.get(lesson.id).done.includes(step.id)) continue;
      say(`Doing "${step.title}" for you…`);
      if (step.setup) await this.#mustRun(step.setup.script);
      await this.#mustRun(step.solution.script);
      if ((await this.#options.runScript(step.check.script)).code === 0) this.#progress.markDone(lesson.id, step.id);
      else throw new Error(`"${step.title}" was done for you, but its check still fails`);
    }
  }

  #presenterKey(event: KeyboardEvent): void {
    const current = this.#current;
    if (!this.#present || !current || event.defaultPrevented) return;
    // Keys typed into the terminal or a form belong there.
    const target = event.target as HTMLElement | null;
    if (target?.closest(".terminal, input, textarea, .editor")) return;
    const move = event.key === "PageDown" ? 1 : event.key === "PageUp" ? -1 : 0;
    if (!move) return;
    event.preventDefault();
    const next = current.lesson.steps[current.index + move];
    if (next) this.#showStep(current.lesson, next);
    else if (move > 0) this.showFinish(current.lesson.id);
  }

  #showStep(lesson: Lesson, step: Step): void {
    this.#leave();
    const view = this.#view;
    this.#progress.setCurrent(lesson.id, step.id);
    const index = lesson.steps.indexOf(step);
    const done = () => this.#progress.get(lesson.id).done;

    const back = el("button", { type: "button", className: "quiet", textContent: "← All lessons" });
    back.addEventListener("click", () => this.showCourse());
    const startOver = el("button", { type: "button", className: "quiet", textContent: "Start over" });
    startOver.title = "Forget this lesson's progress and run its setup again (what other lessons made stays)";
    startOver.addEventListener("click", () => {
      this.#progress.reset(lesson.id);
      this.#prepared.delete(lesson.id);
      this.#setUp.clear();
      this.#showStep(lesson, lesson.steps[0]!);
    });
    const presentToggle = el("button", { type: "button", className: "quiet present-toggle", textContent: "Present" });
    presentToggle.title = "One step per screen in large type, with its solution: PageDown and PageUp move";
    presentToggle.setAttribute("aria-pressed", String(this.#present));
    presentToggle.addEventListener("click", () => this.present(!this.#present));
    const copyLink = el("button", { type: "button", className: "quiet", textContent: "Link to this step" });
    copyLink.title = "Copy a link that opens this step with everything before it done";
    copyLink.addEventListener("click", () => {
      const link = lessonLink(location.href, lesson.id, step.id, this.#present);
      void navigator.clipboard?.writeText(link).then(
        () => {
          copyLink.textContent = "Link copied";
        },
        () => {
          copyLink.textContent = "Copy failed: see the address bar";
          history.replaceState(null, "", link);
        },
      );
    });

    const dots = el(
      "ol",
      { className: "step-dots" },
      lesson.steps.map((s, i) => {
        const dot = el("button", { type: "button", textContent: String(i + 1) });
        dot.title = s.title;
        dot.setAttribute("aria-label", `Step ${i + 1}: ${s.title}${done().includes(s.id) ? " (done)" : ""}`);
        if (s === step) dot.setAttribute("aria-current", "step");
        if (done().includes(s.id)) dot.dataset.state = "done";
        dot.addEventListener("click", () => this.#showStep(lesson, s));
        return el("li", {}, [dot]);
      }),
    );

    const status = el("p", { className: "check-status", role: "status" });
    status.setAttribute("aria-live", "polite");
    const checkButton = el("button", { type: "button", textContent: "Check" });
    const next = el("button", {
      type: "button",
      textContent: index === lesson.steps.length - 1 ? "Finish →" : "Next step →",
    });
    next.addEventListener("click", () => {
      const following = lesson.steps[index + 1];
      if (following) this.#showStep(lesson, following);
      else this.showFinish(lesson.id);
    });
    const previous = el("button", { type: "button", className: "quiet", textContent: "← Previous" });
    previous.disabled = index === 0;
    previous.addEventListener("click", () => this.#showStep(lesson, lesson.steps[index - 1]!));

    const missing = () => step.needs.filter((id) => !done().includes(id));
    const needsBox = el("div", { className: "needs", role: "note" });
    const article = el("article", { className: "step" }, [
      el("h4", { textContent: step.title }),
      needsBox,
      ...this.#parts(step.parts),
      el("div", { className: "row check-row" }, [checkButton, status]),
      this.#hints(step),
      this.#solution(step),
      el("div", { className: "row step-actions" }, [previous, next]),
    ]);
    article.dataset.step = step.id;

    const setState = (state: StepState, text: string) => {
      article.dataset.state = state;
      status.textContent = text;
      next.classList.toggle("quiet", state !== "done");
    };

    this.#current = { lesson, index };
    const children: HTMLElement[] = [
      el("div", { className: "row lesson-head" }, [back, startOver, presentToggle, copyLink]),
      el("h3", { className: "lesson-title", textContent: lesson.title }),
      el("p", {
        className: "note",
        textContent: `Step ${index + 1} of ${lesson.steps.length} · ${lesson.minutes} min`,
      }),
      dots,
    ];
    if (lesson.intro.length) {
      const intro = el("details", { className: "intro" }, [
        el("summary", { textContent: "About this lesson" }),
        ...this.#parts(lesson.intro),
      ]);
      intro.open = index === 0 && done().length === 0;
      children.push(intro);
    }
    children.push(article);
    this.#root.replaceChildren(...children);
    this.#root.scrollTop = 0;

    if (done().includes(step.id)) {
      setState("done", "✓ Done");
      checkButton.disabled = true;
      return;
    }
    setState("waiting", "Waiting for the machine…");
    const loop = new CheckLoop({
      check: async () => (await this.#options.runScript(step.check.script)).code === 0,
      onStart: () => {
        if (article.dataset.state !== "pending") setState("checking", "Checking…");
      },
      onResult: (passed, error) => {
        if (view !== this.#view) return;
        if (passed) {
          this.#progress.markDone(lesson.id, step.id);
          dots.querySelector(`li:nth-child(${index + 1}) button`)?.setAttribute("data-state", "done");
          checkButton.disabled = true;
          setState("done", index === lesson.steps.length - 1 ? "✓ Done: that was the last step" : "✓ Done");
        } else {
          setState("pending", error ? `The check could not run: ${errorMessage(error)}` : "Not done yet");
        }
      },
      intervalMs: this.#options.checkIntervalMs ?? 3000,
    });
    this.#loop = loop;
    checkButton.addEventListener("click", () => loop.request(0));
    const say = (text: string) => {
      if (view === this.#view) setState("waiting", text);
    };
    /** The step's own setup, once per opening, then checking starts. */
    const begin = async () => {
      const key = `${lesson.id}/${step.id}`;
      if (step.setup && !this.#setUp.has(key)) {
        say("Setting up this step…");
        try {
          await this.#mustRun(step.setup.script);
          this.#setUp.add(key);
        } catch (error) {
          if (view === this.#view) setState("pending", `This step's setup failed: ${errorMessage(error)}`);
          return;
        }
      }
      if (view === this.#view) loop.start();
    };
    void this.#prepare(lesson, say).then(async (problem) => {
      if (view !== this.#view) return;
      if (problem) {
        setState("pending", problem);
        loop.start();
        return;
      }
      const needed = missing();
      if (!needed.length) return begin();
      const titles = needed.map((id) => lesson.steps.find((s) => s.id === id)?.title ?? id);
      const doIt = el("button", { type: "button", textContent: "Do them for me" });
      doIt.addEventListener("click", async () => {
        doIt.disabled = true;
        try {
          await this.#doFor(lesson, prerequisites(lesson, step), say);
        } catch (error) {
          if (view === this.#view) setState("pending", `Could not do the earlier steps: ${errorMessage(error)}`);
          doIt.disabled = false;
          return;
        }
        if (view !== this.#view) return;
        needsBox.replaceChildren();
        dots.querySelectorAll("button").forEach((dot, i) => {
          if (done().includes(lesson.steps[i]!.id)) dot.dataset.state = "done";
        });
        void begin();
      });
      needsBox.replaceChildren(
        el("p", {
          textContent: `This step builds on ${titles.map((t) => `"${t}"`).join(", ")}. Do ${needed.length > 1 ? "them" : "it"} first, or let the page do it.`,
        }),
        doIt,
      );
      setState("pending", "Waiting for the steps it builds on");
    });
  }

  /**
   * The teacher's index: every lesson with its time and images, each step with how it stands (straight on, building
   * on others, alone), its solution, and two links that open it with Start over and its needs done: for a learner's
   * screen and for the presenter's mode. The presenter's mode shows one step at a time; this shows the whole course.
   * @example
   * panel.showIndex();
   */
  showIndex(): void {
    this.#leave();
    this.#options.storage.setItem(OPEN_KEY, "");
    const back = el("button", { type: "button", className: "quiet", textContent: "← All lessons" });
    back.addEventListener("click", () => this.showCourse());
    const page = location.href.replace(/#.*$/, "");
    const sections = this.#options.lessons.map((lesson, position) => {
      const steps = el(
        "ol",
        { className: "index-steps" },
        lesson.steps.map((step) => {
          const open = el("a", { textContent: "Open" });
          open.href = lessonLink(page, lesson.id, step.id);
          open.setAttribute("aria-label", `Open “${step.title}” of ${lesson.title}`);
          const present = el("a", { textContent: "Present" });
          present.href = lessonLink(page, lesson.id, step.id, true);
          present.setAttribute("aria-label", `Present “${step.title}” of ${lesson.title}`);
          const note = stepNeedsNote(lesson, step);
          const item = el("li", {}, [
            el("div", { className: "row index-step-head" }, [
              el("span", { className: "index-step-title", textContent: step.title }),
              ...(note ? [el("span", { className: "note", textContent: `(${note})` })] : []),
              open,
              present,
            ]),
            el("pre", { className: "index-solution" }, [el("code", { textContent: step.solution.script.trim() })]),
          ]);
          item.dataset.step = step.id;
          return item;
        }),
      );
      const section = el("section", { className: "index-lesson" }, [
        el("h4", {
          textContent: `${String(position + 1).padStart(2, "0")} · ${lesson.title} · ${lesson.minutes} min`,
        }),
        el("p", {
          className: "note",
          textContent: `${lesson.summary}${lesson.images.length ? ` Pulls ${lesson.images.join(", ")}.` : ""}`,
        }),
        steps,
      ]);
      section.dataset.lesson = lesson.id;
      return section;
    });
    const article = el("article", { className: "teacher-index" }, [
      el("div", { className: "row lesson-head" }, [back]),
      el("h3", { className: "lesson-title", textContent: "Teacher's index" }),
      el("p", {
        textContent:
          "Every step of the course with its solution. Open starts a step for a learner's screen: Start over, then the steps it needs done; Present does the same in the presenter's mode, one step per screen. Send a link to a class and everyone starts from the same place.",
      }),
      ...sections,
    ]);
    this.#root.replaceChildren(article);
    this.#root.scrollTop = 0;
  }

  /**
   * The page a lesson ends on: what was learned, what is next, and any step not done yet.
   * @example
   * panel.showFinish("01-images-and-containers");
   */
  showFinish(lessonId: string): void {
    const lesson = this.#options.lessons.find((l) => l.id === lessonId);
    if (!lesson) {
      this.showCourse();
      return;
    }
    this.#leave();
    this.#options.storage.setItem(OPEN_KEY, lesson.id);
    const done = this.#progress.get(lesson.id).done;
    const left = lesson.steps.filter((s) => !done.includes(s.id));
    const position = this.#options.lessons.indexOf(lesson);
    const following = this.#options.lessons[position + 1];
    const back = el("button", { type: "button", className: "quiet", textContent: "← All lessons" });
    back.addEventListener("click", () => this.showCourse());
    const children: HTMLElement[] = [
      el("div", { className: "row lesson-head" }, [back]),
      el("h3", { className: "lesson-title", textContent: lesson.title }),
      el("p", {
        className: "finish-verdict",
        role: "status",
        textContent: left.length
          ? `${lesson.steps.length - left.length} of ${lesson.steps.length} steps done`
          : `✓ Lesson done: all ${lesson.steps.length} steps`,
      }),
    ];
    if (left.length) {
      children.push(
        el("p", { textContent: "Not done yet:" }),
        el(
          "ul",
          { className: "finish-left" },
          left.map((s) => {
            const open = el("button", { type: "button", className: "quiet", textContent: s.title });
            open.addEventListener("click", () => this.#showStep(lesson, s));
            return el("li", {}, [open]);
          }),
        ),
      );
    }
    children.push(...this.#parts(lesson.finish));
    const actions = el("div", { className: "row step-actions" });
    if (following) {
      const nextLesson = el("button", { type: "button", textContent: `Next lesson: ${following.title} →` });
      nextLesson.addEventListener("click", () => this.openLesson(following.id));
      actions.append(nextLesson);
    }
    children.push(actions);
    const article = el("article", { className: "finish" }, children);
    article.dataset.lesson = lesson.id;
    this.#root.replaceChildren(article);
    this.#root.scrollTop = 0;
  }

  /** Pulls the lesson's images and, for a fresh start, runs its setup; says what went wrong, if anything. */
  async #prepare(lesson: Lesson, say: (text: string) => void): Promise<string | undefined> {
    await this.#options.ready;
    if (this.#prepared.has(lesson.id)) return undefined;
    for (const image of lesson.images) {
      say(`Pulling ${image}…`);
      try {
        await this.#options.pull(image);
      } catch (error) {
        return `Could not pull ${image}: ${errorMessage(error)}. Check the registry proxy in the Images pane.`;
      }
    }
    if (lesson.setup && this.#progress.get(lesson.id).done.length === 0) {
      say("Clearing what an earlier attempt left…");
      try {
        await this.#options.runScript(lesson.setup);
      } catch (error) {
        return `The lesson's setup could not run: ${errorMessage(error)}`;
      }
    }
    this.#prepared.add(lesson.id);
    return undefined;
  }

  #parts(parts: StepPart[]): HTMLElement[] {
    return parts.map((part) => {
      if (part.kind === "prose") {
        const prose = el("div", { className: "prose" });
        prose.innerHTML = renderMarkdown(part.markdown);
        return prose;
      }
      if (part.kind === "copy") return this.#copyBlock(part.code);
      return this.#command(part.command);
    });
  }

  /** Code to read and adapt: copied, or typed into the terminal without pressing Enter, never run as it is. */
  #copyBlock(code: string): HTMLElement {
    const copy = el("button", { type: "button", className: "quiet", textContent: "Copy" });
    copy.setAttribute("aria-label", `Copy: ${code}`);
    copy.addEventListener("click", () => {
      void navigator.clipboard?.writeText(code).then(
        () => {
          copy.textContent = "Copied";
        },
        () => {
          copy.textContent = "Copy failed";
        },
      );
    });
    const type = el("button", { type: "button", className: "quiet", textContent: "Type, don't run" });
    type.setAttribute("aria-label", `Type into the terminal without running: ${code}`);
    // Lines after the first are typed as they are; only Enter is left to the learner.
    type.addEventListener("click", () => this.#options.sendToShell(code.replace(/\n/g, "\r")));
    const block = el("div", { className: "copy-block" }, [
      el("pre", {}, [el("code", { textContent: code })]),
      el("div", { className: "row" }, [copy, type]),
    ]);
    return block;
  }

  #command(command: string): HTMLElement {
    const button = el("button", { type: "button", className: "command" }, [
      el("code", { textContent: command }),
      el("span", { className: "run", textContent: "▶ Run" }),
    ]);
    button.setAttribute("aria-label", `Run in the terminal: ${command}`);
    button.addEventListener("click", () => {
      this.#options.sendToShell(`${command.replace(/\n/g, "\r")}\r`);
      this.onEnter();
    });
    return button;
  }

  #hints(step: Step): HTMLElement {
    const shown = el("div", { className: "hints" });
    const more = el("button", { type: "button", className: "quiet" });
    let revealed = 0;
    const label = () => {
      more.textContent = `Show a hint (${revealed + 1} of ${step.hints.length})`;
      more.hidden = revealed >= step.hints.length;
    };
    more.addEventListener("click", () => {
      const hint = el("div", { className: "hint prose" });
      hint.innerHTML = renderMarkdown(step.hints[revealed]!);
      shown.append(hint);
      revealed++;
      label();
    });
    label();
    return el("div", { className: "hint-box" }, [shown, more]);
  }

  #solution(step: Step): HTMLElement {
    const block = el("details", { className: "solution" }, [
      el("summary", { textContent: "Show the solution" }),
      this.#command(step.solution.script),
    ]);
    // A presenter has every solution at hand.
    block.open = this.#present;
    return block;
  }
}

type Props<K extends keyof HTMLElementTagNameMap> = Partial<
  Pick<HTMLElementTagNameMap[K], Extract<keyof HTMLElementTagNameMap[K], "className" | "textContent" | "type">>
> & { role?: string };

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props<K> = {},
  children: Node[] = [],
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  const { role, ...rest } = props;
  Object.assign(element, rest);
  if (role) element.setAttribute("role", role);
  element.append(...children);
  return element;
}
