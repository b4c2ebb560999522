// The page's worker: owns v86, the guest and the engine, and answers the main thread through comlink. `expose` runs
// during the module's first evaluation, so comlink's message listener is installed before the first message can
// arrive (a top-level `await` before it would lose that message). The engine and v86 (most of the worker's code) are
// a separate chunk, loaded while the guest's files download.
import * as Comlink from "comlink";
import type {
  CliIO,
  ContainerService,
  Drydock,
  GuestDocker,
  GuestProcess,
  ImageService,
  WasiWorker,
} from "../engine/index.ts";
import { startHashWorker } from "./hash-port.ts";
import { v86MemoryBytes } from "./node-worker-memory.ts";
import { type NodeAssets, PageNodes } from "./nodes.ts";
import { WireChannel, type WireRequest } from "./preview/wire.ts";
import type {
  DownloadProgress,
  GuestFile,
  PageSink,
  PublishedPort,
  RuntimeRun,
  ShellSink,
  StartOptions,
  StartResult,
  StartStep,
  TraceEntry,
  WorkerApi,
  WorkspaceOutcome,
  WorkspacePage,
} from "./protocol.ts";
import { VerifiedStore } from "./verified-store.ts";

let drydock: Drydock | undefined;
let shell: GuestProcess | undefined;
let shellInput: WritableStreamDefaultWriter<Uint8Array> | undefined;
let imageService: ImageService | undefined;
let containerService: ContainerService | undefined;
let guestDocker: GuestDocker | undefined;
let imageStorage: "opfs" | "memory" = "memory";
/** The volumes' tree the containers use (its store is what a workspace export reads). */
let volumeTree: import("../engine/index.ts").VolumeTree | undefined;
/** A workspace file waiting in OPFS (beside the engine's `drydock` directory) to be imported at the next start. */
const STAGED_WORKSPACE = "drydock-workspace-import.tar";
let proxyUrl = "";
let traceSink: PageSink["trace"] = () => {};
let pageSink: PageSink | undefined;
/** Restores a guest from the downloaded state; set by `start`. */
let bootGuest: ((fresh: boolean) => Promise<Drydock>) | undefined;
let unwatchGuest: () => void = () => {};
let engineModule: Promise<typeof import("../engine/index.ts")> | undefined;
const engine = () => {
  engineModule ??= import("../engine/index.ts");
  return engineModule;
};
/**
 * What a restore needs (the guest and its agent, v86's JavaScript): a chunk of its own, a third of the engine's code,
 * so the emulator starts once it is in and the rest (images, containers, the API) loads while the guest restores.
 */
let bootModule: Promise<typeof import("../engine/drydock.ts")> | undefined;
const bootCode = () => {
  bootModule ??= import("../engine/drydock.ts");
  return bootModule;
};
let timeOffset = 0;
/** The first guest's files, kept so a node can be restored from them (`drydock node add`). */
let nodeAssets: NodeAssets | undefined;
/** The page's nodes, their switch and the docker contexts naming them; made with the first engine. */
let pageNodes: PageNodes | undefined;
let pageOrigin = 0;
/** When this module was evaluated (the worker's clock): the first step the page can time in the worker. */
const evaluatedAt = performance.now();
const processes = new Map<number, { process: GuestProcess; input: WritableStreamDefaultWriter<Uint8Array> }>();
let nextProcess = 1;
/** How long a lesson's check may run before it is killed. */
const CHECK_TIMEOUT_MS = 20_000;

function trace(kind: string, text: string): void {
  const entry: TraceEntry = { time: performance.now() + timeOffset, kind, text };
  traceSink(entry);
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The guest's files as they were verified when first stored (see verified-store.ts). */
const verifiedStore: Promise<VerifiedStore | undefined> = VerifiedStore.open();

/**
 * The bytes of `file`: from the verified store, or downloaded with progress, its size and sha256 checked (a
 * truncated or stale download never reaches v86) and then stored there. `stored` says it was read from the store.
 */
async function download(
  name: string,
  file: GuestFile,
  progress: (p: DownloadProgress) => void,
  timed: (name: string, start: number) => void,
  useStored = true,
): Promise<{ bytes: ArrayBuffer; stored: boolean }> {
  const started = performance.now();
  const store = await verifiedStore;
  const url = new URL(file.url, location.href).href;
  const stored = useStored ? await store?.read(file).catch(() => undefined) : undefined;
  if (stored) {
    progress({ file: name, loaded: file.size, total: file.size });
    timed(`read ${name} (verified when stored)`, started);
    return { bytes: stored, stored: true };
  }
  trace("http", `GET ${file.url} (${name}, ${file.size} bytes)`);
  let response: Response;
  try {
    // With a verified store, that store keeps the file: the HTTP cache need not hold a second copy.
    response = await fetch(url, store ? { cache: "no-store" } : {});
  } catch (cause) {
    throw new Error(`could not download the ${name} from ${file.url}: ${String(cause)}`);
  }
  if (!response.ok || !response.body) {
    throw new Error(`could not download the ${name} from ${file.url}: HTTP ${response.status} ${response.statusText}`);
  }
  const bytes = new Uint8Array(file.size);
  let loaded = 0;
  const reader = response.body.getReader();
  let lastReport = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > bytes.length) {
      throw new Error(`the ${name} at ${file.url} is larger than the ${file.size} bytes expected`);
    }
    bytes.set(value, loaded);
    loaded += value.length;
    const now = performance.now();
    if (now - lastReport > 50) {
      lastReport = now;
      progress({ file: name, loaded, total: file.size });
    }
  }
  progress({ file: name, loaded, total: file.size });
  if (loaded !== file.size) {
    throw new Error(`the ${name} at ${file.url} is truncated: ${loaded} of ${file.size} bytes`);
  }
  timed(`download ${name}`, started);
  const hashing = performance.now();
  const digest = hex(await crypto.subtle.digest("SHA-256", bytes));
  if (digest !== file.sha256) {
    throw new Error(`the ${name} at ${file.url} is corrupt: sha256 ${digest.slice(0, 12)}…, expected ${file.sha256}`);
  }
  timed(`verify ${name} (sha256)`, hashing);
  // Stored only once verified; a failure to store costs the next visit a download, nothing more.
  // A copy: v86 owns the returned buffer while the write is still under way.
  void store?.write(file, bytes.slice());
  return { bytes: bytes.buffer, stored: false };
}

