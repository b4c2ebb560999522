// Drydock for other sites: a module another page loads with one <script type="module">, giving the
// `<drydock-terminal>` element and a small API (`boot`, `spawn`, `docker`). The guest's files, the worker and the
// registry proxy default to the place this module was loaded from, so an embedding page needs no configuration.
import guest from "virtual:drydock-guest";
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import xtermCss from "@xterm/xterm/css/xterm.css?inline";
import * as Comlink from "comlink";
import wasmUrl from "v86/build/v86.wasm?url";
import type { ProcessSink, WorkerApi } from "../protocol.ts";
import lessonsCss from "../ui/lessons.css?inline";
import workerUrl from "../worker.ts?worker&url";

export interface BootOptions {
  /**
   * Where the guest's files, the emulator and the worker are: by default the site this module came from. A URL of
   * the built site (`https://drydock.example/`).
   */
  assets?: string;
  /** The registry proxy pulls go through; default: `<assets>registry`. */
  proxy?: string;
  /** Hears the start-up download's progress (bytes so far, bytes in all). */
  onProgress?: (loaded: number, total: number) => void;
}

/** A process in the guest, as a stream of bytes each way. */
export interface DrydockProcess {
  /** What it writes (stdout, and stderr too on a pty). */
  output: ReadableStream<Uint8Array>;
  /** What it reads. Closing it closes the process's stdin. */
  input: WritableStream<Uint8Array>;
  /** Its exit code. */
  exit: Promise<number>;
  resize(rows: number, cols: number): void;
  kill(signal?: number): void;
}

/** A booted guest, with its engine serving Docker. */
export interface Drydock {
  /**
   * Starts `command` with `args` in the guest (outside any container), on a pty of `pty`'s size if given.
   * @example
   * const sh = await drydock.spawn("sh", ["-c", "uname -r"]);
   * console.log(await new Response(sh.output).text()); // "6.1.0\n"
   */
  spawn(command: string, args?: string[], options?: { pty?: { rows: number; cols: number } }): Promise<DrydockProcess>;
  /**
   * Runs `docker ARGS…` in the guest and collects what it printed.
   * @example
   * const { code, output } = await drydock.docker(["run", "--rm", "busybox", "echo", "hi"]); // 0, "hi\n"
   */
  docker(args: string[]): Promise<{ code: number; output: string }>;
  /**
   * Hears the guest fail (`fault`, with what the engine saw) and come back (`restarted`); returns the unsubscribe.
   * @example
   * drydock.on("fault", (message) => console.warn(message));
   */
  on(event: "fault" | "restarted", listener: (message: string) => void): () => void;
  /** Starts a fresh guest from the saved state (images, volumes and containers kept; running ones exited, processes gone); one restart at a time. */
  restart(): Promise<void>;
  /** The worker's API, for what the helpers above do not cover. */
  api: Comlink.Remote<WorkerApi>;
}

const booted = new Map<string, Promise<Drydock>>();

/** The default: where this module itself was served from (its folder's parent: the built site's root). */
function defaultAssets(): string {
  return new URL("../", import.meta.url).href;
}

/**
 * A worker from `url`. A page on another origin may not start a worker from this module's origin directly, so it
 * starts a module worker of its own that imports the real one (the import is a CORS request).
 */
function startWorker(url: URL): Worker {
  if (url.origin === location.origin) return new Worker(url, { type: "module" });
  const shim = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: "text/javascript" }));
  return new Worker(shim, { type: "module" });
}

/**
 * Boots a guest (once per `assets` location: later calls share it) and opens image storage behind the proxy.
 * @example
 * import { boot } from "https://drydock.example/embed/drydock.js";
 * const drydock = await boot();
 * const { output } = await drydock.docker(["run", "--rm", "busybox", "echo", "hello from a container"]);
 */
export function boot(options: BootOptions = {}): Promise<Drydock> {
  const assets = new URL(options.assets ?? defaultAssets(), location.href).href;
  let started = booted.get(assets);
  if (!started) {
    started = bootOnce(assets, options);
    booted.set(assets, started);
    started.catch(() => booted.delete(assets));
  }
  return started;
}

