// The file pane: open a guest file into Monaco and save it back, through drydockd's file requests. Monaco (editor.ts,
// ~0.8 MB compressed) is imported when the pane is first used (focus or pointer in it), not when the page is idle after
// the prompt: evaluating it is a 70-200 ms main-thread task, and in the second after the prompt that is the start's
// longest task (the page bench's goal is < 50 ms). Until it is there, or if it cannot load, the plain text area works.
import type * as Comlink from "comlink";
import type { WorkerApi } from "../protocol.ts";
import type { FileEditor } from "./editor.ts";
import { byId, errorMessage } from "./format.ts";

export class FilesView {
  readonly #pane = byId("files-pane", HTMLElement);
  readonly #form = byId("file-form", HTMLFormElement);
  readonly #path = byId("file-path", HTMLInputElement);
  readonly #text = byId("file-text", HTMLTextAreaElement);
  readonly #host = byId("file-editor", HTMLDivElement);
  readonly #save = byId("file-save", HTMLButtonElement);
  readonly #status = byId("file-status", HTMLParagraphElement);
  #editor: FileEditor | undefined;
  #loading: Promise<FileEditor | undefined> | undefined;
  readonly #api: Comlink.Remote<WorkerApi>;

  constructor(api: Comlink.Remote<WorkerApi>) {
    this.#api = api;
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.#open();
    });
    this.#save.addEventListener("click", () => void this.#saveFile());
    // Ctrl+S (Cmd+S) saves from anywhere in the pane, the editor included (captured ahead of Monaco).
    this.#pane.addEventListener(
      "keydown",
      (event) => {
        if (!(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey || event.key.toLowerCase() !== "s") {
          return;
        }
        event.preventDefault();
        event.stopPropagation();
        if (!this.#save.disabled) void this.#saveFile();
      },
      true,
    );
    // The first use of the pane loads the editor at once.
    const early = () => void this.loadEditor();
    this.#pane.addEventListener("focusin", early, { once: true });
    this.#pane.addEventListener("pointerdown", early, { once: true });
  }

  /** Enables the buttons (the guest is up). */
  enable(): void {
    for (const button of this.#form.querySelectorAll("button")) button.disabled = false;
  }

  /** Imports Monaco and puts it in place of the text area (once); undefined if it cannot load. */
  loadEditor(): Promise<FileEditor | undefined> {
    this.#loading ??= import("./editor.ts").then(
      // A task of its own for building the editor, apart from evaluating the module.
      ({ createEditor }) =>
        new Promise<FileEditor>((resolve) =>
          setTimeout(() => {
            const hadFocus = document.activeElement === this.#text;
            this.#host.hidden = false;
            const editor = createEditor(this.#host, this.#path.value.trim(), this.#text.value);
            this.#text.hidden = true;
            this.#editor = editor;
            this.#pane.dataset.editor = "monaco";
            if (hadFocus) editor.focus();
            resolve(editor);
          }, 0),
        ),
      (error: unknown) => {
        this.#say(`The editor could not load (${errorMessage(error)}); the plain text area stays.`, true);
        return undefined;
      },
    );
    return this.#loading;
  }

  /** Follows the page's theme (call after it changes). */
  applyTheme(): void {
    this.#editor?.applyTheme();
  }

  #value(): string {
    return this.#editor ? this.#editor.getValue() : this.#text.value;
  }

  async #open(): Promise<void> {
    const path = this.#path.value.trim();
    try {
      const bytes = await this.#api.readFile(path);
      const text = new TextDecoder().decode(bytes);
      this.#text.value = text;
      this.#editor?.open(path, text);
      this.#say(`Opened ${path} (${bytes.length} bytes).`);
    } catch (error) {
      this.#say(`Could not open ${path}: ${errorMessage(error)}`, true);
    }
  }

  async #saveFile(): Promise<void> {
    const path = this.#path.value.trim();
    try {
      const bytes = new TextEncoder().encode(this.#value());
      await this.#api.writeFile(path, bytes);
      this.#say(`Saved ${path} (${bytes.length} bytes).`);
    } catch (error) {
      this.#say(`Could not save ${path}: ${errorMessage(error)}`, true);
    }
  }

  #say(text: string, bad = false): void {
    this.#status.textContent = text;
    if (bad) this.#status.dataset.tone = "bad";
    else delete this.#status.dataset.tone;
  }
}
