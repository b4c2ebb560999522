// The WASI runtime: runs a container of a wasi/wasm image as a WebAssembly module, with no guest at all. Each
// container has a writable layer over its image's merged layers; each start compiles the entrypoint's module (once
// per module and memory limit, then cached), and runs it in a worker of its own, so a module that computes (or loops)
// never blocks the engine, and stopping it is terminating that worker. A worker whose module ended by itself serves
// a later run (starting one costs more than a small module does).
import type { ExitStatus, GuestProcess } from "../agent/index.ts";
import type { Provider } from "../content/index.ts";
import { EngineError } from "../errors.ts";
import type { ImageDetails, LayerIndex, LayerRecord } from "../images/index.ts";
import type { Tracer } from "../trace/index.ts";
import { diffTrees, type FsDirectory, lookup, mergeLayers, type WritableLayer, withLayer } from "./filesystem.ts";
import { capMemory, WASM_PAGE_BYTES } from "./memory-limit.ts";
import type { FromWorker, WasiWorker, WasiWorkerFactory } from "./protocol.ts";
import { type WasmModule, wasm } from "./webassembly.ts";

/** The runtime's name, as `docker info` lists it and `docker run --runtime` takes it. */
export const WASI_RUNTIME = "wasi";

/** What the runtime needs from the image store: layer indexes and the file blobs they point at. */
export interface WasiImageSource {
  layerIndex(layer: LayerRecord): Promise<LayerIndex>;
  readonly content: Provider;
}

export interface WasiRuntimeOptions {
  images: WasiImageSource;
  /** Makes the worker each run happens in (a Web Worker in the page, a worker thread in Node). */
  workers: WasiWorkerFactory;
  tracer?: Tracer;
}

/** What a WASI container is run with, from its runtime spec and options. */
export interface WasiRunSpec {
  args: string[];
  env: string[];
  /** `-m`: bytes. */
  memoryMax?: number;
  /** `-i`: the module gets its stdin once the client closes it (WASI reads are synchronous; see the README). */
  openStdin: boolean;
}

/** A running module: the same shape as a guest process, so logs, attach and wait treat both alike. */
export interface WasiTask {
  readonly pid: number;
  readonly process: GuestProcess;
  readonly network: Promise<void>;
  /** Settles with the exit and what the run did to the container's files (undefined when it was killed). */
  readonly ended: Promise<{ status: ExitStatus; oomKilled: boolean; error?: string; root?: FsDirectory }>;
  /** Memory the module has now, and CPU time: a module that runs is always computing (WASI has no blocking call). */
  sample(): { memoryBytes: number; cpuMicroseconds: number; running: boolean };
  readonly argv: string[];
  readonly startedAt: number;
}

let nextPid = 1;

/** A worker the runtime holds, with the listeners of the run it serves now (none while it waits idle). */
interface HeldWorker {
  worker: WasiWorker;
  onMessage?: (message: FromWorker) => void;
  onError?: (error: Error) => void;
}

/** Workers kept for the next runs once a module has ended by itself: a started worker is the costly part of a run. */
const IDLE_WORKERS = 2;

/** A module whose memory ended within this much of its cap, and failed, is taken to have run out of memory. */
function outOfMemory(memoryBytes: number, cap: number | undefined, code: number): boolean {
  if (cap === undefined || code === 0) return false;
  return cap - memoryBytes < Math.max(2 * 1024 * 1024, cap / 8);
}

const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;

/**
 * Runs wasi/wasm containers.
 * @example
 * const wasi = new WasiRuntime({ images: imageService.store, workers: nodeWasiWorkers() });
 * const layer = new Map();
 * const task = await wasi.start("3f2a", details, layer, { args: ["/app.wasm"], env: [], openStdin: false });
 * const { status } = await task.ended;
 */
export class WasiRuntime {
  readonly #options: WasiRuntimeOptions;
  /** Each image's merged layers, by image ID. */
  readonly #trees = new Map<string, Promise<FsDirectory>>();
  /** Compiled modules, by file digest and memory cap. */
  readonly #modules = new Map<string, Promise<WasmModule>>();
  /** Workers whose module ended by itself, ready for another (a killed module's worker is terminated instead). */
  readonly #idle: HeldWorker[] = [];

  constructor(options: WasiRuntimeOptions) {
    this.#options = options;
  }

