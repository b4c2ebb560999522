// What the page's main thread and its worker say to each other (through comlink). The worker owns the engine and
// v86; the main thread only renders what arrives here.
import type {
  CgroupReading,
  ContainerInspection,
  ImageSummary,
  LayerProgress,
  PullTimeline,
  RegistryEnvelope,
  RegistryRepository,
  SwarmNodeEngine,
} from "../engine/index.ts";

export type {
  CgroupReading,
  ContainerInspection,
  ImageSummary,
  LayerProgress,
  PullTimeline,
  RegistryEnvelope,
  RegistryRepository,
};

/** A container as the inspector's chooser lists it. */
export interface ContainerChoice {
  id: string;
  name: string;
  image: string;
  status: string;
}

/** A container's port published on the guest (`-p 8080:80`): what the Ports view lists and previews. */
export interface PublishedPort {
  containerId: string;
  /** The container's name, without docker's leading slash. */
  name: string;
  image: string;
  /** The port on the guest (what `/preview/<hostPort>/` reaches). */
  hostPort: number;
  /** The port inside the container. */
  containerPort: number;
  protocol: string;
  /** The address it is bound to on the guest (`0.0.0.0`). */
  hostIp: string;
}

/** One line of the trace panel. Generic on purpose: engine/trace's events will arrive in this shape too. */
export interface TraceEntry {
  /** Milliseconds since the page's navigation started (performance.now() of the main thread's clock). */
  time: number;
  /** A short category: `vm`, `agent`, `http`, `pull`, `fs`, `error`. */
  kind: string;
  /** The step, written as the command or request behind it where there is one. */
  text: string;
}

export interface GuestFile {
  url: string;
  size: number;
  sha256: string;
}

export interface StartOptions {
  /** The zstd-compressed saved state: v86 inflates it itself. */
  state: GuestFile;
  bios: GuestFile;
  vgaBios: GuestFile;
  wasmUrl: string;
  memoryMiB: number;
  /** The page's time origin, so the worker's trace times line up with the page's. */
  timeOrigin: number;
  /** The relay containers go out through (its base URL, e.g. `<origin>/relay`); none: no way out. */
  relayUrl?: string;
  /** Warm v86's compiler up with a few processes after the prompt (default true; `?warmup=0` turns it off). */
  warmUp?: boolean;
}

/** Bytes of the start-up downloads so far, per file. */
export interface DownloadProgress {
  file: string;
  loaded: number;
  total: number;
}

/** One timed step of the start, in the page's clock (milliseconds since navigation). */
export interface StartStep {
  name: string;
  start: number;
  end: number;
}

export interface StartResult {
  kernel: string;
  agentVersion: number;
  restoreMs: number;
  /** Where the start's time went, step by step (the page turns them into performance measures). */
  steps: StartStep[];
}

/** Callbacks the worker calls on the main thread (wrapped with comlink's proxy). */
export interface PageSink {
  trace(entry: TraceEntry): void;
  download(progress: DownloadProgress): void;
  /** The guest failed under the engine (drydockd killed, a kernel panic): the agent's words. */
  fault(message: string): void;
}

export interface ShellSink {
  output(bytes: Uint8Array): void;
  exit(code: number): void;
}

/** Where a spawned process's output and exit go (stderr is merged into stdout on a pty). */
export interface ProcessSink {
  stdout(bytes: Uint8Array): void;
  stderr(bytes: Uint8Array): void;
  exit(code: number): void;
}

export interface StorageInfo {
  usage: number;
  quota: number;
}

/** The worker's API, as the main thread sees it (every call is asynchronous). */
/** One run of the side-by-side comparison: which runtime ran it, how long it took (create to exit), what it said. */
export interface RuntimeRun {
  runtime: string;
  ms: number;
  code: number;
  output: string;
}

/** What the terminal's `drydock workspace` asks of the page. */
export interface WorkspacePage {
  /** Offers the file as a download named `name`. */
  offer(blob: Blob, name: string): Promise<void>;
  /** Lets the learner pick a workspace file; undefined when they cancel. */
  pick(): Promise<File | undefined>;
  /** A workspace file is kept: the page starts again and imports it before its engine starts. */
  restart(): Promise<void>;
}

/** What importing a staged workspace did: what it added, or why it failed (nothing of it is kept then). */
export type WorkspaceOutcome = { imported: string } | { failed: string };

