// The inspector: one container drawn from what the guest and the stores say. Its layer stack (the image's layers
// with the history step that made each, the writable layer with docker diff's changes), its namespaces beside the
// guest's, its processes numbered from both sides, its cgroup as small live graphs (the OOM kill marked), and the
// last pull as a waterfall. Loaded when first used, so the first visit does not carry it.
import type * as Comlink from "comlink";
import type { CgroupReading, ContainerInspection, PullTimeline, WorkerApi } from "../protocol.ts";
import { byId, errorMessage, formatBytes } from "./format.ts";

const SVG = "http://www.w3.org/2000/svg";
/** How many readings the graphs keep (one a second). */
const HISTORY = 60;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function svg(tag: string, attributes: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

function section(name: string, title: string, ...children: (Node | string)[]): HTMLElement {
  const id = `inspect-${name}-title`;
  return element(
    "section",
    { class: "inspect-section", "data-section": name, "aria-labelledby": id },
    element("h3", { id }, title),
    ...children,
  );
}

/** A small line graph: `values` over the last HISTORY readings, a dashed limit line, red marks where OOM kills came. */
function graph(
  name: string,
  label: string,
  points: { value: number; oom: boolean }[],
  limit: number | undefined,
  format: (value: number) => string,
  peak?: number,
): HTMLElement {
  const width = 260;
  const height = 56;
  const top = Math.max(limit ?? 0, ...points.map((p) => p.value), 1) * 1.1;
  const y = (value: number) => height - (value / top) * height;
  const x = (index: number) => (index / (HISTORY - 1)) * width;
  const offset = HISTORY - points.length;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "graph",
    "data-graph": name,
    role: "img",
    "aria-label": `${label}: ${points.length ? format(points.at(-1)!.value) : "no reading yet"}${limit !== undefined ? ` of ${format(limit)}` : ", no limit"}`,
  });
  if (limit !== undefined) {
    chart.append(svg("line", { x1: 0, x2: width, y1: y(limit), y2: y(limit), class: "limit" }));
  }
  const line = points.map((p, i) => `${x(i + offset).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  if (points.length) chart.append(svg("polyline", { points: line, class: "value" }));
  for (const [i, p] of points.entries()) {
    if (!p.oom) continue;
    const mark = svg("line", { x1: x(i + offset), x2: x(i + offset), y1: 0, y2: height, class: "oom-mark" });
    chart.append(mark);
  }
  const last = points.at(-1);
  const oomCount = points.filter((p) => p.oom).length;
  const caption = element(
    "figcaption",
    {},
    `${label}: ${last ? format(last.value) : "…"}${limit !== undefined ? ` / ${format(limit)}` : " (no limit)"}`,
  );
  if (peak !== undefined) caption.append(` (peak ${format(peak)})`);
  if (oomCount) caption.append(" ", element("strong", { class: "oom-note" }, "OOM kill"));
  const figure = element("figure", { class: "graph-figure", "data-last": String(last?.value ?? 0) }, caption);
  if (peak !== undefined) figure.dataset.peak = String(peak);
  figure.append(chart);
  return figure;
}

export class Inspector {
  readonly #api: Comlink.Remote<WorkerApi>;
  readonly #select = byId("inspect-container", HTMLSelectElement);
  readonly #refresh = byId("inspect-refresh", HTMLButtonElement);
  readonly #body = byId("inspector", HTMLDivElement);
  readonly #pane = byId("inspect-pane", HTMLElement);
  #current: string | undefined;
  #readings: CgroupReading[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #graphs: HTMLElement | undefined;

  constructor(api: Comlink.Remote<WorkerApi>) {
    this.#api = api;
    this.#select.addEventListener("change", () => void this.show(this.#select.value));
    this.#refresh.addEventListener("click", () => void this.show(this.#select.value || undefined));
    // Graphs read the cgroup once a second while the pane is in view.
    this.#timer = setInterval(() => void this.#sample(), 1000);
  }

  dispose(): void {
    clearInterval(this.#timer);
  }

  #showing: Promise<void> = Promise.resolve();

  /** Lists the containers and draws `ref` (else the one chosen, else the newest); one drawing at a time. */
  show(ref?: string): Promise<void> {
    this.#showing = this.#showing.then(() => this.#show(ref));
    return this.#showing;
  }

  async #show(ref?: string): Promise<void> {
    const containers = await this.#api.containers();
    const wanted =
      containers.find((c) => c.id === ref || c.id.startsWith(ref ?? "\u0000") || c.name === ref) ??
      containers.find((c) => c.id === this.#current) ??
      containers[0];
    this.#select.replaceChildren(
      ...containers.map((c) => {
        const option = element("option", { value: c.id }, `${c.name} (${c.id.slice(0, 12)}, ${c.image}, ${c.status})`);
        option.selected = c.id === wanted?.id;
        return option;
      }),
    );
    if (!wanted) {
      this.#current = undefined;
      this.#body.replaceChildren(
        element("p", { class: "note" }, "No containers yet: try docker run -d --name web busybox sleep 600"),
        await this.#waterfall(),
      );
      return;
    }
    if (wanted.id !== this.#current) this.#readings = [];
    this.#current = wanted.id;
    this.#body.dataset.container = wanted.id;
    let inspection: ContainerInspection;
    try {
      inspection = await this.#api.inspectContainer(wanted.id);
    } catch (error) {
      this.#body.replaceChildren(element("p", { class: "note", "data-tone": "bad" }, errorMessage(error)));
      return;
    }
    this.#graphs = section("cgroup", "cgroup: memory, CPU, processes");
    this.#body.replaceChildren(
      this.#layers(inspection),
      this.#namespaces(inspection),
      this.#graphs,
      await this.#waterfall(),
    );
    await this.#sample();
  }

  #layers(inspection: ContainerInspection): HTMLElement {
    const list = element("ol", { class: "layer-stack", "aria-label": "Layers, the writable one on top" });
    const changes = inspection.upper.changes;
    const upper = element(
      "li",
      { class: "layer upper", "data-layer": "upper" },
      element("strong", {}, "writable layer"),
      element("code", { class: "path" }, inspection.upper.dir),
    );
    upper.append(
      changes.length
        ? element(
            "ul",
            { class: "changes", "aria-label": "Changes (docker diff)" },
            ...changes.slice(0, 40).map((c) => element("li", { "data-kind": c.kind }, `${c.kind} ${c.path}`)),
          )
        : element("span", { class: "meta" }, "no changes yet"),
    );
    list.append(upper);
    for (const layer of [...inspection.layers].reverse()) {
      const item = element(
        "li",
        { class: "layer", "data-layer": layer.digest },
        element("code", { title: layer.digest }, short(layer.digest)),
        element(
          "span",
          { class: "meta" },
          `${formatBytes(layer.size)} unpacked · ${formatBytes(layer.compressedSize)} compressed`,
        ),
        element("span", { class: "created-by", title: layer.createdBy }, layer.createdBy || "(no history)"),
      );
      if (layer.sharedWith.length) {
        item.append(element("span", { class: "shared" }, `shared with ${layer.sharedWith.join(", ")}`));
      }
      if (layer.lowerDir) item.append(element("code", { class: "path" }, layer.lowerDir));
      list.append(item);
    }
    const overlay = inspection.overlay
      ? element(
          "p",
          { class: "note" },
          "Mounted as: ",
          element("code", { class: "path" }, `overlay ${inspection.overlay}`),
        )
      : element("p", { class: "note" }, `Not running (${inspection.status}): no overlay mount to read.`);
    return section("layers", `Layers of ${inspection.name} (${inspection.image})`, list, overlay);
  }

  #namespaces(inspection: ContainerInspection): HTMLElement {
    if (!inspection.pid) {
      return section("namespaces", "Namespaces", element("p", { class: "note" }, "It runs in none while stopped."));
    }
    const nsTable = element(
      "table",
      { class: "ns-table" },
      element(
        "thead",
        {},
        element(
          "tr",
          {},
          element("th", { scope: "col" }, "namespace"),
          element("th", { scope: "col" }, "container"),
          element("th", { scope: "col" }, "guest"),
        ),
      ),
      element(
        "tbody",
        {},
        ...inspection.namespaces.map((ns) =>
          element(
            "tr",
            { "data-ns": ns.type, "data-shared": String(ns.container === ns.guest) },
            element("th", { scope: "row" }, ns.type),
            element("td", {}, ns.container.replace(/^\w+:/, "")),
            element("td", {}, ns.guest.replace(/^\w+:/, "")),
          ),
        ),
      ),
    );
    const depth = (pid: number, seen = 0): number => {
      const parent = inspection.processes.find((p) => p.containerPid === pid)?.containerPpid ?? 0;
      return parent && seen < 16 ? 1 + depth(parent, seen + 1) : 0;
    };
    const procTable = element(
      "table",
      { class: "proc-table" },
      element(
        "thead",
        {},
        element(
          "tr",
          {},
          element("th", { scope: "col" }, "PID in the container"),
          element("th", { scope: "col" }, "PID in the guest"),
          element("th", { scope: "col" }, "command"),
        ),
      ),
      element(
        "tbody",
        {},
        ...inspection.processes.map((p) =>
          element(
            "tr",
            { "data-container-pid": String(p.containerPid), "data-guest-pid": String(p.guestPid) },
            element("td", {}, String(p.containerPid)),
            element("td", {}, String(p.guestPid)),
            element("td", { style: `padding-left: ${0.3 + depth(p.containerPid)}rem` }, p.command),
          ),
        ),
      ),
    );
    const mounts = element(
      "ul",
      { class: "mounts", "aria-label": "Mounts" },
      ...inspection.mounts.map((m) => element("li", {}, element("code", {}, m.target), ` ${m.type} (${m.source})`)),
    );
    const interfaces = element(
      "ul",
      { class: "interfaces", "aria-label": "Network interfaces" },
      ...inspection.interfaces.map((i) =>
        element("li", {}, element("code", {}, i.name), ` rx ${formatBytes(i.rxBytes)} · tx ${formatBytes(i.txBytes)}`),
      ),
    );
    return section(
      "namespaces",
      "Namespaces",
      nsTable,
      element("h4", {}, "Processes, numbered from both sides"),
      procTable,
      element(
        "p",
        { class: "note" },
        "Host name (its UTS namespace): ",
        element("code", {}, inspection.hostname ?? ""),
      ),
      element("h4", {}, "Mounts"),
      mounts,
      element("h4", {}, "Interfaces"),
      interfaces,
    );
  }

  async #sample(): Promise<void> {
    const id = this.#current;
    if (!id || this.#pane.hidden || !this.#graphs) return;
    const reading = await this.#api.readCgroup(id).catch(() => undefined);
    if (id !== this.#current) return;
    if (reading) {
      this.#readings.push(reading);
      if (this.#readings.length > HISTORY) this.#readings.shift();
    }
    this.#drawGraphs(reading === undefined);
  }

  #drawGraphs(stopped: boolean): void {
    const readings = this.#readings;
    const latest = readings.at(-1);
    const oom = (i: number) => i > 0 && readings[i]!.oomKills > readings[i - 1]!.oomKills;
    const memory = readings.map((r, i) => ({ value: r.memoryCurrent, oom: oom(i) }));
    const cpu = readings.map((r, i) => {
      const before = readings[i - 1];
      const used = before ? (r.cpuUsageUsec - before.cpuUsageUsec) / 1000 / Math.max(r.at - before.at, 1) : 0;
      return { value: used, oom: false };
    });
    const pids = readings.map((r) => ({ value: r.pidsCurrent, oom: false }));
    const head = this.#graphs!.querySelector("h3")!;
    const children: Node[] = [
      head,
      graph("memory", "memory.current", memory, latest?.memoryMax, formatBytes, latest?.memoryPeak || undefined),
      graph("cpu", "CPU", cpu, latest?.cpuLimit, (v) => `${v.toFixed(2)} CPUs`),
      graph("pids", "pids.current", pids, latest?.pidsMax, (v) => String(Math.round(v))),
    ];
    if (latest?.oomKills) {
      children.push(
        element(
          "p",
          { class: "note oom-note", "data-tone": "bad", "data-oom-kills": String(latest.oomKills) },
          `memory.events: the OOM killer killed ${latest.oomKills} process${latest.oomKills === 1 ? "" : "es"} in this cgroup`,
        ),
      );
    }
    if (stopped) children.push(element("p", { class: "note" }, "Not running: no cgroup to read."));
    this.#graphs!.replaceChildren(...children);
  }

  async #waterfall(): Promise<HTMLElement> {
    const pull: PullTimeline | undefined = await this.#api.lastPull();
    if (!pull) return section("pull", "Last pull", element("p", { class: "note" }, "No pull yet in this page."));
    const end = Math.max(pull.end ?? 0, ...pull.steps.map((s) => s.end), pull.start + 1);
    const span = end - pull.start;
    const rowHeight = 16;
    const width = 260;
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${rowHeight * pull.layers.length + 14}`,
      class: "waterfall",
      role: "img",
      "aria-label": `Pull of ${pull.reference}: ${pull.layers.length} layers in ${Math.round(span)} ms`,
    });
    const x = (t: number) => ((t - pull.start) / span) * width;
    for (const [row, layer] of pull.layers.entries()) {
      for (const step of pull.steps.filter((s) => s.digest === layer.digest)) {
        const rect = svg("rect", {
          x: x(step.start),
          y: row * rowHeight + (step.phase === "unpack" ? 9 : 2),
          width: Math.max(x(step.end) - x(step.start), 1.5),
          height: step.phase === "unpack" ? 5 : 7,
          class: `step ${step.phase}`,
        });
        const title = svg("title", {});
        title.textContent = `${short(layer.digest)} ${step.phase}: ${Math.round(step.end - step.start)} ms`;
        rect.append(title);
        chart.append(rect);
      }
    }
    const axis = svg("text", { x: width, y: rowHeight * pull.layers.length + 12, class: "axis" });
    axis.setAttribute("text-anchor", "end");
    axis.textContent = `${Math.round(span)} ms`;
    chart.append(axis);
    const rows = element(
      "ul",
      { class: "waterfall-layers" },
      ...pull.layers.map((layer) => {
        const steps = pull.steps.filter((s) => s.digest === layer.digest);
        const text = layer.existed
          ? "already stored"
          : steps.map((s) => `${s.phase} ${Math.round(s.end - s.start)} ms`).join(" · ");
        return element("li", { "data-layer": layer.digest }, element("code", {}, short(layer.digest)), ` ${text}`);
      }),
    );
    const legend = element(
      "p",
      { class: "note legend" },
      element("span", { class: "key download" }, "download"),
      " ",
      element("span", { class: "key unpack" }, "unpack"),
      " ",
      element("span", { class: "key verify" }, "verify"),
    );
    return section("pull", `Last pull: ${pull.reference}`, chart, legend, rows);
  }
}