  /** The image's files, merged once and shared by its containers (never changed: runs copy what they change). */
  imageTree(image: ImageDetails): Promise<FsDirectory> {
    const key = image.record.config.digest;
    let tree = this.#trees.get(key);
    if (!tree) {
      const { images } = this.#options;
      tree = (async () =>
        mergeLayers(await Promise.all(image.layers.map((layer) => images.layerIndex(layer))), (digest) =>
          images.content.readBytes(digest),
        ))();
      tree.catch(() => this.#trees.delete(key));
      this.#trees.set(key, tree);
    }
    return tree;
  }

  /** Forgets compiled modules and merged images (the benchmark's cold start; memory pressure). */
  clearCache(): void {
    this.#modules.clear();
    this.#trees.clear();
  }

  #acquire(): HeldWorker {
    const idle = this.#idle.pop();
    if (idle) return idle;
    const held: HeldWorker = { worker: this.#options.workers() };
    held.worker.onMessage((message) => held.onMessage?.(message));
    held.worker.onError((error) => held.onError?.(error));
    return held;
  }

  #release(held: HeldWorker, reusable: boolean): void {
    held.onMessage = undefined;
    held.onError = undefined;
    if (reusable && this.#idle.length < IDLE_WORKERS) this.#idle.push(held);
    else held.worker.terminate();
  }

  /**
   * Compiles the module at `path` of `root`, capped at `memoryMax` bytes: once per file content and cap, then from
   * the cache. Throws notFound (exit 127) for a missing file, invalidArgument (exit 126) for one that is not wasm.
   */
  async module(root: FsDirectory, path: string, memoryMax: number | undefined, subject?: string) {
    const node = lookup(root, path);
    if (node?.type !== "file") {
      throw new EngineError(
        "notFound",
        `exec: "${path}": ${node ? "is a directory" : "no such file or directory"}: executable file not found (exit code 127)`,
      );
    }
    const maxPages = memoryMax === undefined ? undefined : Math.floor(memoryMax / WASM_PAGE_BYTES);
    const key = node.digest ? `${node.digest}@${maxPages ?? "-"}` : undefined;
    const started = performance.now();
    const cached = key !== undefined && this.#modules.has(key);
    let compiled = key ? this.#modules.get(key) : undefined;
    if (!compiled) {
      compiled = (async () => {
        let bytes = node.data;
        if (maxPages !== undefined) bytes = capMemory(bytes, maxPages).bytes;
        try {
          return await wasm.compile(bytes as Uint8Array<ArrayBuffer>);
        } catch (error) {
          throw new EngineError(
            "invalidArgument",
            `exec: "${path}": not a valid WebAssembly module: ${(error as Error).message} (exit code 126)`,
          );
        }
      })();
      if (key) {
        this.#modules.set(key, compiled);
        compiled.catch(() => this.#modules.delete(key));
      }
    }
    const module = await compiled;
    this.#options.tracer?.emit(
      {
        op: "wasm-compile",
        path,
        ...(node.digest ? { digest: node.digest } : {}),
        cached,
        milliseconds: Math.round(performance.now() - started),
      },
      subject,
    );
    return module;
  }

  /**
   * Starts a container's module over its image and writable layer. The returned task's `ended` gives the files as
   * the module left them; the caller keeps the new writable layer ({@link WasiRuntime.layerAfter}).
   */
  async start(id: string, image: ImageDetails, layer: WritableLayer, spec: WasiRunSpec): Promise<WasiTask> {
    const argv = spec.args;
    if (argv.length === 0)
      throw new EngineError("invalidArgument", "no command specified: the image has no entrypoint");
    const root = withLayer(await this.imageTree(image), layer);
    const path = argv[0]!.startsWith("/") ? argv[0]! : `/${argv[0]}`;
    const module = await this.module(root, path, spec.memoryMax, id);
    return this.#run(id, module, root, spec);
  }

  /** The writable layer a run leaves: what differs between the image and the files the module ended with. */
  async layerAfter(image: ImageDetails, root: FsDirectory): Promise<WritableLayer> {
    return diffTrees(await this.imageTree(image), root);
  }

  #run(id: string, module: WasmModule, root: FsDirectory, spec: WasiRunSpec): WasiTask {
    const tracer = this.#options.tracer;
    const pid = nextPid++;
    const startedAt = Date.now();
    const streams = {
      stdout: new TransformStream<Uint8Array, Uint8Array>(),
      stderr: new TransformStream<Uint8Array, Uint8Array>(),
    };
    const writers = { stdout: streams.stdout.writable.getWriter(), stderr: streams.stderr.writable.getWriter() };
    let memoryBytes = 0;
    let running = true;
    let launchedAt: number | undefined;
    let finishedAt: number | undefined;
    let held: HeldWorker | undefined;
    let settle!: (result: Awaited<WasiTask["ended"]>) => void;
    const ended = new Promise<Awaited<WasiTask["ended"]>>((resolve) => {
      settle = resolve;
    });
    /** `reusable`: the module ended by itself, so its worker is free for another run. */
    const finish = async (result: Awaited<WasiTask["ended"]>, reusable = false) => {
      if (!running) return;
      running = false;
      finishedAt = Date.now();
      if (held) this.#release(held, reusable);
      if (result.error) await writers.stderr.write(new TextEncoder().encode(`${result.error}\n`)).catch(() => {});
      await Promise.all([writers.stdout.close().catch(() => {}), writers.stderr.close().catch(() => {})]);
      settle(result);
    };

    const stdin: Uint8Array[] = [];
    let stdinClosed!: () => void;
    const stdinDone = new Promise<void>((resolve) => {
      stdinClosed = resolve;
    });
    if (!spec.openStdin) stdinClosed();
    const stdinStream = new WritableStream<Uint8Array>({
      write: (chunk) => {
        stdin.push(chunk.slice());
      },
      close: () => stdinClosed(),
      abort: () => stdinClosed(),
    });

    const launch = () => {
      if (!running) return;
      const all = new Uint8Array(stdin.reduce((sum, chunk) => sum + chunk.byteLength, 0));
      let at = 0;
      for (const chunk of stdin) {
        all.set(chunk, at);
        at += chunk.byteLength;
      }
      launchedAt = Date.now();
      held = this.#acquire();
      held.onError = (error) => {
        void finish({ status: { code: 125 }, oomKilled: false, error: `the WASI worker failed: ${error.message}` });
      };
      held.onMessage = (message: FromWorker) => {
        if (message.type === "output") {
          void writers[message.stream].write(message.data).catch(() => {});
        } else if (message.type === "memory") {
          memoryBytes = message.bytes;
        } else if (message.type === "exit") {
          memoryBytes = message.memoryBytes;
          const oomKilled = outOfMemory(message.memoryBytes, spec.memoryMax, message.code);
          let error = message.error;
          if (oomKilled) {
            const used = `the module ran out of memory: it had ${mib(message.memoryBytes)} of its ${mib(spec.memoryMax!)} limit (docker run -m) and could not grow past it`;
            error = error ? `${error}\n${used}` : used;
          }
          void finish(
            {
              status: { code: message.code },
              oomKilled,
              ...(error ? { error } : {}),
              root: message.root,
            },
            true,
          );
        }
      };
      tracer?.emit({ op: "wasi-start", argv: spec.args, ...(spec.memoryMax ? { memoryMax: spec.memoryMax } : {}) }, id);
      held.worker.postMessage({
        type: "start",
        module,
        args: spec.args,
        env: spec.env,
        root,
        stdin: all,
        ...(spec.memoryMax ? { maxPages: Math.floor(spec.memoryMax / WASM_PAGE_BYTES) } : {}),
      });
    };
    void stdinDone.then(launch);

    const exit = ended.then((result) => result.status);
    const process: GuestProcess = {
      pid,
      stdout: streams.stdout.readable,
      stderr: streams.stderr.readable,
      stdin: stdinStream,
      exit,
      resize: () => {},
      kill: (signal = 9) => {
        if (!running) return;
        tracer?.emit({ op: "wasi-terminate", signal }, id);
        void finish({ status: { code: 128 + signal, signal }, oomKilled: false });
      },
    };
    return {
      pid,
      process,
      network: Promise.resolve(),
      ended,
      argv: spec.args,
      startedAt,
      sample: () => ({
        memoryBytes,
        cpuMicroseconds: launchedAt === undefined ? 0 : ((finishedAt ?? Date.now()) - launchedAt) * 1000,
        running,
      }),
    };
  }
}
