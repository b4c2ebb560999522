// A plain file pane: open a guest file into a text area and save it back, through drydockd's file requests.
// (The issue asks for Monaco here; this is the lighter first pass.)
import type * as Comlink from "comlink";
import type { WorkerApi } from "../protocol.ts";
import { byId, errorMessage } from "./format.ts";

export class FilesView {
  readonly #form = byId("file-form", HTMLFormElement);
  readonly #path = byId("file-path", HTMLInputElement);
  readonly #text = byId("file-text", HTMLTextAreaElement);
  readonly #save = byId("file-save", HTMLButtonElement);
  readonly #status = byId("file-status", HTMLParagraphElement);

  constructor(api: Comlink.Remote<WorkerApi>) {
    this.#form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const path = this.#path.value.trim();
      try {
        const bytes = await api.readFile(path);
        this.#text.value = new TextDecoder().decode(bytes);
        this.#say(`Opened ${path} (${bytes.length} bytes).`);
      } catch (error) {
        this.#say(`Could not open ${path}: ${errorMessage(error)}`, true);
      }
    });
    this.#save.addEventListener("click", async () => {
      const path = this.#path.value.trim();
      try {
        const bytes = new TextEncoder().encode(this.#text.value);
        await api.writeFile(path, bytes);
        this.#say(`Saved ${path} (${bytes.length} bytes).`);
      } catch (error) {
        this.#say(`Could not save ${path}: ${errorMessage(error)}`, true);
      }
    });
  }

  enable(): void {
    for (const button of this.#form.querySelectorAll("button")) button.disabled = false;
  }

  #say(text: string, bad = false): void {
    this.#status.textContent = text;
    if (bad) this.#status.dataset.tone = "bad";
    else delete this.#status.dataset.tone;
  }
}
