// The Ports view: each published port of each running container, with a link that opens the app in a preview tab
// (`/preview/<hostPort>/`, answered by the preview service worker). It refreshes as containers start and stop.
import * as Comlink from "comlink";
import { PREVIEW_PATH } from "../preview/wire.ts";
import type { PublishedPort, WorkerApi } from "../protocol.ts";
import { byId, errorMessage } from "./format.ts";

export class PortsView {
  readonly #api: Comlink.Remote<WorkerApi>;
  readonly #list = byId("port-list", HTMLUListElement);
  readonly #status = byId("ports-status", HTMLParagraphElement);
  readonly #beforeOpen: () => void;
  #refreshing: Promise<void> | undefined;
  #again = false;

  /** `beforeOpen` runs as a preview link is followed (the page hands its engine to the service worker then). */
  constructor(api: Comlink.Remote<WorkerApi>, beforeOpen: () => void) {
    this.#api = api;
    this.#beforeOpen = beforeOpen;
  }

  /** Lists the ports now and follows container events from here on. */
  async open(): Promise<void> {
    await this.#api.onContainersChanged(Comlink.proxy(() => void this.refresh()));
    await this.refresh();
  }

  /** Reads the ports again (one read at a time; a change during a read causes one more). */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      do {
        this.#again = false;
        try {
          this.#show(await this.#api.publishedPorts());
        } catch (error) {
          this.#status.textContent = `Could not list the ports: ${errorMessage(error)}`;
          this.#status.dataset.tone = "bad";
        }
      } while (this.#again);
    })().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  #show(ports: PublishedPort[]): void {
    delete this.#status.dataset.tone;
    this.#status.textContent = ports.length ? `${ports.length} published port${ports.length === 1 ? "" : "s"}.` : "";
    if (!ports.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.append("No published ports. Start a web server with one, for example ");
      const code = document.createElement("code");
      code.textContent = "docker run -d -p 8080:80 nginx";
      empty.append(code, ".");
      this.#list.replaceChildren(empty);
      return;
    }
    this.#list.replaceChildren(...ports.map((port) => this.#row(port)));
  }

  #row(port: PublishedPort): HTMLLIElement {
    const item = document.createElement("li");
    item.dataset.hostPort = String(port.hostPort);
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = port.name;
    const mapping = document.createElement("span");
    mapping.className = "meta";
    mapping.textContent = `${port.hostIp}:${port.hostPort} → ${port.containerPort}/${port.protocol} · ${port.image}`;
    item.append(name, mapping);
    if (port.protocol === "tcp") {
      const link = document.createElement("a");
      link.href = new URL(`${import.meta.env.BASE_URL}${PREVIEW_PATH}${port.hostPort}/`, location.href).href;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = "Open";
      link.setAttribute("aria-label", `Open port ${port.hostPort} of ${port.name} in a new tab`);
      link.addEventListener("click", () => this.#beforeOpen());
      item.append(link);
    }
    return item;
  }
}
