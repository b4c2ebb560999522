// One program, two runtimes: runs an image's linux/386 build as a container in the guest and its wasi/wasm build as
// a WebAssembly module, and shows each run's time, exit code and output side by side.
import type * as Comlink from "comlink";
import type { RuntimeRun, WorkerApi } from "../protocol.ts";
import { byId, errorMessage } from "./format.ts";

const LABELS: Record<string, string> = { drydock: "Linux (i386, in the emulator)", wasi: "WASI (WebAssembly, native)" };

export class RuntimesView {
  readonly #api: Comlink.Remote<WorkerApi>;
  readonly #form = byId("runtimes-form", HTMLFormElement);
  readonly #reference = byId("runtimes-ref", HTMLInputElement);
  readonly #args = byId("runtimes-args", HTMLInputElement);
  readonly #status = byId("runtimes-status", HTMLParagraphElement);
  readonly #table = byId("runtimes-result", HTMLTableElement);
  readonly #pulled: () => void;

  /** `pulled` is told when both builds are stored (the image list shows them). */
  constructor(api: Comlink.Remote<WorkerApi>, pulled: () => void) {
    this.#api = api;
    this.#pulled = pulled;
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.#run();
    });
  }

  async #run(): Promise<void> {
    const reference = this.#reference.value.trim();
    if (!reference) {
      this.#status.textContent = "Name an image that has both a linux/386 and a wasi/wasm build.";
      return;
    }
    const args = this.#args.value.trim().split(/\s+/).filter(Boolean);
    const button = this.#form.querySelector("button") as HTMLButtonElement;
    button.disabled = true;
    this.#status.textContent = "Pulling both builds and running each…";
    this.#status.dataset.tone = "";
    try {
      const { linux, wasi } = await this.#api.compareRuntimes(reference, args);
      this.#pulled();
      this.#show([linux, wasi]);
      const ratio = linux.ms / Math.max(wasi.ms, 0.1);
      this.#status.textContent = `The WebAssembly run took ${ratio >= 1 ? `${ratio.toFixed(1)}× less` : `${(1 / ratio).toFixed(1)}× more`} time than the Linux one.`;
      this.#status.dataset.tone = "ok";
    } catch (error) {
      this.#status.textContent = `Could not run both: ${errorMessage(error)}`;
      this.#status.dataset.tone = "bad";
    } finally {
      button.disabled = false;
    }
  }

  #show(runs: RuntimeRun[]): void {
    const body = this.#table.tBodies[0]!;
    body.replaceChildren(
      ...runs.map((run) => {
        const row = document.createElement("tr");
        row.dataset.runtime = run.runtime;
        const cells = [LABELS[run.runtime] ?? run.runtime, `${Math.round(run.ms)} ms`, String(run.code)];
        for (const text of cells) {
          const cell = document.createElement("td");
          cell.textContent = text;
          row.append(cell);
        }
        const output = document.createElement("td");
        const pre = document.createElement("pre");
        pre.textContent = run.output;
        output.append(pre);
        row.append(output);
        return row;
      }),
    );
    this.#table.hidden = false;
  }
}
