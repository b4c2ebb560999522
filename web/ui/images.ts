// The pull view: a form that pulls an image through the registry proxy into the browser's storage, one progress bar
// per layer, the stored images (they survive a reload: OPFS), the storage used and a button to clear it.
import * as Comlink from "comlink";
import type { ImageSummary, LayerProgress, RegistryRepository, WorkerApi } from "../protocol.ts";
import { byId, errorMessage, formatBytes } from "./format.ts";

const STATUS_TEXT: Record<LayerProgress["status"], string> = {
  waiting: "Waiting",
  downloading: "Downloading",
  exists: "Already exists",
  complete: "Pull complete",
};

/** What the last check of the registry proxy found. */
export type ProxyState =
  | { state: "checking"; proxy: string }
  | { state: "up"; proxy: string }
  | { state: "down"; proxy: string; reason: string };

export class ImagesView {
  readonly #api: Comlink.Remote<WorkerApi>;
  readonly #form = byId("pull-form", HTMLFormElement);
  readonly #reference = byId("pull-ref", HTMLInputElement);
  readonly #layers = byId("layers", HTMLUListElement);
  readonly #list = byId("image-list", HTMLUListElement);
  readonly #registryHeading = byId("registry-heading", HTMLHeadingElement);
  readonly #registryList = byId("registry-list", HTMLUListElement);
  #subscribed = false;
  readonly #proxyStatus = byId("proxy-status", HTMLParagraphElement);
  readonly #storageUsed = byId("storage-used", HTMLElement);
  readonly #storageKind = byId("storage-kind", HTMLElement);
  readonly #clear = byId("clear-storage", HTMLButtonElement);
  readonly #export = byId("workspace-export", HTMLButtonElement);
  readonly #importButton = byId("workspace-import-button", HTMLButtonElement);
  readonly #importFile = byId("workspace-import", HTMLInputElement);
  readonly #workspaceStatus = byId("workspace-status", HTMLParagraphElement);
  readonly #pickDialog = byId("workspace-pick", HTMLDialogElement);
  readonly #pickFile = byId("workspace-pick-file", HTMLInputElement);
  readonly #pickChoose = byId("workspace-pick-choose", HTMLButtonElement);
  readonly #pickCancel = byId("workspace-pick-cancel", HTMLButtonElement);
  #pulling = false;
  #proxyOk = false;

  readonly #onProxy: (state: ProxyState) => void;

