// Small formatting helpers for the page.

/** `1536` → `1.5 KB` (decimal units, as `docker images` prints them). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The element with this id, of this type; a missing one is a bug in index.html. */
export function byId<T extends HTMLElement>(id: string, type: { new (): T }): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`index.html lacks #${id}`);
  return element;
}

/**
 * A custom property of the page's current theme (style.css), as its computed text: what xterm and Monaco are given.
 * @example
 * const background = cssVariable("--term-bg"); // "#0d1117" in the dark theme
 */
export function cssVariable(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/**
 * Ends the current main-thread task and resumes in a new one, so the page can paint and answer input between the
 * steps of its start-up (each step a short task instead of one long one). `scheduler.yield()` where the browser has
 * it (the rest runs ahead of other queued tasks), else a zero timeout.
 * @example
 * buildTerminal();
 * await yieldToPage();
 * buildPanels();
 */
export function yieldToPage(): Promise<void> {
  const scheduler = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler;
  if (typeof scheduler?.yield === "function") return scheduler.yield();
  return new Promise((resolve) => setTimeout(resolve, 0));
}
