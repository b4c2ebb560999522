// The playground's main thread: it only renders. The worker (worker.ts) downloads the saved machine, restores it in
// v86 and runs the engine; this side shows the terminal, the pull view, the file pane and the trace.

// biome-ignore assist/source/organizeImports: start.ts must be evaluated first, ahead of the terminal's modules.
import { api, attachSink, started, workerStartedAt } from "./start.ts";
import * as Comlink from "comlink";
import type { DownloadProgress, TraceEntry } from "./protocol.ts";
import { FilesView } from "./ui/files.ts";
import { byId, errorMessage, formatBytes, yieldToPage } from "./ui/format.ts";
import { ImagesView, type ProxyState } from "./ui/images.ts";
import { NodesView } from "./ui/nodes.ts";
import { PortsView } from "./ui/ports.ts";
import { ENGINE_OFFER, ENGINE_WANTED } from "./preview/wire.ts";
import { RuntimesView } from "./ui/runtimes.ts";
import type { LessonsPanel } from "./ui/lessons.ts";
import { createTerminal } from "./ui/terminal.ts";
import { TracePanel } from "./ui/trace.ts";

const root = document.documentElement;
const status = byId("status", HTMLParagraphElement);
const banner = byId("banner", HTMLDivElement);
const start = byId("start", HTMLDivElement);
const startLabel = byId("start-label", HTMLLabelElement);
const startProgress = byId("start-progress", HTMLProgressElement);
const trace = new TracePanel(byId("trace", HTMLOListElement));
const announcer = byId("announce", HTMLParagraphElement);

/** Says `text` to a screen reader (an assertive live region), once. */
function announce(text: string): void {
  announcer.textContent = "";
  requestAnimationFrame(() => {
    announcer.textContent = text;
  });
}

function addTrace(entry: TraceEntry): void {
  trace.add(entry);
}

function setStatus(text: string, state: "loading" | "ready" | "error"): void {
  status.textContent = text;
  status.dataset.state = state;
  root.dataset.state = state;
}

function fail(what: string, error: unknown): void {
  const message = `${what}: ${errorMessage(error)}`;
  setStatus("Not running", "error");
  banner.textContent = message;
  banner.hidden = false;
  start.dataset.state = "error";
  startLabel.textContent = "Not started: see the message above.";
  addTrace({ time: performance.now(), kind: "error", text: message });
  showPrompt();
}

// --- theme ---------------------------------------------------------------------------------------------------------
type Theme = "auto" | "light" | "dark";
const themeButton = byId("theme-toggle", HTMLButtonElement);
function applyTheme(theme: Theme): void {
  if (theme === "auto") delete root.dataset.theme;
  else root.dataset.theme = theme;
  themeButton.textContent = `Theme: ${theme}`;
  themeButton.setAttribute(
    "aria-label",
    theme === "auto" ? "Theme: auto, following the system. Switch to light" : `Theme: ${theme}. Switch`,
  );
}
let theme = (localStorage.getItem("drydock.theme") as Theme | null) ?? "auto";
applyTheme(theme);

/** Settles when the prompt is on screen (or the start failed): what is not needed for the prompt waits for it. */
let showPrompt: () => void = () => {};
const promptShown = new Promise<void>((resolve) => {
  showPrompt = resolve;
});

// --- start: download, restore, shell ---------------------------------------------------------------------------------
const totals = new Map<string, DownloadProgress>();
const onDownload = (progress: DownloadProgress) => {
  if (start.dataset.state === "error") return;
  totals.set(progress.file, progress);
  let loaded = 0;
  let total = 0;
  for (const p of totals.values()) {
    loaded += p.loaded;
    total += p.total;
  }
  startProgress.max = Math.max(total, 1);
  startProgress.value = loaded;
  startLabel.textContent = `Downloading the saved machine: ${formatBytes(loaded)} of ${formatBytes(total)}`;
};
attachSink({ trace: addTrace, download: onDownload, fault: (message) => onGuestFault(message) });
addTrace({ time: workerStartedAt, kind: "vm", text: "worker started" });

