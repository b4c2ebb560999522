// The lessons panel beside the terminal: the course, then one lesson a step at a time. Command blocks type themselves
// into the terminal; the step's check runs in the guest on demand, shortly after each Enter and every few seconds,
// and the step turns green when it passes. Hints come one at a time, the solution behind a button, and progress is
// kept in localStorage.
import { CheckLoop } from "../lessons/check-loop.ts";
import { type Lesson, type LessonError, renderMarkdown, type Step, type StepPart } from "../lessons/format.ts";
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
}

/** After Enter, the command has usually finished (or at least started) by then. */
const AFTER_ENTER_MS = 400;
const OPEN_KEY = "drydock.lessons.open";

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

  constructor(root: HTMLElement, options: LessonsPanelOptions) {
    this.#root = root;
    this.#options = options;
    this.#progress = new ProgressStore(options.storage);
    const open = options.storage.getItem(OPEN_KEY);
    const lesson = options.lessons.find((l) => l.id === open);
    if (lesson) this.openLesson(lesson.id);
    else this.showCourse();
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
    const children: HTMLElement[] = [list];
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
    this.#view++;
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
    startOver.title = "Forget this lesson's progress and run its setup again";
    startOver.addEventListener("click", () => {
      this.#progress.reset(lesson.id);
      this.#prepared.delete(lesson.id);
      this.#showStep(lesson, lesson.steps[0]!);
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
      textContent: index === lesson.steps.length - 1 ? "Back to all lessons" : "Next step →",
    });
    next.addEventListener("click", () => {
      const following = lesson.steps[index + 1];
      if (following) this.#showStep(lesson, following);
      else this.showCourse();
    });
    const previous = el("button", { type: "button", className: "quiet", textContent: "← Previous" });
    previous.disabled = index === 0;
    previous.addEventListener("click", () => this.#showStep(lesson, lesson.steps[index - 1]!));

    const article = el("article", { className: "step" }, [
      el("h4", { textContent: step.title }),
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

    const children: HTMLElement[] = [
      el("div", { className: "row lesson-head" }, [back, startOver]),
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
    void this.#prepare(lesson, (text) => {
      if (view === this.#view) setState("waiting", text);
    }).then((problem) => {
      if (view !== this.#view) return;
      if (problem) setState("pending", problem);
      loop.start();
    });
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
      return this.#command(part.command);
    });
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