export interface WorkerApi {
  /** Downloads the saved state and BIOS images, restores the guest and greets its agent. */
  start(options: StartOptions, sink: PageSink): Promise<StartResult>;
  /** Replaces a failed (or working) guest with a fresh one restored from the same state; images stay. */
  restartGuest(): Promise<StartResult>;
  /**
   * Writes what the engine keeps of its containers now: records, logs, volumes, and the files of running ones
   * (frozen while they are archived). The page asks when it is hidden, as a tab may close next.
   */
  saveContainers(): Promise<void>;
  /**
   * Writes what running containers wrote to volumes out of the guest's page cache (`sync`) and saves the volumes'
   * trees: cheap, asked for whenever the tab is hidden or goes away (the kernel also does it within two seconds).
   */
  flushVolumes(): Promise<void>;
  /** Starts a login shell on a pty; its output goes to `sink`. */
  openShell(rows: number, cols: number, sink: ShellSink): Promise<void>;
  writeShell(bytes: Uint8Array): Promise<void>;
  resizeShell(rows: number, cols: number): Promise<void>;
  /** The WebGL2 renderer's name (probed on an OffscreenCanvas, off the main thread), or undefined without WebGL2. */
  webglRenderer(): Promise<string | undefined>;
  /**
   * Runs `sh -c script` in the guest (outside any container) and collects its output: a lesson's check.
   * Output past 64 KiB is dropped.
   */
  runScript(script: string): Promise<{ code: number; stdout: string; stderr: string }>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  /**
   * Opens image storage in OPFS (memory when OPFS is missing) with pulls going through `proxy`. A workspace staged by
   * stageWorkspace is imported first (before the engine reads its stores); `workspace` says what came of it.
   */
  openImages(proxy: string): Promise<{ storage: "opfs" | "memory"; workspace?: WorkspaceOutcome }>;
  /**
   * Everything this page keeps (images, volumes, containers with their logs and files) as one workspace tar, the
   * format `drydock workspace export` writes. The containers are saved first.
   */
  exportWorkspace(): Promise<Blob>;
  /**
   * Keeps a workspace file (picked by the learner, or fetched from `url`) in the page's storage, to be imported when
   * storage is next opened: the page reloads after this. Refused when OPFS is missing.
   */
  stageWorkspace(source: Blob | { url: string }): Promise<{ bytes: number }>;
  /**
   * Lets the terminal's `drydock workspace export|import` reach the page: the worker cannot offer a download, open a
   * file picker or reload the page itself.
   */
  onWorkspacePage(page: WorkspacePage): Promise<void>;
  /** Whether the proxy answers a registry's `/v2/` (200 or 401); the reason when not. */
  checkProxy(proxy: string): Promise<{ ok: true } | { ok: false; reason: string }>;
  pull(reference: string, onProgress: (progress: LayerProgress) => void): Promise<{ name: string; upToDate: boolean }>;
  images(): Promise<ImageSummary[]>;
  /**
   * Pulls `reference` for linux/386 and for wasi/wasm (an index with both), runs each once with `args` and says how
   * long each took: one program as an i386 Linux container in the emulator and as a WebAssembly module.
   */
  compareRuntimes(reference: string, args: string[]): Promise<{ linux: RuntimeRun; wasi: RuntimeRun }>;
  /** The repositories of the registry inside the engine (`localhost:5000`): tags, digests, sizes. */
  registry(): Promise<{ host: string; repositories: RegistryRepository[] } | undefined>;
  /**
   * Calls `listener` with distribution's notification envelope for each push to (and pull from) the registry
   * inside the engine, so the page or a lesson can react to `docker push localhost:5000/…`.
   */
  onRegistryEvent(listener: (envelope: RegistryEnvelope) => void): Promise<void>;
  removeImage(nameOrId: string): Promise<void>;
  clearImages(): Promise<void>;
  /**
   * Starts a process in the guest (outside containers; on a pty when `pty` is given); its output goes to `sink`. The
   * number names it in the calls below. What an embedding page's spawn() and docker() use.
   */
  spawn(
    argv: string[],
    options: { env?: string[]; pty?: { rows: number; cols: number } },
    sink: ProcessSink,
  ): Promise<number>;
  writeProcess(id: number, bytes: Uint8Array): Promise<void>;
  closeProcessInput(id: number): Promise<void>;
  resizeProcess(id: number, rows: number, cols: number): Promise<void>;
  killProcess(id: number, signal: number): Promise<void>;
  /** The inspector: every container, newest first. */
  containers(): Promise<ContainerChoice[]>;
  /** A container's layers, writable layer, namespaces, processes, mounts and interfaces, read from the guest. */
  inspectContainer(ref: string): Promise<ContainerInspection>;
  /** Its cgroup's counters and limits now; undefined once it no longer runs. */
  readCgroup(ref: string): Promise<CgroupReading | undefined>;
  /**
   * Serves the preview service worker's requests arriving on `port` (web/preview/wire.ts): each goes to the app on a
   * guest port over a TCP connection opened in the guest.
   */
  servePreviews(port: MessagePort): Promise<void>;
  /** Each running container's published ports (the Engine API's `GET /containers/json`, `Ports` with a public port). */
  publishedPorts(): Promise<PublishedPort[]>;
  /** Calls `listener` when a container starts, stops or goes away (engine events), so the Ports view can refresh. */
  onContainersChanged(listener: () => void): Promise<void>;
  /** The last pull's timed steps, with the page's clock (performance.now() of the main thread). */
  lastPull(): Promise<PullTimeline | undefined>;
  /** Adds a node (`drydock node add`): a guest of its own, in a worker of its own, on the page's switch. */
  addNode(): Promise<PageNode>;
  /** Removes node `name` (`drydock node rm node2`): its guest stops, its worker ends, its context goes. */
  removeNode(name: string): Promise<void>;
  /** The nodes and the one the terminal's docker targets. */
  nodes(): Promise<NodesState>;
  /** Calls `listener` with the nodes after every change (a node added or removed, `docker context use`). */
  onNodesChanged(listener: (state: NodesState) => void): Promise<void>;
  /** Memory the page's guests hold: each node's v86 memory (the guest's RAM and the emulator's own). */
  nodeMemory(): Promise<{ name: string; wasmBytes: number }[]>;
}