// xterm, then the panels, each in tasks of their own after the one that evaluated the modules: short tasks instead of
// one long one (on a first visit that was the page's longest main-thread task, 30–45 ms of CPU).
await yieldToPage();
const pageTerminal = await createTerminal(byId("terminal", HTMLDivElement), announce);
const { terminal } = pageTerminal;
await yieldToPage();
themeButton.addEventListener("click", () => {
  theme = theme === "auto" ? "light" : theme === "light" ? "dark" : "auto";
  localStorage.setItem("drydock.theme", theme);
  applyTheme(theme);
  pageTerminal.applyTheme();
  files.applyTheme();
});
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  pageTerminal.applyTheme();
  files.applyTheme();
});

const files = new FilesView(api);
const encoder = new TextEncoder();

/**
 * WebGL when the GPU draws it. A software WebGL (SwiftShader, as under --disable-gpu) is slower than xterm's DOM
 * renderer and blocks the main thread while it starts, so the worker probes first. `?renderer=dom` forces the DOM.
 */
async function chooseRenderer(): Promise<void> {
  const gl = await api.webglRenderer();
  const software = !gl || /swiftshader|llvmpipe|software/i.test(gl);
  const forced = new URLSearchParams(location.search).get("renderer") === "dom";
  const renderer = software || forced ? "dom" : await pageTerminal.enableWebgl();
  addTrace({ time: performance.now(), kind: "vm", text: `terminal renderer: ${renderer} (WebGL: ${gl ?? "none"})` });
}

/** Opens a login shell in the guest on the page's terminal; the first output is the prompt. */
async function connectShell(kernel: string, onPrompt: () => void): Promise<void> {
  let first = true;
  await api.openShell(
    terminal.rows,
    terminal.cols,
    Comlink.proxy({
      output: (bytes: Uint8Array) => {
        terminal.write(bytes);
        if (!first) return;
        first = false;
        setStatus(`Running · Linux ${kernel.split(" ")[0] ?? ""}`.trim(), "ready");
        onPrompt();
      },
      exit: (code: number) => {
        if (guestFailed) return;
        terminal.write(`\r\n[the shell exited with code ${code}; reload the page for a new one]\r\n`);
        setStatus("Shell exited", "error");
      },
    }),
  );
  pageTerminal.fit();
  void api.resizeShell(terminal.rows, terminal.cols);
}