/**
 * v86.wasm, compiled while it streams in. The response is an ordinary cacheable one (content-hashed URL, long
 * cache), so the browser can keep the compiled code and skip compiling on later visits.
 */
async function compileEmulator(url: string): Promise<WebAssembly.Module> {
  const response = fetch(url).then((r) => {
    if (!r.ok) throw new Error(`could not download the emulator from ${url}: HTTP ${r.status}`);
    return r;
  });
  try {
    return await WebAssembly.compileStreaming(response);
  } catch (error) {
    // A server that does not say application/wasm: compile from the bytes.
    if (!(error instanceof TypeError)) throw error;
    return WebAssembly.compile(await (await fetch(url)).arrayBuffer());
  }
}

/** Restores the guest (a fresh copy of the state when `fresh`), greets its agent and watches it for failure. */
async function restore(fresh: boolean): Promise<StartResult> {
  if (!bootGuest) throw new Error("the guest never started");
  const started = performance.now();
  let guest: Drydock;
  try {
    guest = await bootGuest(fresh);
  } catch (cause) {
    throw new Error(`the saved machine state did not restore: ${cause instanceof Error ? cause.message : cause}`);
  }
  drydock = guest;
  const restoreMs = performance.now() - started;
  const hello = guest.agent.hello;
  trace("agent", `hello from drydockd v${hello?.version ?? "?"} (${hello?.kernel ?? "unknown kernel"})`);
  // drydockd killed or the kernel panicking fails the agent at once: the page says so and offers a fresh guest.
  unwatchGuest = guest.agent.onFailure((error) => {
    if (drydock !== guest) return;
    trace("error", `the guest failed: ${error.message}`);
    pageSink?.fault(error.message);
  });
  return { kernel: hello?.kernel ?? "", agentVersion: hello?.version ?? 0, restoreMs, steps: [] };
}

/** Whether the shell's first output starts the warm-up below (StartOptions.warmUp). */
let warmUpAfterPrompt = true;
let lastShellInput = 0;
const WARM_UP_DELAY_MS = 500;
const WARM_UP_RUNS = 40;

/**
 * After the prompt, while the learner has not typed for a second: v86 compiles guest code to wasm only once it has run
 * often, and a restored guest has nothing compiled, so the first processes after a restore are several times slower
 * than later ones (fork, exec, exit, drydockd's loop). A few `true`s, one at a time, compile those paths before the
 * learner's first command needs them; a keystroke pauses them, so they never stand before what is typed for long.
 */
async function warmUp(guest: Drydock): Promise<void> {
  const started = performance.now();
  let runs = 0;
  while (runs < WARM_UP_RUNS && drydock === guest && performance.now() - started < 20_000) {
    if (performance.now() - lastShellInput < 1000) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    const ok = await guest.agent.run(["true"]).then(
      () => true,
      () => false,
    );
    if (!ok) return;
    runs++;
  }
  trace("vm", `warmed up v86's compiler: ${runs} × true in ${Math.round(performance.now() - started)} ms`);
}

/**
 * Once the guest runs and image storage is open: containers, and the Engine API on the guest's
 * /var/run/docker.sock (what the learner's `docker` and `curl` talk to), every request and engine step traced.
 */