async function bootOnce(assets: string, options: BootOptions): Promise<Drydock> {
  const api = Comlink.wrap<WorkerApi>(startWorker(new URL(workerUrl, import.meta.url)));
  const at = (url: string) => new URL(url.replace(/^\//, ""), assets).href;
  const loaded = new Map<string, { loaded: number; total: number }>();
  const listeners = { fault: new Set<(message: string) => void>(), restarted: new Set<(message: string) => void>() };
  let restarting: Promise<void> | undefined;
  await api.start(
    {
      state: { ...guest.state, url: at(guest.state.url) },
      bios: { ...guest.bios, url: at(guest.bios.url) },
      vgaBios: { ...guest.vgaBios, url: at(guest.vgaBios.url) },
      wasmUrl: new URL(wasmUrl, import.meta.url).href,
      memoryMiB: guest.memoryMiB,
      timeOrigin: performance.timeOrigin,
    },
    Comlink.proxy({
      trace: () => {},
      fault: (message) => {
        console.error(`Drydock: the guest failed: ${message}`);
        for (const listener of listeners.fault) listener(message);
      },
      download: (progress) => {
        loaded.set(progress.file, progress);
        let sum = 0;
        let total = 0;
        for (const p of loaded.values()) {
          sum += p.loaded;
          total += p.total;
        }
        options.onProgress?.(sum, total);
      },
    }),
  );
  await api.openImages(new URL(options.proxy ?? "registry", assets).href);
  const spawn: Drydock["spawn"] = async (command, args = [], spawnOptions = {}) => {
    let output!: ReadableStreamDefaultController<Uint8Array>;
    let exited!: (code: number) => void;
    const exit = new Promise<number>((resolve) => {
      exited = resolve;
    });
    const sink: ProcessSink = {
      stdout: (bytes) => output.enqueue(bytes),
      stderr: (bytes) => output.enqueue(bytes),
      exit: (code) => {
        output.close();
        exited(code);
      },
    };
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        output = controller;
      },
    });
    const id = await api.spawn([command, ...args], spawnOptions, Comlink.proxy(sink));
    return {
      output: stream,
      input: new WritableStream<Uint8Array>({
        write: (bytes) => api.writeProcess(id, bytes),
        close: () => api.closeProcessInput(id),
      }),
      exit,
      resize: (rows, cols) => void api.resizeProcess(id, rows, cols),
      kill: (signal = 15) => void api.killProcess(id, signal),
    };
  };
  return {
    api,
    spawn,
    on(event, listener) {
      listeners[event].add(listener);
      return () => listeners[event].delete(listener);
    },
    restart() {
      restarting ??= api
        .restartGuest()
        .then(() => {
          for (const listener of listeners.restarted) listener("a fresh guest from the saved state");
        })
        .finally(() => {
          restarting = undefined;
        });
      return restarting;
    },
    async docker(args) {
      const process = await spawn("docker", args);
      await process.input.close();
      const output = await new Response(process.output).text();
      return { code: await process.exit, output };
    },
  };
}

let styled = false;
function addStyles(): void {
  if (styled) return;
  styled = true;
  const style = document.createElement("style");
  style.textContent = `${xtermCss}
drydock-terminal { display: block; position: relative; min-height: 12rem; background: #0d1117; color: #e6edf3;
  border-radius: 6px; padding: 6px; box-sizing: border-box; }
drydock-terminal .drydock-fault { margin-top: 6px; padding: 0.5rem 0.75rem; border-left: 4px solid #f85149;
  background: #2d1517; font: 14px/1.4 system-ui, sans-serif; }
drydock-terminal .drydock-fault p { margin: 0 0 0.4rem; }
drydock-terminal .drydock-fault button { font: inherit; font-weight: 600; background: #4493f8; color: #0d1117;
  border: 0; border-radius: 4px; padding: 0.25rem 0.8rem; cursor: pointer; }
drydock-terminal .drydock-status { position: absolute; inset: auto 10px 8px auto; font: 12px system-ui, sans-serif;
  color: #9da7b3; }
drydock-terminal .drydock-lesson {
  --bg: #f6f7f9; --pane: #fff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0b5cad;
  --accent-fg: #fff; --ok: #1a7f37; --warn: #9a6700; --bad: #c0262d; --term-bg: #fbfbfc; --term-fg: #1b1f24;
  --mono: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  background: var(--pane); color: var(--fg); font: 15px/1.45 system-ui, sans-serif; padding: 0.5rem 0.75rem;
  margin-top: 6px; border-radius: 4px; max-height: 24rem; overflow: auto; box-sizing: border-box;
  & * { box-sizing: border-box; }
  & .row { display: flex; align-items: center; gap: 0.5rem; }
  & button { font: inherit; background: var(--accent); color: var(--accent-fg); border: 1px solid var(--accent);
    border-radius: 4px; padding: 0.25rem 0.8rem; font-weight: 600; cursor: pointer; }
  & button.quiet { background: transparent; color: var(--fg); border-color: var(--line); font-weight: 500; }
  & button:disabled { opacity: 0.5; cursor: default; }
  & .note { color: var(--muted); font-size: 0.9rem; margin: 0.25rem 0; }
  & .present-toggle { display: none; }
  ${lessonsCss}
}`;
  document.head.append(style);
}