async function startShell(): Promise<void> {
  let result: Awaited<typeof started>;
  try {
    result = await started;
  } catch (error) {
    fail("The machine could not start", error);
    return;
  }
  performance.mark("drydock:restored", { detail: { restoreMs: result.restoreMs } });
  // Where the start's time went, as performance measures (the benchmark prints them; so does DevTools).
  for (const step of result.steps ?? []) {
    performance.measure(`drydock:${step.name}`, { start: step.start, end: step.end });
  }
  startLabel.textContent = "Starting a shell…";
  terminal.onData((data) => {
    void api.writeShell(encoder.encode(data));
    if (data.includes("\r")) lessons?.onEnter();
  });
  terminal.onBinary((data) => void api.writeShell(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
  terminal.onResize(({ rows, cols }) => void api.resizeShell(rows, cols));
  const asked = performance.now();
  await connectShell(result.kernel, () => {
    performance.mark("drydock:prompt");
    performance.measure("drydock:open a shell → its first output", { start: asked });
    // The prompt on screen: xterm draws on its next frame after parsing what was written.
    const painted = terminal.onRender(() => {
      painted.dispose();
      performance.mark("drydock:prompt painted");
      showPrompt();
    });
    start.hidden = true;
    addTrace({
      time: performance.now(),
      kind: "vm",
      text: `prompt after ${Math.round(performance.now())} ms (restore ${Math.round(result.restoreMs)} ms)`,
    });
    terminal.focus();
    files.enable();
    // After the prompt: nothing here may delay it.
    setTimeout(() => void chooseRenderer(), 200);
  });
}

// --- a guest that fails: say so, keep the images, offer a fresh guest -------------------------------------------------
let guestFailed = false;

function onGuestFault(message: string): void {
  if (guestFailed) return;
  guestFailed = true;
  setStatus("The guest failed", "error");
  // The agent's words: a headline, then (for a crash) the guest console's last lines.
  const [headline = message, consoleTail] = message.split(/; its console ended with:\n?/);
  const text = document.createElement("p");
  text.textContent = `The guest machine failed: ${headline}.`;
  const detail = document.createElement("p");
  detail.textContent =
    "Its running containers stopped with it: they are kept as exited (docker start runs them again), and so are your images and volumes; what they wrote outside a volume is gone. A fresh guest starts from the saved state in about a second.";
  const restart = document.createElement("button");
  restart.type = "button";
  restart.id = "restart-guest";
  restart.textContent = "Start a fresh guest";
  restart.addEventListener("click", () => void restartGuest(restart));
  banner.replaceChildren(text, detail);
  if (consoleTail?.trim()) {
    const more = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "The guest console's last lines";
    const pre = document.createElement("pre");
    pre.className = "console-tail";
    pre.textContent = consoleTail.trim();
    more.append(summary, pre);
    banner.append(more);
  }
  banner.append(restart);
  banner.hidden = false;
  terminal.write(`\r\n\x1b[31m[the guest failed: ${headline}]\x1b[0m\r\n`);
  announce("The guest machine failed. A button above the terminal starts a fresh one.");
  restart.focus();
}

async function restartGuest(button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  button.textContent = "Starting a fresh guest…";
  try {
    const result = await api.restartGuest();
    guestFailed = false;
    banner.hidden = true;
    banner.replaceChildren();
    terminal.write(
      "\r\n[a fresh guest from the saved state: images, volumes and containers kept; the running ones are exited]\r\n",
    );
    await connectShell(result.kernel, () => {
      terminal.focus();
      announce("A fresh guest is running.");
    });
  } catch (error) {
    button.disabled = false;
    button.textContent = "Start a fresh guest";
    addTrace({ time: performance.now(), kind: "error", text: `the restart failed: ${errorMessage(error)}` });
    banner.prepend(
      Object.assign(document.createElement("p"), { textContent: `The restart failed: ${errorMessage(error)}` }),
    );
  }
}

// --- images: the proxy URL is `?proxy=`, else the saved setting, else the dev/preview server's /registry ----------
const proxyInput = byId("proxy-url", HTMLInputElement);
const proxyForm = byId("proxy-form", HTMLFormElement);
const proxyButton = byId("proxy-state", HTMLButtonElement);
const defaultProxy = new URL(`${import.meta.env.BASE_URL}registry`, location.href).href;
let proxy = new URLSearchParams(location.search).get("proxy") ?? localStorage.getItem("drydock.proxy") ?? defaultProxy;
proxyInput.value = proxy;
proxyInput.placeholder = defaultProxy;

/** The header's proxy button: its state from every tab. */
function showProxyState(state: ProxyState): void {
  proxyButton.dataset.proxy = state.state;
  const short = state.state === "checking" ? "checking…" : state.state === "up" ? "up" : "unreachable";
  proxyButton.textContent = `Proxy: ${short}`;
  const detail =
    state.state === "down" ? `unreachable (${state.reason})` : state.state === "up" ? "answering" : "being checked";
  proxyButton.setAttribute(
    "aria-label",
    `Proxy: ${short} (registry proxy at ${state.proxy}, ${detail}). Open its setting`,
  );
  proxyButton.title = `Registry proxy at ${state.proxy}: ${detail}`;
}
const images = new ImagesView(api, showProxyState);
new RuntimesView(api, () => void images.refresh());

// The form saves the URL in this browser and pulls go through it at once (an empty field: the page's own proxy).
proxyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = proxyInput.value.trim();
  let next: string;
  try {
    next = text ? new URL(text, location.href).href : defaultProxy;
  } catch {
    proxyInput.setCustomValidity(`${text} is not a URL: give one such as https://proxy.example/`);
    proxyInput.reportValidity();
    return;
  }
  proxyInput.setCustomValidity("");
  if (text) localStorage.setItem("drydock.proxy", next);
  else localStorage.removeItem("drydock.proxy");
  // A `?proxy=` in the address would win over the saved setting at the next reload: drop it.
  const address = new URL(location.href);
  if (address.searchParams.has("proxy")) {
    address.searchParams.delete("proxy");
    history.replaceState(null, "", address);
  }
  proxy = next;
  proxyInput.value = next;
  addTrace({ time: performance.now(), kind: "pull", text: `registry proxy: ${next}` });
  void images.open(next).catch((error: unknown) => {
    addTrace({ time: performance.now(), kind: "error", text: `image storage: ${errorMessage(error)}` });
  });
});
proxyInput.addEventListener("input", () => proxyInput.setCustomValidity(""));