async function wireDocker(): Promise<void> {
  if (!drydock || !imageService || containerService) return;
  const {
    ContainerService,
    DRYDOCK_TOOL_PATH,
    DRYDOCK_TOOL_SCRIPT,
    OpfsVolumeDataStore,
    serveDockerInGuest,
    VolumeTree,
    withSpareWorker,
  } = await engine();
  // Volume files live in OPFS beside the images, so a volume is there with its files after a reload.
  let volumes: Awaited<ReturnType<typeof VolumeTree.open>> | undefined;
  if (imageStorage === "opfs") {
    try {
      volumes = await VolumeTree.open(await OpfsVolumeDataStore.open(), {
        onError: (error) => trace("error", `saving a volume failed: ${String(error)}`),
      });
    } catch (error) {
      trace("error", `volumes are kept in memory until the page closes (${String(error)})`);
    }
  }
  if (!drydock || containerService) return;
  volumeTree = volumes;
  containerService = ContainerService.open(drydock, imageService, {
    wasiWorkers: withSpareWorker(webWasiWorker),
    ...(volumes ? { volumes } : {}),
  });
  // WASI steps get their own kind, so the Trace shows which runtime ran a container.
  containerService.trace((event) =>
    trace(
      event.op === "wasm-compile" || event.op.startsWith("wasi-")
        ? "wasi"
        : event.op === "connect"
          ? event.via === "relay"
            ? "relay"
            : "error"
          : "engine",
      event.command,
    ),
  );
  pageNodes ??= await PageNodes.create({
    engine,
    guest: () => drydock,
    containers: () => containerService,
    images: () => imageService,
    assets: () => nodeAssets,
    proxyUrl: () => proxyUrl,
    timeOrigin: () => pageOrigin,
    trace,
    traceEntry: (entry) => traceSink(entry),
  });
  const nodes = pageNodes;
  guestDocker = await serveDockerInGuest(drydock, {
    images: imageService,
    containers: containerService,
    onExchange: ({ method, target, status, upgraded }) =>
      trace("api", `${method} ${target} → ${upgraded ? "101 UPGRADED: the connection now carries the stdio" : status}`),
    // The terminal's docker reaches the node its context names; `drydock node …` adds and removes nodes.
    connector: (local) => nodes.connector(local),
    tools: {
      drydock: async (argv, io) => {
        if (argv[0] === "workspace") return workspaceCommand(argv.slice(1), io);
        if (argv[0] === undefined || argv[0] === "--help" || argv[0] === "-h") {
          const writer = (argv[0] ? io.stdout : io.stderr).getWriter();
          await writer.write(new TextEncoder().encode(DRYDOCK_USAGE));
          writer.releaseLock();
          return argv[0] ? 0 : 1;
        }
        return nodes.command(argv, io);
      },
    },
    // node1's swarm routes; the other nodes' reach the same manager over their swarm links.
    swarm: nodes.firstSwarm,
  });
  await drydock.agent
    .writeFile(DRYDOCK_TOOL_PATH, DRYDOCK_TOOL_SCRIPT, 0o755)
    .catch((error: unknown) => trace("error", `drydock node is missing from the guest: ${String(error)}`));
  trace("api", "the Engine API answers on /var/run/docker.sock in the guest");
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The page's side of the terminal's `drydock workspace` (downloads, the file picker, the reload). */
let workspacePage: WorkspacePage | undefined;

/** A workspace file picked by the learner, or fetched from an http(s) URL. */
async function workspaceBlob(source: Blob | { url: string }): Promise<Blob> {
  if (source instanceof Blob) return source;
  const url = new URL(source.url);
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new Error(`a workspace URL must be http:// or https://, got ${source.url}`);
  trace("http", `GET ${url.href}  # a workspace to import`);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(
      `could not fetch the workspace at ${url.href} (${errorText(error)}): it must be reachable from this page, and a server of another origin must allow it (CORS)`,
    );
  }
  if (!response.ok) throw new Error(`the workspace at ${url.href} answered HTTP ${response.status}`);
  return response.blob();
}

/** Keeps a workspace file in OPFS for the import at the next start; a failure (a full quota) leaves nothing. */
async function keepWorkspace(blob: Blob): Promise<{ bytes: number }> {
  const storage = (navigator as Navigator & { storage?: StorageManager }).storage;
  if (!storage?.getDirectory) throw new Error("importing a workspace needs the browser's storage (OPFS)");
  const root = await storage.getDirectory();
  const handle = await root.getFileHandle(STAGED_WORKSPACE, { create: true });
  try {
    const writable = await handle.createWritable();
    await blob.stream().pipeTo(writable);
  } catch (error) {
    // A full quota (or any failure) leaves nothing half-written behind.
    await root.removeEntry(STAGED_WORKSPACE).catch(() => {});
    throw new Error(`could not keep the workspace file in this browser's storage: ${errorText(error)}`);
  }
  trace("engine", `kept ${blob.size} bytes as ${STAGED_WORKSPACE}: imported when the page starts again`);
  return { bytes: blob.size };
}

const DRYDOCK_USAGE =
  "Usage:  drydock COMMAND\n\nThe page's own commands\n\nCommands:\n  node        Manage the page's nodes (add, ls, rm)\n  workspace   Export or import the page's images, volumes and containers as one file\n";

const WORKSPACE_USAGE =
  "Usage:  drydock workspace export\n        drydock workspace import [URL]\n\nThe page's images, volumes and containers as one file: export offers it as a download; import takes one\n(picked in the page, or fetched from URL), checks it whole, and starts the page again to import it.\n";

/** `drydock workspace export|import [URL]` typed in the terminal (the Node CLI's commands, for the page). */
async function workspaceCommand(args: string[], io: CliIO): Promise<number> {
  const out = io.stdout.getWriter();
  const err = io.stderr.getWriter();
  const say = (writer: WritableStreamDefaultWriter<Uint8Array>, text: string) =>
    writer.write(new TextEncoder().encode(text));
  let restart = false;
  try {
    const [action, ...rest] = args;
    if (action === undefined || action === "--help" || action === "-h") {
      await say(action ? out : err, WORKSPACE_USAGE);
      return action ? 0 : 1;
    }
    if (!workspacePage) throw new Error("the page is not ready for workspaces yet: try again once it has started");
    if (action === "export") {
      if (rest.length > 0) throw new Error(`drydock workspace export takes no arguments, got ${rest.join(" ")}`);
      await say(out, "Saving the containers and writing the workspace…\n");
      const blob = await api.exportWorkspace();
      const name = `drydock-workspace-${new Date().toISOString().slice(0, 10)}.tar`;
      await workspacePage.offer(blob, name);
      await say(out, `${name}: ${blob.size} bytes, offered as a download\n`);
      return 0;
    }
    if (action === "import") {
      if (rest.length > 1) throw new Error(`drydock workspace import takes at most one URL, got ${rest.join(" ")}`);
      let source: Blob | { url: string } | undefined;
      if (rest[0] !== undefined) {
        source = { url: new URL(rest[0], location.href).href };
        await say(out, `Fetching ${source.url}…\n`);
      } else {
        await say(out, "Pick the workspace file in the page…\n");
        source = await workspacePage.pick();
        if (!source) throw new Error("no file was picked: nothing was imported");
      }
      const blob = await workspaceBlob(source);
      const { verifyWorkspace } = await engine();
      // Checked whole before it is kept: a damaged file is refused here, and nothing is written.
      const manifest = await verifyWorkspace(blob.stream());
      await keepWorkspace(blob);
      const what = [
        `${manifest.blobs.length} blob(s)`,
        `${manifest.volumes.length} volume(s)`,
        `${manifest.containers.length} container(s)`,
      ].join(", ");
      await say(out, `The workspace (${blob.size} bytes: ${what}) is whole. The page starts again to import it…\n`);
      restart = true;
      return 0;
    }
    throw new Error(`drydock workspace: unknown command "${action}": export or import`);
  } catch (error) {
    await say(err, `Error: ${errorText(error)}\n`);
    return 1;
  } finally {
    out.releaseLock();
    err.releaseLock();
    // After the command has ended, so its words reach the terminal first.
    if (restart) setTimeout(() => void workspacePage?.restart(), 300);
  }
}