/**
 * `<drydock-terminal>`: a shell in a Drydock guest. Attributes: `command` (typed into the shell once it starts),
 * `pull` (images, space-separated, pulled before the command), `lesson` (a lesson of the course to show under the
 * terminal: its id, `04-namespaces`, or its name without the number, `namespaces`), `proxy` (the registry proxy's
 * URL), `assets` (where the built site is), `rows` (the height in lines).
 * Every terminal on a page shares one guest; each has its own shell.
 */
export class DrydockTerminal extends HTMLElement {
  #terminal: Terminal | undefined;
  #process: DrydockProcess | undefined;

  connectedCallback(): void {
    if (this.#terminal) return;
    addStyles();
    const rows = Number(this.getAttribute("rows") ?? 16);
    const host = document.createElement("div");
    host.style.height = `${rows * 1.2 + 0.5}em`;
    const status = document.createElement("p");
    status.className = "drydock-status";
    status.setAttribute("role", "status");
    status.textContent = "Starting Drydock…";
    this.append(host, status);
    const terminal = new Terminal({ rows, fontSize: 14, screenReaderMode: true, convertEol: false });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(host);
    fit.fit();
    this.#terminal = terminal;
    void this.#start(terminal, fit, status).catch((error: unknown) => {
      status.textContent = `Drydock could not start: ${error instanceof Error ? error.message : String(error)}`;
      this.dataset.state = "error";
    });
  }

  disconnectedCallback(): void {
    this.#process?.kill(9);
    this.#terminal?.dispose();
    this.#terminal = undefined;
  }

  async #start(terminal: Terminal, fit: FitAddon, status: HTMLElement): Promise<void> {
    const options: BootOptions = {
      onProgress: (loaded, total) => {
        status.textContent = `Downloading the machine: ${Math.round((100 * loaded) / Math.max(total, 1))}%`;
      },
    };
    const assets = this.getAttribute("assets");
    const proxy = this.getAttribute("proxy");
    if (assets) options.assets = assets;
    if (proxy) options.proxy = proxy;
    const drydock = await boot(options);
    for (const image of (this.getAttribute("pull") ?? "").split(/\s+/).filter(Boolean)) {
      status.textContent = `Pulling ${image}…`;
      const { code, output } = await drydock.docker(["pull", "-q", image]);
      if (code !== 0) terminal.write(`\x1b[31mcould not pull ${image}: ${output.trim()}\x1b[0m\r\n`);
    }
    const encoder = new TextEncoder();
    let input: WritableStreamDefaultWriter<Uint8Array> | undefined;
    terminal.onData((data) => void input?.write(encoder.encode(data)));
    terminal.onResize(({ rows, cols }) => this.#process?.resize(rows, cols));
    new ResizeObserver(() => fit.fit()).observe(this);
    const openShell = async (command: string | null) => {
      const shell = await drydock.spawn("sh", ["-l"], { pty: { rows: terminal.rows, cols: terminal.cols } });
      this.#process = shell;
      const writer = shell.input.getWriter();
      input = writer;
      // The command is typed at the shell's first prompt (typed earlier, the terminal would echo it twice).
      let waiting = true;
      let seen = "";
      const decoder = new TextDecoder();
      void shell.output.pipeTo(
        new WritableStream({
          write: (bytes) => {
            terminal.write(bytes);
            if (!waiting) return;
            seen = (seen + decoder.decode(bytes, { stream: true })).slice(-200);
            // The prompt, maybe followed by the shell's question to the terminal (where is the cursor?).
            if (!/[#$] $/.test(seen.replaceAll("\x1b[6n", ""))) return;
            waiting = false;
            status.textContent = "";
            this.dataset.state = "ready";
            if (command) void writer.write(encoder.encode(`${command}\r`));
          },
        }),
      );
      void shell.exit.then((code) => {
        if (this.#process === shell) terminal.write(`\r\n[the shell exited with code ${code}]\r\n`);
      });
    };
    await openShell(this.getAttribute("command"));
    // A guest that fails takes this shell with it: say so here, and offer the fresh guest (shared by every terminal).
    drydock.on("fault", (message) => this.#showFault(drydock, message, status));
    drydock.on("restarted", () => {
      this.querySelector(".drydock-fault")?.remove();
      terminal.write(
        "\r\n[a fresh guest from the saved state: images, volumes and containers kept; the running ones are exited]\r\n",
      );
      status.textContent = "";
      void openShell(null);
    });
    const lesson = this.getAttribute("lesson");
    if (lesson) await this.#showLesson(drydock, lesson, (text) => void input?.write(encoder.encode(text)));
  }

  #showFault(drydock: Drydock, message: string, status: HTMLElement): void {
    if (this.dataset.state === "failed") return;
    this.dataset.state = "failed";
    this.#process = undefined;
    const [headline = message] = message.split(/; its console ended with:/);
    this.#terminal?.write(`\r\n\x1b[31m[the guest failed: ${headline}]\x1b[0m\r\n`);
    const box = document.createElement("div");
    box.className = "drydock-fault";
    box.setAttribute("role", "alert");
    const text = document.createElement("p");
    text.textContent = `The guest machine failed: ${headline}. Its running containers stopped (kept as exited); images and volumes are kept.`;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Start a fresh guest";
    button.addEventListener("click", () => {
      button.disabled = true;
      button.textContent = "Starting a fresh guest…";
      drydock.restart().catch((error: unknown) => {
        button.disabled = false;
        button.textContent = "Start a fresh guest";
        text.textContent = `The restart failed: ${error instanceof Error ? error.message : String(error)}`;
      });
    });
    box.append(text, button);
    this.querySelector(".xterm")?.parentElement?.after(box);
    status.textContent = "";
  }

  async #showLesson(drydock: Drydock, name: string, type: (text: string) => void): Promise<void> {
    const [{ LessonsPanel }, { loadCourseInSlices }, { findLesson, unknownLessonMessage }] = await Promise.all([
      import("../ui/lessons.ts"),
      import("../lessons/course.ts"),
      import("../lessons/format.ts"),
    ]);
    const root = document.createElement("div");
    root.className = "drydock-lesson";
    this.append(root);
    const course = await loadCourseInSlices();
    // `lesson="namespaces"` as well as `lesson="04-namespaces"`; a name that is not a lesson says so, with the names.
    const lesson = findLesson(course.lessons, name);
    if (!lesson) {
      const problem = document.createElement("p");
      problem.className = "drydock-lesson-error";
      problem.setAttribute("role", "alert");
      problem.textContent = unknownLessonMessage(course.lessons, name);
      root.append(problem);
      return;
    }
    const panel = new LessonsPanel(root, {
      ...course,
      runScript: (script) => drydock.api.runScript(script),
      sendToShell: (text) => {
        type(text);
        this.#terminal?.focus();
      },
      pull: async (reference) => {
        await drydock.docker(["pull", "-q", reference]);
      },
      ready: Promise.resolve(),
      storage: localStorage,
    });
    panel.openLesson(lesson.id);
  }
}

if (!customElements.get("drydock-terminal")) customElements.define("drydock-terminal", DrydockTerminal);