// --- lessons: beside the terminal; their checks wait until the shell runs and images can be pulled -----------------
// The panel's code (Markdown and YAML parsers, the course) is a chunk of its own, loaded once the prompt is on screen:
// loaded during the restore, it took cores the restore needed (a cached visit's first answer 40–45 ms later).
let lessons: LessonsPanel | undefined;
let lessonsReady: () => void = () => {};
const lessonsCanRun = new Promise<void>((resolve) => {
  lessonsReady = resolve;
});
void promptShown
  .then(() => Promise.all([import("./ui/lessons.ts"), import("./lessons/course.ts")]))
  .then(async ([{ LessonsPanel, parseLessonLink, isTeacherIndexLink }, { loadCourseInSlices }]) => {
    const course = await loadCourseInSlices();
    const link = parseLessonLink(location.hash);
    if (link || isTeacherIndexLink(location.hash)) showSide(sideTabs[0]!);
    lessons = new LessonsPanel(
      byId("lessons", HTMLDivElement),
      {
        ...course,
        runScript: (script) => api.runScript(script),
        sendToShell: (text) => {
          void api.writeShell(encoder.encode(text));
          terminal.focus();
        },
        pull: async (reference) => {
          await api.pull(
            reference,
            Comlink.proxy(() => {}),
          );
          void images.refresh();
        },
        ready: lessonsCanRun,
        storage: localStorage,
        // The presenter's mode: the page in large type for a projector, the terminal's font with it.
        onPresent: (on) => {
          root.dataset.present = on ? "on" : "off";
          terminal.options.fontSize = on ? 22 : 15;
          pageTerminal.fit();
        },
      },
      link,
    );
    if (isTeacherIndexLink(location.hash)) lessons.showIndex();
    addEventListener("hashchange", () => {
      if (isTeacherIndexLink(location.hash)) {
        showSide(sideTabs[0]!);
        lessons?.showIndex();
        return;
      }
      const next = parseLessonLink(location.hash);
      if (!next) return;
      showSide(sideTabs[0]!);
      if (next.present) lessons?.present(true);
      if (next.step) void lessons?.openAt(next.lesson, next.step);
      else lessons?.openLesson(next.lesson);
    });
  })
  .catch((error: unknown) =>
    addTrace({ time: performance.now(), kind: "error", text: `lessons: ${errorMessage(error)}` }),
  );