/**
 * Imports the workspace stageWorkspace kept, if any, into the OPFS stores (before the engine opens them), then
 * removes the staged file whatever happened: a failed import has cleaned up after itself.
 */
async function importStagedWorkspace(): Promise<WorkspaceOutcome | undefined> {
  const storage = (navigator as Navigator & { storage?: StorageManager }).storage;
  if (!storage?.getDirectory) return undefined;
  const root = await storage.getDirectory();
  let file: File;
  try {
    file = await (await root.getFileHandle(STAGED_WORKSPACE)).getFile();
  } catch {
    return undefined;
  }
  try {
    const { importWorkspace, OpfsContentStore, OpfsMetadataStore, OpfsVolumeDataStore } = await engine();
    trace("engine", `drydock workspace import < ${STAGED_WORKSPACE}  # ${file.size} bytes`);
    const volumes = await OpfsVolumeDataStore.open();
    try {
      const summary = await importWorkspace(
        file.stream(),
        { content: await OpfsContentStore.open(), metadata: await OpfsMetadataStore.open(), volumes },
        // The engine that wrote these records is gone: a container it recorded as running is exited now.
        { engineGone: true },
      );
      const parts = [
        `${summary.images.length} image(s)`,
        `${summary.volumes.length} volume(s)${summary.volumes.length ? ` (${summary.volumes.join(", ")})` : ""}`,
        `${summary.containers.length} container(s)${summary.containers.length ? ` (${summary.containers.join(", ")})` : ""}`,
      ];
      const kept = summary.skipped.length ? `; already here, kept as they were: ${summary.skipped.join(", ")}` : "";
      const imported = `imported ${parts.join(", ")}${kept}`;
      trace("engine", `drydock workspace import: ${imported}`);
      return { imported };
    } finally {
      await volumes.close();
    }
  } catch (error) {
    trace("error", `drydock workspace import: ${errorText(error)}`);
    return { failed: errorText(error) };
  } finally {
    await root.removeEntry(STAGED_WORKSPACE).catch(() => {});
  }
}

/** A Web Worker of its own for each WASI module the engine runs (nested in this worker). */
function webWasiWorker(): WasiWorker {
  const worker = new Worker(new URL("./wasi-worker.ts", import.meta.url), { type: "module", name: "wasi" });
  return {
    postMessage: (message) => worker.postMessage(message),
    onMessage: (listener) => worker.addEventListener("message", (event) => listener(event.data)),
    onError: (listener) =>
      worker.addEventListener("error", (event) => listener(new Error(event.message || "the WASI worker failed"))),
    terminate: () => worker.terminate(),
  };
}

/** Pulls `reference` for `platform` and names it `<repository>:<suffix>`, so both platforms stay side by side. */
async function pullPlatform(reference: string, platform: string, suffix: string): Promise<string> {
  if (!imageService) throw new Error("image storage is not open");
  trace("pull", `docker pull --platform ${platform} ${reference}`);
  const pulled = await imageService.pull(reference, { platform: parsePlatform(platform) });
  const local = `${pulled.name.replace(/(@sha256:[0-9a-f]+|:[^/:]+)$/, "")}:${suffix}`;
  trace("pull", `docker tag ${pulled.name} ${local}`);
  await imageService.tag(pulled.name, local);
  return local;
}

function parsePlatform(text: string): { os: string; architecture: string } {
  const [os = "", architecture = ""] = text.split("/");
  return { os, architecture };
}

/** Runs `image` once to its end and reads what it printed; the container is removed after. */
async function runOnce(image: string, args: string[]): Promise<RuntimeRun> {
  if (!containerService) throw new Error("the engine is not ready");
  const started = performance.now();
  const run = await containerService.run(image, { cmd: args });
  const exit = await run.exited;
  const ms = performance.now() - started;
  let output = "";
  const reader = containerService.logs(run.id).getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    output += decoder.decode(value.data, { stream: true });
  }
  await containerService.remove(run.id, { force: true });
  return { runtime: run.runtime, ms, code: exit.code, output };
}

/** How the engine reaches a guest TCP port: the one line to change when drydockd opens connections itself. */
async function guestConnector() {
  const { guestTcpConnector } = await engine();
  if (!drydock) throw new Error("the guest is not running");
  return guestTcpConnector(drydock.agent);
}