/** One node of the page: a guest in a worker of its own (node1 is the first guest, in the page's worker). */
export interface PageNode {
  name: string;
  index: number;
  /** Its address on the page's switch: 192.168.86.(100+k). */
  address: string;
  /** The block its containers' addresses come from. */
  containers: string;
  /** The endpoint its docker context names. */
  host: string;
  /** How long it took to add (restore, identity, engine), in milliseconds; node1: 0. */
  addMs: number;
  /** Where that time went, step by step (the first worker's steps, then the node's worker's). */
  addSteps: { name: string; ms: number }[];
}

export interface NodesState {
  nodes: PageNode[];
  /** The context the terminal's docker uses now (`default`, `node2`, or one the learner made). */
  context: string;
  /** The node that context reaches (undefined: it names no node of this page). */
  target: string | undefined;
}

/** What a node's worker needs to restore its guest: the first guest's files, and who it is. */
export interface NodeStartOptions {
  state: ArrayBuffer;
  bios: ArrayBuffer;
  vgaBios: ArrayBuffer;
  wasmUrl: string;
  wasmModule: WebAssembly.Module;
  memoryMiB: number;
  identity: { index: number; name: string; id: string; mac: string; address: string };
  /** Its containers' block (10.k.0.0/16). */
  addressSpace: string;
  /** The other nodes' blocks and addresses, routed through eth0. */
  routes: { block: string; via: string }[];
  /** The registry proxy its pulls go through. */
  proxyUrl: string;
  /** The page's time origin, so the node's trace lines up with the page's. */
  timeOrigin: number;
}

/** A node's worker (web/node-worker.ts), as the first worker sees it. */
export interface NodeWorkerApi {
  /**
   * Restores the guest, wires its card to `frames`, gives it its identity and routes, serves its API on `api`; the
   * swarm's routes of that API are asked of the managers over `swarm`; `localhost:5000`, the engine's registry, is
   * node1's, reached over `registry`.
   */
  start(
    options: NodeStartOptions,
    frames: MessagePort,
    api: MessagePort,
    swarm: MessagePort,
    registry: MessagePort,
    trace: (entry: TraceEntry) => void,
  ): Promise<{ restoreMs: number; steps: { name: string; ms: number }[] }>;
  /** Routes `routes` and drops the routes to `gone` blocks (a node was added or removed). */
  route(routes: { block: string; via: string }[], gone: string[]): Promise<void>;
  /** The v86 memory (bytes) of its guest. */
  memory(): Promise<number>;
  /** Closes its engine and stops its guest. */
  stop(): Promise<void>;
  /** Its engine as the page's swarm manager drives it (the manager's SwarmNodeEngine, answered in its worker). */
  swarm: SwarmNodeEngine;
}