// --- beside the terminal: the lessons, the images or the trace (tabs; the choice is remembered) ---------------------
const sideTabs = ["tab-lessons", "tab-images", "tab-trace", "tab-inspect", "tab-ports"].map((id) =>
  byId(id, HTMLButtonElement),
);
function showSide(tab: HTMLButtonElement): void {
  for (const t of sideTabs) {
    const selected = t === tab;
    t.setAttribute("aria-selected", String(selected));
    t.tabIndex = selected ? 0 : -1;
    byId(t.getAttribute("aria-controls") ?? "", HTMLElement).hidden = !selected;
  }
}
// --- the inspector: its code is fetched the first time its tab (or a container ID in the terminal) is used ----------
let inspector: Promise<import("./ui/inspector.ts").Inspector> | undefined;
function inspect(ref?: string): void {
  inspector ??= import("./ui/inspector.ts").then(({ Inspector }) => new Inspector(api));
  void inspector
    .then((view) => view.show(ref))
    .catch((error: unknown) =>
      addTrace({ time: performance.now(), kind: "error", text: `inspector: ${errorMessage(error)}` }),
    );
}
const inspectTab = byId("tab-inspect", HTMLButtonElement);
/** The container a link asked for, shown when the tab's click handler runs. */
let inspectRef: string | undefined;
inspectTab.addEventListener("click", () => {
  inspect(inspectRef);
  inspectRef = undefined;
});
// A container ID in the terminal (docker ps, docker run -d) is a link to the inspector, opened with Ctrl+click (⌘+click
// on a Mac) as a terminal's links are: a plain click into the terminal, to type, never switches the side pane.
const INSPECT_HINT = "Ctrl+click (⌘+click on a Mac) to inspect this container";
terminal.registerLinkProvider({
  provideLinks(y, callback) {
    const text = terminal.buffer.active.getLine(y - 1)?.translateToString(true) ?? "";
    const links = [...text.matchAll(/\b[0-9a-f]{12}(?:[0-9a-f]{52})?\b/g)].map((match) => ({
      range: { start: { x: match.index + 1, y }, end: { x: match.index + match[0].length, y } },
      text: match[0],
      decorations: { underline: true, pointerCursor: true },
      activate: (event: MouseEvent) => {
        if (!event.ctrlKey && !event.metaKey) return;
        inspectRef = match[0];
        inspectTab.click();
      },
      hover: () => terminal.element?.setAttribute("title", INSPECT_HINT),
      leave: () => terminal.element?.removeAttribute("title"),
    }));
    callback(links.length ? links : undefined);
  },
});

showSide(sideTabs.find((t) => t.id === localStorage.getItem("drydock.side")) ?? sideTabs[0]!);
if (!byId("inspect-pane", HTMLElement).hidden) inspect();
for (const [i, tab] of sideTabs.entries()) {
  tab.addEventListener("click", () => {
    localStorage.setItem("drydock.side", tab.id);
    showSide(tab);
  });
  // Arrow keys move between tabs, as in any tab list.
  tab.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    const next = sideTabs[(i + (event.key === "ArrowRight" ? 1 : sideTabs.length - 1)) % sideTabs.length]!;
    next.click();
    next.focus();
  });
}

proxyButton.addEventListener("click", () => {
  const imagesTab = byId("tab-images", HTMLButtonElement);
  imagesTab.click();
  proxyForm.closest("details")?.setAttribute("open", "");
  proxyInput.focus();
});

// --- previews: the service worker answers /preview/<port>/ with this tab's engine --------------------------------------
/** Hands the preview service worker a port to this tab's engine worker (its latest offer wins). */
function offerEngine(to: ServiceWorker | null | undefined): void {
  if (!to) return;
  const { port1, port2 } = new MessageChannel();
  void api.servePreviews(Comlink.transfer(port2, [port2]));
  to.postMessage({ type: ENGINE_OFFER, port: port1 }, [port1]);
}
async function registerPreviews(): Promise<void> {
  if (!("serviceWorker" in navigator)) {
    addTrace({ time: performance.now(), kind: "error", text: "previews: this browser has no service workers" });
    return;
  }
  // The service worker asks the open tabs for an engine when it has none (it started anew, or its tab closed).
  navigator.serviceWorker.onmessage = (event: MessageEvent<{ type?: string }>) => {
    if (event.data?.type === ENGINE_WANTED) offerEngine(event.source as ServiceWorker | null);
  };
  // Built: a classic script at a stable URL; under `vite dev` (the only place with hot reloading), the module itself.
  // (Not import.meta.env.DEV: a build made while NODE_ENV=test, as the e2e suites' are, counts as DEV.)
  const dev = import.meta.hot !== undefined;
  await navigator.serviceWorker.register(`${import.meta.env.BASE_URL}${dev ? "preview-sw.ts" : "preview-sw.js"}`, {
    scope: import.meta.env.BASE_URL,
    type: dev ? "module" : "classic",
  });
  const registration = await navigator.serviceWorker.ready;
  offerEngine(registration.active);
  addTrace({ time: performance.now(), kind: "vm", text: "previews: /preview/<port>/ is served by this tab" });
}
const nodes = new NodesView(api, announce);
const ports = new PortsView(api, () => void navigator.serviceWorker?.ready.then((r) => offerEngine(r.active)));