/** One request of a preview tab: to the app on a guest port and back, bodies streamed both ways. */
async function answerPreview(request: WireRequest): Promise<void> {
  const channel = new WireChannel(request.channel);
  channel.send({ kind: "accepted" });
  const where = `http://127.0.0.1:${request.port}${request.target}`;
  if (!drydock) {
    channel.send({
      kind: "failed",
      status: 503,
      message: "The Drydock machine is still starting: reload in a moment.",
    });
    channel.close();
    return;
  }
  try {
    const { previewFetch } = await engine();
    const answer = await previewFetch(
      await guestConnector(),
      {
        port: request.port,
        method: request.method,
        target: request.target,
        headers: request.headers,
        body: request.hasBody ? channel.receive("request") : null,
      },
      { publicBase: request.publicBase },
    );
    trace("preview", `${request.method} ${where} → ${answer.status} ${answer.statusText}`.trim());
    channel.send({ kind: "head", status: answer.status, statusText: answer.statusText, headers: answer.headers });
    if (answer.body) channel.transmit("response", answer.body, () => channel.close());
    else channel.close();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    trace("preview", `${request.method} ${where} → 502: ${message}`);
    channel.send({
      kind: "failed",
      status: 502,
      message:
        `Nothing answered HTTP on port ${request.port} of the guest (${message}). ` +
        `Is the container running, with the port published (docker run -p ${request.port}:80 …)?`,
    });
    channel.close();
  }
}

