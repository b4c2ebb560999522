// The trace panel: a list of {time, kind, text}, appended once per frame and capped, following the newest line
// unless the reader has scrolled up.
import type { TraceEntry } from "../protocol.ts";

const MAX_LINES = 2000;

export class TracePanel {
  readonly #list: HTMLOListElement;
  #pending: TraceEntry[] = [];
  #scheduled = false;

  /** Follow new lines until the reader scrolls up; follow again once they scroll back to the end. */
  #follow = true;

  constructor(list: HTMLOListElement) {
    this.#list = list;
    // Only a scroll upwards stops following: the panel shrinking (which also fires scroll events) does not.
    let lastTop = 0;
    list.addEventListener("scroll", () => {
      const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
      if (atEnd) this.#follow = true;
      else if (list.scrollTop < lastTop) this.#follow = false;
      lastTop = list.scrollTop;
    });
    // The panel shrinks when the images above it grow: stay at the end.
    new ResizeObserver(() => {
      if (this.#follow) list.scrollTop = list.scrollHeight;
    }).observe(list);
  }

  add(entry: TraceEntry): void {
    this.#pending.push(entry);
    if (this.#scheduled) return;
    this.#scheduled = true;
    requestAnimationFrame(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const list = this.#list;
    const fragment = document.createDocumentFragment();
    for (const entry of this.#pending) {
      const item = document.createElement("li");
      const time = document.createElement("time");
      time.textContent = `${(entry.time / 1000).toFixed(3)}s`;
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.dataset.kind = entry.kind;
      kind.textContent = entry.kind;
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = entry.text;
      text.title = entry.text;
      item.append(time, kind, text);
      fragment.append(item);
    }
    this.#pending = [];
    list.append(fragment);
    while (list.childElementCount > MAX_LINES) list.firstElementChild?.remove();
    if (this.#follow) list.scrollTop = list.scrollHeight;
  }
}
