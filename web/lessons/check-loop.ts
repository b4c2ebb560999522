// When a step's check runs in the page: on demand, shortly after the learner presses Enter, and every few seconds while
// the step is open. Never two at once: a request made while a check runs is remembered and served right after it, so
// a slow guest never piles checks up.

export interface CheckLoopOptions {
  /** Runs the check once; true when it passed. */
  check: () => Promise<boolean>;
  /** Called after every run with its outcome (an error counts as not passed). */
  onResult: (passed: boolean, error?: unknown) => void;
  /** Called when a run starts. */
  onStart?: () => void;
  /** Milliseconds between checks while nothing else asks for one. Default 3000. */
  intervalMs?: number;
  /** Timers, replaceable in tests. */
  setTimeout?: (callback: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/**
 * Runs a check repeatedly and on request, one run at a time, until it passes or is stopped.
 * @example
 * const loop = new CheckLoop({ check: async () => (await api.runScript(step.check.script)).code === 0, onResult: show });
 * loop.start();
 * terminal.onData((d) => d.includes("\r") && loop.request(400));
 */
export class CheckLoop {
  private running = false;
  private pending = false;
  private stopped = true;
  private passed = false;
  private timer: unknown;
  private readonly intervalMs: number;
  private readonly setTimer: (callback: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly options: CheckLoopOptions) {
    this.intervalMs = options.intervalMs ?? 3000;
    this.setTimer = options.setTimeout ?? ((callback, ms) => globalThis.setTimeout(callback, ms));
    this.clearTimer = options.clearTimeout ?? ((handle) => globalThis.clearTimeout(handle as number));
  }

  /**
   * Checks now, then every interval.
   * @example
   * loop.start();
   */
  start(): void {
    this.stopped = false;
    this.request(0);
  }

  /**
   * Asks for a check in `delayMs` (sooner than the next periodic one); while one runs, it follows right after.
   * @example
   * loop.request(400); // the learner just pressed Enter
   */
  request(delayMs = 0): void {
    if (this.stopped || this.passed) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    this.schedule(delayMs);
  }

  /**
   * No more checks (the step was left or passed).
   * @example
   * loop.stop();
   */
  stop(): void {
    this.stopped = true;
    this.clearTimer(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.clearTimer(this.timer);
    this.timer = this.setTimer(() => void this.run(), ms);
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    if (this.stopped || this.passed || this.running) return;
    this.running = true;
    this.pending = false;
    this.options.onStart?.();
    let passed = false;
    let failure: unknown;
    try {
      passed = await this.options.check();
    } catch (error) {
      failure = error;
    }
    this.running = false;
    if (this.stopped) return;
    this.passed = passed;
    this.options.onResult(passed, failure);
    if (passed || this.stopped) return;
    this.schedule(this.pending ? 0 : this.intervalMs);
  }
}
