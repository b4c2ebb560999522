// Where each learner is in each lesson, kept in the browser's localStorage so a reload (or tomorrow) resumes it.
// Steps are remembered by id (a slug of their title), so editing a lesson's prose keeps progress.

/** The part of the Storage interface used here (localStorage in the page, a Map in tests). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface LessonProgress {
  /** The step the learner has open. */
  current?: string;
  /** Steps whose check passed. */
  done: string[];
}

const KEY = "drydock.lessons.v1";

/**
 * Progress per lesson, saved on every change. Unreadable saved data counts as no progress.
 * @example
 * const progress = new ProgressStore(localStorage);
 * progress.markDone("01-images-and-containers", "run-your-first-container");
 */
export class ProgressStore {
  private readonly all: Record<string, LessonProgress>;

  constructor(private readonly storage: KeyValueStorage) {
    this.all = ProgressStore.read(storage);
  }

  /**
   * The saved progress of a lesson (empty when it was never opened).
   * @example
   * const { done } = progress.get(lesson.id);
   */
  get(lessonId: string): LessonProgress {
    const saved = this.all[lessonId];
    return { ...(saved?.current ? { current: saved.current } : {}), done: [...(saved?.done ?? [])] };
  }

  /**
   * Remembers which step is open.
   * @example
   * progress.setCurrent(lesson.id, step.id);
   */
  setCurrent(lessonId: string, stepId: string): void {
    this.update(lessonId, (p) => ({ ...p, current: stepId }));
  }

  /**
   * Records that a step's check passed.
   * @example
   * progress.markDone(lesson.id, step.id);
   */
  markDone(lessonId: string, stepId: string): void {
    this.update(lessonId, (p) => (p.done.includes(stepId) ? p : { ...p, done: [...p.done, stepId] }));
  }

  /**
   * Forgets a lesson's progress ("Start over").
   * @example
   * progress.reset(lesson.id);
   */
  reset(lessonId: string): void {
    delete this.all[lessonId];
    this.save();
  }

  private update(lessonId: string, change: (progress: LessonProgress) => LessonProgress): void {
    this.all[lessonId] = change(this.get(lessonId));
    this.save();
  }

  private save(): void {
    try {
      this.storage.setItem(KEY, JSON.stringify(this.all));
    } catch {
      // Storage full or disabled (private mode): progress lasts until the page closes.
    }
  }

  private static read(storage: KeyValueStorage): Record<string, LessonProgress> {
    try {
      const parsed: unknown = JSON.parse(storage.getItem(KEY) ?? "{}");
      if (!parsed || typeof parsed !== "object") return {};
      const result: Record<string, LessonProgress> = {};
      for (const [id, value] of Object.entries(parsed)) {
        const { current, done } = (value ?? {}) as { current?: unknown; done?: unknown };
        result[id] = {
          ...(typeof current === "string" ? { current } : {}),
          done: Array.isArray(done) ? done.filter((d): d is string => typeof d === "string") : [],
        };
      }
      return result;
    } catch {
      return {};
    }
  }
}