/** The last time the containers were saved because the tab was hidden (a save freezes running ones a moment). */
let lastHiddenSave = Number.NEGATIVE_INFINITY;
const HIDDEN_SAVE_INTERVAL_MS = 20_000;

// A hidden tab may be closed next: what the containers wrote goes to the page's storage now, so a reload finds
// their files (a running container's writable layer is otherwise kept only when it stops).
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "hidden") return;
  if (performance.now() - lastHiddenSave < HIDDEN_SAVE_INTERVAL_MS) {
    // Saved a moment ago: what running containers wrote to volumes since then still goes out (a `sync`, cheap).
    void api.flushVolumes().catch(() => {});
    return;
  }
  lastHiddenSave = performance.now();
  void api
    .saveContainers()
    .then(() => {
      document.documentElement.dataset.containersSaved = String(Date.now());
    })
    .catch((error: unknown) =>
      addTrace({ time: performance.now(), kind: "error", text: `saving containers: ${errorMessage(error)}` }),
    );
});

// The tab is going away (closed, reloaded, navigated): the worker may have a moment left to push volume writes out of
// the guest's page cache. The browser does not wait for it; the kernel's own writeback (within about two seconds of a
// write) is what makes this a small window, not a lost session's worth.
window.addEventListener("pagehide", (event) => {
  void api.flushVolumes().catch(() => {});
  // A page that is going for good: its terminal goes first. Left in place, xterm's DOM renderer redraws every row
  // when its textarea loses focus as the document is taken down, in the middle of the next page's navigation
  // (35–130 ms there). A page kept for the back button keeps its terminal.
  if (!event.persisted) terminal.dispose();
});

async function main(): Promise<void> {
  await startShell();
  void registerPreviews().catch((error: unknown) =>
    addTrace({ time: performance.now(), kind: "error", text: `previews: ${errorMessage(error)}` }),
  );
  // `#workspace=<url>`: a workspace to open (a teacher's starting point). It is fetched and kept, the link leaves the
  // address bar (a reload does not import it twice), and the page starts again to import it before the engine starts.
  const workspaceUrl = new URLSearchParams(location.hash.replace(/^#/, "")).get("workspace");
  if (workspaceUrl) {
    history.replaceState(null, "", `${location.pathname}${location.search}`);
    showSide(byId("tab-images", HTMLButtonElement));
    if (await images.stageWorkspace({ url: new URL(workspaceUrl, location.href).href })) return;
  }
  // Storage and the proxy check wait for the prompt: the first second belongs to the shell.
  try {
    await images.open(new URL(proxy, location.href).href);
  } catch (error) {
    addTrace({ time: performance.now(), kind: "error", text: `image storage: ${errorMessage(error)}` });
  }
  lessonsReady();
  await Promise.all([
    nodes
      .open()
      .catch((error: unknown) =>
        addTrace({ time: performance.now(), kind: "error", text: `nodes: ${errorMessage(error)}` }),
      ),
    ports
      .open()
      .catch((error: unknown) =>
        addTrace({ time: performance.now(), kind: "error", text: `ports: ${errorMessage(error)}` }),
      ),
  ]);
}

void main();