const api: WorkerApi = {
  async start(options: StartOptions, sink: PageSink): Promise<StartResult> {
    const received = performance.now();
    warmUpAfterPrompt = options.warmUp ?? true;
    traceSink = (entry) => sink.trace(entry);
    timeOffset = performance.timeOrigin - options.timeOrigin;
    const steps: StartStep[] = [];
    const timed = (name: string, start: number, end = performance.now()) =>
      steps.push({ name, start: start + timeOffset, end: end + timeOffset });
    timed("worker module evaluated → start received", evaluatedAt, received);
    const progress = (p: DownloadProgress) => sink.download(p);
    const loadingEngine = bootCode().then((module) => {
      timed("load the guest's code (worker chunk)", received);
      // The rest of the engine, while the guest restores.
      void engine().then(() => timed("load the rest of the engine's code", received));
      return module;
    });
    const guestFiles = [options.state, options.bios, options.vgaBios];
    /** The state and the two BIOS images: from the verified store when `useStored`, else downloaded and checked. */
    const loadGuestFiles = async (useStored: boolean) => {
      const files = await Promise.all([
        download("saved machine state", options.state, progress, timed, useStored),
        download("BIOS", options.bios, progress, timed, useStored),
        download("VGA BIOS", options.vgaBios, progress, timed, useStored),
      ]);
      trace(
        "http",
        files.every((f) => f.stored)
          ? "guest files read from the verified store (sha256 checked when they were stored)"
          : "downloads verified (sha256)",
      );
      if (!files.every((f) => f.stored)) void verifiedStore.then((store) => store?.prune(guestFiles));
      return files;
    };
    let [[state, bios, vgaBios], wasmModule] = await Promise.all([
      loadGuestFiles(true),
      compileEmulator(options.wasmUrl).then((module) => {
        timed("fetch and compile v86.wasm (streaming)", received);
        return module;
      }),
    ]);
    pageSink = sink;
    pageOrigin = options.timeOrigin;
    // The bytes stay here: a guest that fails is replaced by a fresh one restored from the same state.
    bootGuest = async (fresh) => {
      const { Drydock } = await loadingEngine;
      return Drydock.boot({
        // A restore needs no kernel: the state holds the guest's memory.
        artifacts: { bios: new Uint8Array(bios.bytes), vgaBios: new Uint8Array(vgaBios.bytes) },
        wasmPath: options.wasmUrl,
        wasmModule,
        state: fresh ? state.bytes.slice(0) : state.bytes,
        memoryMiB: options.memoryMiB,
        // The first start's steps are the page's breakdown; a fresh guest's are not timed.
        ...(fresh ? {} : { onStep: (step: string, start: number, end: number) => timed(step, start, end) }),
        ...(options.relayUrl ? { relay: { url: options.relayUrl } } : {}),
        // The terminal opens at once: its shell is adopted with the hello.
        loginShell: true,
      });
    };
    /** Restores the guest from the files loaded now; the page's other nodes restore from the same ones. */
    const restoreLoaded = async (): Promise<StartResult> => {
      nodeAssets = {
        state: state.bytes,
        bios: bios.bytes,
        vgaBios: vgaBios.bytes,
        wasmUrl: options.wasmUrl,
        wasmModule,
        memoryMiB: options.memoryMiB,
      };
      trace("vm", `restore_state: ${options.memoryMiB} MiB guest from ${state.bytes.byteLength} bytes of zstd`);
      return { ...(await restore(false)), steps };
    };
    try {
      return await restoreLoaded();
    } catch (error) {
      if (![state, bios, vgaBios].some((f) => f.stored)) throw error;
      // The stored copies matched their digests when they were stored; one damaged since (a disk, another program)
      // is forgotten and downloaded and checked again, once, instead of failing every visit from now on.
      trace(
        "error",
        `${error instanceof Error ? error.message : error} (from the stored copy: it is forgotten; downloading the guest's files again)`,
      );
      await (await verifiedStore)?.forget(guestFiles);
      [state, bios, vgaBios] = await loadGuestFiles(false);
      return restoreLoaded();
    }
  },

  async restartGuest(): Promise<StartResult> {
    if (!bootGuest) throw new Error("the guest never started");
    trace(
      "vm",
      "restore_state: a fresh guest from the saved state (images, volumes and containers are kept; the old guest's running containers are exited)",
    );
    unwatchGuest();
    const old = drydock;
    drydock = undefined;
    shell = undefined;
    shellInput = undefined;
    processes.clear();
    const oldContainers = containerService;
    containerService = undefined;
    guestDocker = undefined;
    // No restart policy acts on the old guest; its containers end with it, and their records are written before
    // the new engine reads them (and decides what the policies bring back).
    await oldContainers?.close().catch(() => {});
    await old?.dispose().catch(() => {});
    await oldContainers?.saved().catch(() => {});
    const result = await restore(true);
    await wireDocker();
    if (drydock) await pageNodes?.rejoin(drydock);
    return result;
  },

  async saveContainers(): Promise<void> {
    if (!containerService) return;
    trace("engine", "sync; tar -c <upper> > upper-<id>.tar  # the tab was hidden: containers saved as they are");
    await containerService.saved();
  },

  async flushVolumes(): Promise<void> {
    if (!containerService) return;
    await containerService.volumes.sync();
  },

  async openShell(rows: number, cols: number, sink: ShellSink): Promise<void> {
    if (!drydock) throw new Error("the guest is not running");
    const login = await drydock.openLoginShell(rows, cols);
    trace(
      "agent",
      login.adopted
        ? `adopt sh -l, parked on a pty in the saved state (now ${cols}×${rows})`
        : `spawn sh -l on a pty (${cols}×${rows}); no parked shell to adopt: ${login.reason}`,
    );
    shell = login.process;
    shellInput = shell.stdin.getWriter();
    const proc = shell;
    void (async () => {
      const reader = proc.stdout.getReader();
      let first = true;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        sink.output(Comlink.transfer(value, [value.buffer]));
        if (first && warmUpAfterPrompt && drydock) setTimeout(() => void warmUp(drydock!), WARM_UP_DELAY_MS);
        first = false;
      }
      const { code } = await proc.exit;
      trace("agent", `sh exited with code ${code}`);
      sink.exit(code);
    })();
  },

  async writeShell(bytes: Uint8Array): Promise<void> {
    lastShellInput = performance.now();
    await shellInput?.write(bytes);
  },

  async resizeShell(rows: number, cols: number): Promise<void> {
    shell?.resize(rows, cols);
  },

  async webglRenderer() {
    if (typeof OffscreenCanvas === "undefined") return undefined;
    const gl = new OffscreenCanvas(1, 1).getContext("webgl2");
    if (!gl) return undefined;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const renderer = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return renderer;
  },

  async runScript(script: string) {
    if (!drydock) throw new Error("the guest is not running");
    const proc = await drydock.agent.spawn({
      argv: ["sh", "-c", script],
      // DRYDOCK_CHECK: the guest's docker leaves a check's API requests out of the trace (one every few seconds).
      env: ["HOME=/root", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DRYDOCK_CHECK=1"],
    });
    void proc.stdin.close().catch(() => {});
    const decoder = new TextDecoder();
    const collect = async (stream: ReadableStream<Uint8Array>, into: { text: string }) => {
      for (const reader = stream.getReader(); ; ) {
        const { done, value } = await reader.read();
        if (done) return;
        if (into.text.length < 65536) into.text += decoder.decode(value, { stream: true });
      }
    };
    const stdout = { text: "" };
    const stderr = { text: "" };
    const drained = Promise.all([collect(proc.stdout, stdout), collect(proc.stderr, stderr)]);
    // A check that hangs (a docker command waiting forever) must not stop every later check: kill it.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), CHECK_TIMEOUT_MS);
    });
    const first = await Promise.race([proc.exit, timedOut]);
    clearTimeout(timer);
    if (first === "timeout") {
      proc.kill(9);
      return {
        code: 124,
        stdout: stdout.text,
        stderr: `${stderr.text}the check ran over ${CHECK_TIMEOUT_MS / 1000} s and was killed\n`,
      };
    }
    // What a background child still holds open is not waited for long.
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 1000))]);
    return { code: first.code, stdout: stdout.text, stderr: stderr.text };
  },

  async readFile(path: string): Promise<Uint8Array> {
    if (!drydock) throw new Error("the guest is not running");
    trace("fs", `cat ${path}`);
    return drydock.agent.readFile(path);
  },

  async writeFile(path: string, bytes: Uint8Array): Promise<void> {
    if (!drydock) throw new Error("the guest is not running");
    trace("fs", `cat > ${path}  # ${bytes.length} bytes`);
    await drydock.agent.writeFile(path, bytes);
  },

  async openImages(proxy: string): Promise<{ storage: "opfs" | "memory" }> {
    proxyUrl = proxy;
    // A later call only changes the proxy: the endpoint reads proxyUrl at each pull, and the guest's containers stay
    // wired to the one image service.
    if (imageService) return { storage: imageStorage };
    // Requests to the page's own proxy read best as paths: `GET /registry/v2/library/busybox/manifests/latest`.
    const onRequest = ({ method, url }: { method: string; url: string }) =>
      trace("http", `${method} ${url.startsWith(location.origin) ? url.slice(location.origin.length) : url}`);
    const { ImageService, proxyEndpoint } = await engine();
    const endpoint = (reference: Parameters<ReturnType<typeof proxyEndpoint>>[0]) => proxyEndpoint(proxyUrl)(reference);
    let workspace: WorkspaceOutcome | undefined;
    try {
      // A staged workspace goes into the stores before the engine reads them.
      workspace = await importStagedWorkspace();
      imageService = await ImageService.open({ storage: "opfs", endpoint, onRequest, hashWorker: startHashWorker });
      imageStorage = "opfs";
    } catch (error) {
      trace("error", `OPFS unavailable (${String(error)}): images are kept in memory until the page closes`);
      imageService = await ImageService.open({ storage: "memory", endpoint, onRequest, hashWorker: startHashWorker });
      imageStorage = "memory";
    }
    await wireDocker();
    return { storage: imageStorage, ...(workspace ? { workspace } : {}) };
  },

  async exportWorkspace(): Promise<Blob> {
    if (imageStorage !== "opfs" || !volumeTree) {
      throw new Error("a workspace is made from the browser's storage (OPFS), which this page could not open");
    }
    const { exportWorkspace, OpfsContentStore, OpfsMetadataStore } = await engine();
    // What the containers wrote (records, logs, volumes, running ones' files) is in storage before it is read.
    if (containerService) {
      trace("engine", "sync; tar -c <upper> > upper-<id>.tar  # saving the containers before the export");
      await containerService.saved();
    }
    trace("engine", "drydock workspace export > drydock-workspace.tar  # images, volumes and containers");
    const stores = {
      content: await OpfsContentStore.open(),
      metadata: await OpfsMetadataStore.open(),
      volumes: volumeTree.store,
    };
    const blob = await new Response(await exportWorkspace(stores)).blob();
    trace("engine", `drydock workspace export: ${blob.size} bytes`);
    return blob;
  },

  async stageWorkspace(source: Blob | { url: string }): Promise<{ bytes: number }> {
    return keepWorkspace(await workspaceBlob(source));
  },

  async onWorkspacePage(page) {
    workspacePage = page;
  },

  async checkProxy(proxy: string) {
    try {
      const response = await fetch(`${proxy.replace(/\/$/, "")}/v2/`, { signal: AbortSignal.timeout(5000) });
      if (response.status === 200 || response.status === 401) return { ok: true as const };
      return { ok: false as const, reason: `${proxy}/v2/ answered HTTP ${response.status}` };
    } catch (error) {
      return {
        ok: false as const,
        reason: `${proxy} is unreachable (${error instanceof Error ? error.message : error})`,
      };
    }
  },

  async pull(reference, onProgress) {
    if (!imageService) throw new Error("image storage is not open");
    trace("pull", `docker pull ${reference}  # through ${proxyUrl}`);
    const result = await imageService.pull(reference, { onProgress: (p) => onProgress(p) });
    trace("pull", `${result.name}: ${result.upToDate ? "image is up to date" : `downloaded ${result.digest}`}`);
    return { name: result.name, upToDate: result.upToDate };
  },

  async images() {
    return imageService ? imageService.images() : [];
  },

  async compareRuntimes(reference, args) {
    if (!containerService) throw new Error("the engine is not ready: wait for the shell");
    trace("pull", `# one program, two runtimes: ${reference} as linux/386 and as wasi/wasm`);
    const linuxImage = await pullPlatform(reference, "linux/386", "linux-386");
    const wasiImage = await pullPlatform(reference, "wasi/wasm", "wasi-wasm");
    const linux = await runOnce(linuxImage, args);
    const wasi = await runOnce(wasiImage, args);
    return { linux, wasi };
  },

  async registry() {
    const registry = imageService?.registry;
    if (!registry) return undefined;
    return { host: registry.host, repositories: await registry.repositories() };
  },

  async onRegistryEvent(listener) {
    const registry = imageService?.registry;
    if (!registry) throw new Error("image storage is not open");
    registry.subscribe((envelope) => {
      for (const event of envelope.events) {
        if (event.action === "push") {
          trace(
            "pull",
            `registry ${registry.host}: pushed ${event.target.repository}:${event.target.tag ?? event.target.digest}`,
          );
        }
      }
      void listener(envelope);
    });
  },

  async removeImage(nameOrId: string) {
    if (!imageService) return;
    trace("pull", `docker rmi -f ${nameOrId}`);
    if (!guestDocker) {
      await imageService.removeImage(nameOrId, { force: true });
      return;
    }
    // Through the Engine API, so the pane obeys what `docker rmi` does (an image a container uses stays).
    const answer = await guestDocker.fetch(
      new Request(`http://docker/images/${encodeURIComponent(nameOrId)}?force=1`, { method: "DELETE" }),
    );
    if (!answer.ok) throw new Error(((await answer.json()) as { message: string }).message);
  },

  async clearImages() {
    if (containerService?.list({ all: true }).length) {
      throw new Error("containers still use the stored images: remove them first (docker rm -f $(docker ps -aq))");
    }
    if (imageService && containerService) {
      // The guest's containers are wired to this image service: empty it rather than replace it.
      for (const image of await imageService.images()) {
        trace("pull", `docker rmi -f ${image.id}`);
        await imageService.removeImage(image.id, { force: true });
      }
      return;
    }
    trace("pull", "rm -rf <OPFS>/drydock  # every stored image and layer");
    imageService = undefined;
    const root = await navigator.storage.getDirectory();
    await root.removeEntry("drydock", { recursive: true }).catch((error: unknown) => {
      if (!(error instanceof DOMException && error.name === "NotFoundError")) throw error;
    });
    await api.openImages(proxyUrl);
  },

  async spawn(argv, options, sink) {
    if (!drydock) throw new Error("the guest is not running");
    trace(
      "agent",
      `spawn ${argv.join(" ")}${options.pty ? ` on a pty (${options.pty.cols}×${options.pty.rows})` : ""}`,
    );
    const process = await drydock.agent.spawn({
      argv,
      env: ["TERM=xterm-256color", "HOME=/root", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", ...(options.env ?? [])],
      ...(options.pty ? { pty: options.pty } : {}),
    });
    const id = nextProcess++;
    processes.set(id, { process, input: process.stdin.getWriter() });
    const pump = async (stream: ReadableStream<Uint8Array>, to: (bytes: Uint8Array) => void) => {
      for (const reader = stream.getReader(); ; ) {
        const { done, value } = await reader.read();
        if (done) return;
        to(Comlink.transfer(value, [value.buffer]));
      }
    };
    void (async () => {
      await Promise.all([
        pump(process.stdout, (bytes) => sink.stdout(bytes)),
        options.pty ? undefined : pump(process.stderr, (bytes) => sink.stderr(bytes)),
      ]);
      const { code } = await process.exit;
      processes.delete(id);
      sink.exit(code);
    })();
    return id;
  },

  async writeProcess(id, bytes) {
    await processes.get(id)?.input.write(bytes);
  },

  async closeProcessInput(id) {
    await processes.get(id)?.input.close();
  },

  async resizeProcess(id, rows, cols) {
    processes.get(id)?.process.resize(rows, cols);
  },

  async killProcess(id, signal) {
    processes.get(id)?.process.kill(signal);
  },

  async containers() {
    return (containerService?.list({ all: true }) ?? [])
      .sort((a, b) => b.created - a.created)
      .map(({ id, name, image, status }) => ({ id, name, image, status }));
  },

  async inspectContainer(ref: string) {
    if (!containerService || !imageService) throw new Error("the engine is not running yet");
    const { inspectContainer } = await engine();
    trace("engine", `cat /proc/<pid>/{ns/*,status,mountinfo,net/dev}  # inspect ${ref}`);
    return inspectContainer(containerService, imageService, ref);
  },

  async readCgroup(ref: string) {
    if (!containerService) return undefined;
    const running = containerService.list({ all: true }).find((c) => c.id === ref || c.name === ref);
    if (running?.status !== "running" && running?.status !== "paused") return undefined;
    const { readCgroup } = await engine();
    const reading = await readCgroup(containerService, ref);
    return { ...reading, at: reading.at + timeOffset };
  },

  async servePreviews(port: MessagePort) {
    port.onmessage = (event: MessageEvent<WireRequest>) => {
      if (event.data?.kind === "request") void answerPreview(event.data);
    };
  },

  async publishedPorts() {
    if (!guestDocker) return [];
    const answer = await guestDocker.fetch(new Request("http://docker/containers/json"));
    if (!answer.ok) throw new Error(((await answer.json()) as { message: string }).message);
    const list = (await answer.json()) as {
      Id: string;
      Names: string[];
      Image: string;
      Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
    }[];
    const ports: PublishedPort[] = [];
    for (const container of list) {
      for (const port of container.Ports ?? []) {
        if (port.PublicPort === undefined) continue;
        // dockerd lists a port bound on both 0.0.0.0 and :: twice: one row (and one preview) is enough.
        const seen = ports.some(
          (p) => p.containerId === container.Id && p.hostPort === port.PublicPort && p.protocol === port.Type,
        );
        if (seen) continue;
        ports.push({
          containerId: container.Id,
          name: (container.Names[0] ?? container.Id.slice(0, 12)).replace(/^\//, ""),
          image: container.Image,
          hostPort: port.PublicPort,
          containerPort: port.PrivatePort,
          protocol: port.Type,
          hostIp: port.IP ?? "0.0.0.0",
        });
      }
    }
    return ports.sort((a, b) => a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol));
  },

  async onContainersChanged(listener) {
    if (!containerService) throw new Error("the engine is not ready");
    const changes = new Set(["start", "die", "destroy", "pause", "unpause", "restart"]);
    containerService.events.on((event) => {
      if (event.type === "container" && changes.has(event.action)) void listener();
    });
  },

  async addNode() {
    if (!pageNodes) throw new Error("the engine is not ready: wait for the shell");
    return pageNodes.add();
  },

  async removeNode(name) {
    if (!pageNodes) throw new Error("the engine is not ready: wait for the shell");
    await pageNodes.remove(name);
  },

  async nodes() {
    if (!pageNodes) throw new Error("the engine is not ready: wait for the shell");
    return pageNodes.state();
  },

  async onNodesChanged(listener) {
    if (!pageNodes) throw new Error("the engine is not ready: wait for the shell");
    pageNodes.onChange((state) => void listener(state));
  },

  async nodeMemory() {
    return pageNodes
      ? pageNodes.memory(v86MemoryBytes(drydock))
      : [{ name: "node1", wasmBytes: v86MemoryBytes(drydock) }];
  },

  async lastPull() {
    const pull = imageService?.lastPull;
    if (!pull) return undefined;
    const shift = (t: number) => t + timeOffset;
    return {
      ...pull,
      start: shift(pull.start),
      ...(pull.end === undefined ? {} : { end: shift(pull.end) }),
      steps: pull.steps.map((step) => ({ ...step, start: shift(step.start), end: shift(step.end) })),
    };
  },
};

Comlink.expose(api);