  /** `onProxy` hears each check of the registry proxy, so the page can show its state from every tab. */
  constructor(api: Comlink.Remote<WorkerApi>, onProxy: (state: ProxyState) => void = () => {}) {
    this.#api = api;
    this.#onProxy = onProxy;
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.pull(this.#reference.value.trim());
    });
    this.#clear.addEventListener("click", () => void this.#clearStorage());
    this.#export.addEventListener("click", () => void this.#exportWorkspace());
    this.#importButton.addEventListener("click", () => this.#importFile.click());
    this.#importFile.addEventListener("change", () => {
      const file = this.#importFile.files?.[0];
      if (file) void this.stageWorkspace(file);
      this.#importFile.value = "";
    });
  }

  #workspaceNote(text: string, tone?: "ok" | "bad"): void {
    this.#workspaceStatus.textContent = text;
    if (tone) this.#workspaceStatus.dataset.tone = tone;
    else delete this.#workspaceStatus.dataset.tone;
  }

  /** Offers a workspace file as a download. */
  #download(blob: Blob, name: string): void {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    this.#workspaceNote(`Exported ${formatBytes(blob.size)}: open it in another browser with Import….`, "ok");
  }

  /**
   * A workspace file for the terminal's `drydock workspace import`: the file picker at once while the keypress that
   * ran the command still lets the page open one, otherwise a dialog whose button opens it. Undefined if cancelled.
   */
  #pick(): Promise<File | undefined> {
    return new Promise((resolve) => {
      const done = (file: File | undefined) => {
        this.#pickFile.onchange = null;
        this.#pickFile.oncancel = null;
        this.#pickChoose.onclick = null;
        this.#pickCancel.onclick = null;
        if (this.#pickDialog.open) this.#pickDialog.close();
        this.#pickFile.value = "";
        resolve(file);
      };
      this.#pickFile.value = "";
      this.#pickFile.onchange = () => done(this.#pickFile.files?.[0]);
      this.#pickFile.oncancel = () => done(undefined);
      this.#pickChoose.onclick = () => this.#pickFile.click();
      this.#pickCancel.onclick = () => done(undefined);
      const activation = (navigator as Navigator & { userActivation?: { isActive: boolean } }).userActivation;
      if (activation?.isActive) this.#pickFile.click();
      else this.#pickDialog.showModal();
    });
  }

  /** Downloads everything the page keeps as one workspace tar (what `drydock workspace export` writes in Node). */
  async #exportWorkspace(): Promise<void> {
    this.#export.disabled = true;
    this.#workspaceNote("Saving the containers and writing the workspace…");
    try {
      const blob = await this.#api.exportWorkspace();
      this.#download(blob, `drydock-workspace-${new Date().toISOString().slice(0, 10)}.tar`);
    } catch (error) {
      this.#workspaceNote(`Could not export the workspace: ${errorMessage(error)}`, "bad");
    } finally {
      this.#export.disabled = false;
    }
  }

  /**
   * Keeps a workspace (a picked file, or one at a URL: `#workspace=<url>`) for the engine to import, then reloads the
   * page: the import happens before the engine reads its storage.
   */
  async stageWorkspace(source: File | { url: string }): Promise<boolean> {
    this.#importButton.disabled = true;
    this.#workspaceNote(source instanceof File ? `Reading ${source.name}…` : `Fetching ${source.url}…`);
    try {
      await this.#api.stageWorkspace(source);
      this.#workspaceNote("Importing: the page starts again with the workspace…");
      location.reload();
      return true;
    } catch (error) {
      this.#workspaceNote(`Could not import the workspace: ${errorMessage(error)}`, "bad");
      document.documentElement.dataset.workspace = "failed";
      this.#importButton.disabled = false;
      return false;
    }
  }

  /** Opens storage, checks the proxy and lists what is stored. */
  async open(proxy: string): Promise<void> {
    const { storage, workspace } = await this.#api.openImages(proxy);
    if (workspace) {
      if ("imported" in workspace) this.#workspaceNote(`Workspace ${workspace.imported}.`, "ok");
      else this.#workspaceNote(`The workspace was not imported: ${workspace.failed}`, "bad");
      document.documentElement.dataset.workspace = "imported" in workspace ? "imported" : "failed";
    }
    // Asked once: a persistent origin is not cleared by the browser when space runs low (only by the user).
    const persisted = storage === "opfs" ? await navigator.storage?.persist?.().catch(() => false) : false;
    this.#storageKind.textContent =
      storage !== "opfs"
        ? "kept in memory: OPFS is not available"
        : persisted
          ? "kept in this browser (OPFS, persistent: only you clear it)"
          : "kept in this browser (OPFS; the browser may clear it when space runs low)";
    this.#storageKind.dataset.persisted = String(Boolean(persisted));
    if (!this.#subscribed) {
      this.#subscribed = true;
      // The terminal's `drydock workspace export|import` downloads, picks files and reloads through the page.
      await this.#api.onWorkspacePage(
        Comlink.proxy({
          offer: async (blob: Blob, name: string) => this.#download(blob, name),
          pick: () => this.#pick(),
          restart: async () => {
            this.#workspaceNote("Importing: the page starts again with the workspace…");
            location.reload();
          },
        }),
      );
      // A push to the registry inside the engine (from the terminal, a lesson, a script) shows here at once.
      await this.#api.onRegistryEvent(Comlink.proxy(() => void this.refresh()));
    }
    await Promise.all([this.#checkProxy(proxy), this.refresh()]);
  }

  async #checkProxy(proxy: string): Promise<void> {
    this.#note("Checking the registry proxy…");
    this.#onProxy({ state: "checking", proxy });
    const result = await this.#api.checkProxy(proxy);
    this.#onProxy(result.ok ? { state: "up", proxy } : { state: "down", proxy, reason: result.reason });
    this.#proxyOk = result.ok;
    this.#submit().disabled = !result.ok;
    document.documentElement.dataset.proxy = result.ok ? "up" : "down";
    if (result.ok) this.#note(`Pulls go through the registry proxy at ${proxy}.`, "ok");
    else {
      this.#note(
        `The registry proxy is unreachable: ${result.reason}. Pulling is unavailable until it answers; the shell keeps working.`,
        "bad",
      );
    }
  }

  #submit(): HTMLButtonElement {
    return this.#form.querySelector("button[type=submit]") as HTMLButtonElement;
  }

  #note(text: string, tone?: "ok" | "bad"): void {
    this.#proxyStatus.textContent = text;
    if (tone) this.#proxyStatus.dataset.tone = tone;
    else delete this.#proxyStatus.dataset.tone;
  }

  async pull(reference: string): Promise<void> {
    if (!reference || this.#pulling) return;
    this.#pulling = true;
    this.#submit().disabled = true;
    this.#layers.replaceChildren();
    this.#note(`Pulling ${reference}…`);
    const rows = new Map<string, { bar: HTMLProgressElement; status: HTMLElement; item: HTMLLIElement }>();
    const onProgress = (p: LayerProgress) => {
      let row = rows.get(p.id);
      if (!row) {
        const item = document.createElement("li");
        const id = document.createElement("code");
        id.textContent = p.id;
        const bar = document.createElement("progress");
        bar.setAttribute("aria-label", `Layer ${p.id}`);
        const status = document.createElement("span");
        status.className = "layer-status";
        item.append(id, bar, status);
        this.#layers.append(item);
        row = { bar, status, item };
        rows.set(p.id, row);
      }
      row.item.dataset.status = p.status;
      row.bar.max = Math.max(p.total, 1);
      row.bar.value = p.status === "exists" || p.status === "complete" ? row.bar.max : p.done;
      row.status.textContent =
        p.status === "downloading" ? `${formatBytes(p.done)} / ${formatBytes(p.total)}` : STATUS_TEXT[p.status];
    };
    try {
      const result = await this.#api.pull(reference, Comlink.proxy(onProgress));
      this.#note(
        result.upToDate ? `${result.name}: image is up to date.` : `Pulled ${result.name}. Layers verified and stored.`,
        "ok",
      );
    } catch (error) {
      this.#note(`Pull of ${reference} failed: ${errorMessage(error)}`, "bad");
    } finally {
      this.#pulling = false;
      this.#submit().disabled = !this.#proxyOk;
      await this.refresh();
    }
  }

  async refresh(): Promise<void> {
    const [images, registry] = await Promise.all([this.#api.images(), this.#api.registry()]);
    this.#render(images);
    this.#renderRegistry(registry);
    const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
    const { usage, quota } = estimate ?? {};
    this.#storageUsed.textContent =
      usage === undefined
        ? "unknown"
        : quota === undefined
          ? formatBytes(usage)
          : `${formatBytes(usage)} (${formatBytes(Math.max(0, quota - usage))} free)`;
  }

  #render(images: ImageSummary[]): void {
    if (!images.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No images stored yet.";
      this.#list.replaceChildren(empty);
      return;
    }
    this.#list.replaceChildren(
      ...images.map((image) => {
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.className = "name";
        const label = image.repoTags.join(", ") || image.id.slice(7, 19);
        // Break long names after a slash, not inside a word.
        for (const [i, part] of label.split("/").entries()) {
          if (i > 0) name.append("/", document.createElement("wbr"));
          name.append(part);
        }
        const meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = `${image.id.slice(7, 19)} · ${formatBytes(image.size)}`;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "quiet";
        remove.textContent = "Remove";
        remove.setAttribute("aria-label", `Remove ${label}`);
        remove.addEventListener("click", async () => {
          remove.disabled = true;
          await this.#api.removeImage(image.id).catch((error: unknown) => this.#note(errorMessage(error), "bad"));
          await this.refresh();
        });
        item.append(name, meta, remove);
        return item;
      }),
    );
  }

  /** The registry inside the engine: each repository's tags with digest and size, what `docker push` put there. */
  #renderRegistry(registry: { host: string; repositories: RegistryRepository[] } | undefined): void {
    this.#registryHeading.hidden = registry === undefined;
    this.#registryList.hidden = registry === undefined;
    if (!registry) return;
    this.#registryHeading.textContent = `Registry in this tab (${registry.host})`;
    const tags = registry.repositories.flatMap((repository) =>
      repository.tags.map((tag) => ({ repository: repository.name, ...tag })),
    );
    if (!tags.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = `Nothing pushed yet: docker tag busybox ${registry.host}/mine && docker push ${registry.host}/mine`;
      this.#registryList.replaceChildren(empty);
      return;
    }
    this.#registryList.replaceChildren(
      ...tags.map((tag) => {
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = `${registry.host}/${tag.repository}:${tag.tag}`;
        const meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = `${tag.digest.slice(0, 19)}… · ${formatBytes(tag.size)}`;
        meta.title = tag.digest;
        item.append(name, meta);
        return item;
      }),
    );
  }

  async #clearStorage(): Promise<void> {
    this.#clear.disabled = true;
    try {
      await this.#api.clearImages();
      this.#layers.replaceChildren();
      this.#note("Storage cleared.", "ok");
    } catch (error) {
      this.#note(`Could not clear storage: ${errorMessage(error)}`, "bad");
    } finally {
      this.#clear.disabled = false;
      await this.refresh();
    }
  }
}
