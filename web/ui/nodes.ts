// The nodes bar above the terminal: the page's nodes (guests on one switch), which one the terminal's docker targets
// (its current context), a button that adds a node and one per node that removes it. `drydock node add|rm` in the
// terminal does the same; the bar follows either.
import * as Comlink from "comlink";
import type { NodesState, WorkerApi } from "../protocol.ts";
import { byId, errorMessage } from "./format.ts";

export class NodesView {
  readonly #api: Comlink.Remote<WorkerApi>;
  readonly #list = byId("node-list", HTMLUListElement);
  readonly #add = byId("node-add", HTMLButtonElement);
  readonly #status = byId("node-status", HTMLParagraphElement);
  readonly #announce: (text: string) => void;

  constructor(api: Comlink.Remote<WorkerApi>, announce: (text: string) => void) {
    this.#api = api;
    this.#announce = announce;
    this.#add.addEventListener("click", () => void this.#addNode());
  }

  /** Shows the nodes now and follows every change from here on (the engine must be ready). */
  async open(): Promise<void> {
    await this.#api.onNodesChanged(Comlink.proxy((state: NodesState) => this.#show(state)));
    this.#show(await this.#api.nodes());
    this.#add.disabled = false;
  }

  async #addNode(): Promise<void> {
    this.#add.disabled = true;
    this.#status.textContent = "Adding a node: restoring a guest in a worker of its own…";
    delete this.#status.dataset.tone;
    try {
      const node = await this.#api.addNode();
      this.#status.textContent = `${node.name} added in ${Math.round(node.addMs)} ms: docker context use ${node.name} targets it.`;
      this.#announce(`${node.name} added`);
    } catch (error) {
      this.#status.textContent = `Could not add a node: ${errorMessage(error)}`;
      this.#status.dataset.tone = "bad";
    } finally {
      this.#add.disabled = false;
    }
  }

  async #removeNode(name: string, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      await this.#api.removeNode(name);
      this.#status.textContent = `${name} removed: its guest stopped and its containers went with it.`;
      this.#announce(`${name} removed`);
    } catch (error) {
      button.disabled = false;
      this.#status.textContent = `Could not remove ${name}: ${errorMessage(error)}`;
      this.#status.dataset.tone = "bad";
    }
  }

  #show(state: NodesState): void {
    const items = state.nodes.map((node) => {
      const item = document.createElement("li");
      item.className = "node";
      item.dataset.node = node.name;
      const targeted = node.name === state.target;
      if (targeted) item.dataset.target = "true";
      const label = document.createElement("span");
      label.className = "node-name";
      label.textContent = node.name;
      const address = document.createElement("span");
      address.className = "node-address";
      address.textContent = node.address;
      item.title = `${node.name}: ${node.address}, containers in ${node.containers}, endpoint ${node.host}`;
      item.append(label, " ", address);
      if (targeted) {
        const badge = document.createElement("span");
        badge.className = "node-target";
        badge.textContent = "docker ←";
        item.prepend(badge, " ");
      }
      if (node.index !== 1) {
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "quiet node-remove";
        remove.textContent = "×";
        remove.setAttribute("aria-label", `Remove ${node.name}`);
        remove.addEventListener("click", () => void this.#removeNode(node.name, remove));
        item.append(" ", remove);
      }
      return item;
    });
    this.#list.replaceChildren(...items);
    const where = state.target ? state.target : "no node of this page";
    this.#list.setAttribute(
      "aria-label",
      `Nodes: ${state.nodes.map((node) => node.name).join(", ")}. The terminal's docker targets ${where} (context ${state.context}).`,
    );
    byId("node-context", HTMLSpanElement).textContent = `context ${state.context} → ${where}`;
    void this.#showMemory(items);
  }

  /** Each node's v86 memory (its guest's RAM and the emulator's own), in its chip's title and data-wasm-bytes. */
  async #showMemory(items: HTMLLIElement[]): Promise<void> {
    const memory = await this.#api.nodeMemory().catch(() => []);
    for (const { name, wasmBytes } of memory) {
      const item = items.find((candidate) => candidate.dataset.node === name);
      if (!item || wasmBytes === 0) continue;
      item.dataset.wasmBytes = String(wasmBytes);
      item.title += `, v86 memory ${(wasmBytes / 1024 / 1024).toFixed(0)} MiB`;
    }
  }
}
