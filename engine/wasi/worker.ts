// The worker side: runs one WASI module with @bjorn3/browser_wasi_shim. It imports nothing of the platform beyond
// what workers have everywhere (WebAssembly, TextEncoder, performance), so the same code is a Web Worker in the page
// (web/wasi-worker.ts) and a worker thread in Node (engine/node/wasi-worker.ts).
import {
  ConsoleStdout,
  Directory,
  File,
  type Inode,
  OpenFile,
  PreopenDirectory,
  WASI,
  WASIProcExit,
} from "@bjorn3/browser_wasi_shim";
import type { FsDirectory, FsNode } from "./filesystem.ts";
import type { FromWorker, StartMessage, ToWorker } from "./protocol.ts";
import { type WasmMemory, wasm } from "./webassembly.ts";

/** How a worker talks to the engine (the worker's global scope, or Node's parentPort). */
export interface WorkerEndpoint {
  postMessage(message: FromWorker): void;
  onMessage(listener: (message: ToWorker) => void): void;
}

function toShim(directory: FsDirectory): Directory {
  const entries: [string, Inode][] = [];
  for (const [name, node] of directory.entries) {
    entries.push([name, node.type === "directory" ? toShim(node) : new File(node.data)]);
  }
  return new Directory(entries);
}

function fromShim(directory: Directory): FsDirectory {
  const entries = new Map<string, FsNode>();
  for (const [name, inode] of directory.contents) {
    if (inode instanceof Directory) entries.set(name, fromShim(inode));
    else if (inode instanceof File) entries.set(name, { type: "file", data: inode.data });
  }
  return { type: "directory", entries };
}

/** A trap's message as a person reads it; the common ones get a word on what they usually mean. */
function describeTrap(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/unreachable/i.test(message)) return `wasm trap: unreachable (the module aborted): ${message}`;
  if (/out of bounds/i.test(message)) return `wasm trap: out-of-bounds memory access: ${message}`;
  if (/call stack/i.test(message)) return `wasm trap: call stack exhausted: ${message}`;
  return `wasm trap: ${message}`;
}

/**
 * Waits for one `start` message and runs the module to its end, posting its output, its memory size and its exit.
 * @example
 * serveWasiModule({ postMessage: (m) => self.postMessage(m), onMessage: (f) => self.addEventListener("message", (e) => f(e.data)) });
 */
export function serveWasiModule(endpoint: WorkerEndpoint): void {
  endpoint.onMessage((message) => {
    if (message.type === "start") run(endpoint, message);
  });
}

function run(endpoint: WorkerEndpoint, start: StartMessage): void {
  const output = (stream: "stdout" | "stderr") =>
    new ConsoleStdout((data) => endpoint.postMessage({ type: "output", stream, data: data.slice() }));
  const root = new PreopenDirectory("/", toShim(start.root).contents);
  const wasi = new WASI(
    start.args,
    start.env,
    [new OpenFile(new File(start.stdin)), output("stdout"), output("stderr"), root],
    {
      debug: false,
    },
  );
  let memory: WasmMemory | undefined;
  let reported = 0;
  let lastReport = 0;
  const report = () => {
    const bytes = memory?.buffer.byteLength ?? 0;
    if (bytes === reported) return;
    reported = bytes;
    endpoint.postMessage({ type: "memory", bytes });
  };
  // Every WASI call is a moment the module is not computing: a cheap place to say how much memory it has.
  const imports: Record<string, (...args: never[]) => unknown> = {};
  for (const [name, fn] of Object.entries(wasi.wasiImport)) {
    imports[name] = (...args: never[]) => {
      const now = performance.now();
      if (now - lastReport > 250) {
        lastReport = now;
        report();
      }
      return (fn as (...a: never[]) => unknown)(...args);
    };
  }
  const importObject: Record<string, Record<string, unknown>> = {
    wasi_snapshot_preview1: imports,
    wasi_unstable: imports,
  };
  for (const wanted of wasm.Module.imports(start.module)) {
    if (wanted.kind === "memory") {
      memory = new wasm.Memory({ initial: 1, ...(start.maxPages ? { maximum: start.maxPages } : {}) });
      importObject[wanted.module] = { ...importObject[wanted.module], [wanted.name]: memory };
    }
  }
  let code: number;
  let error: string | undefined;
  try {
    const instance = new wasm.Instance(start.module, importObject);
    const exports = instance.exports as { memory?: WasmMemory; _start?: () => unknown };
    memory ??= exports.memory;
    if (!memory || typeof exports._start !== "function") {
      throw new TypeError("the module exports no memory or no _start: it is not a WASI command (a library?)");
    }
    report();
    code = wasi.start({ exports } as never);
  } catch (thrown) {
    if (thrown instanceof WASIProcExit) {
      code = thrown.code;
    } else if (thrown instanceof wasm.LinkError || thrown instanceof TypeError) {
      code = 126;
      error = `the module cannot run here: ${(thrown as Error).message}`;
    } else {
      code = 134;
      error = describeTrap(thrown);
    }
  }
  endpoint.postMessage({
    type: "exit",
    code,
    ...(error ? { error } : {}),
    memoryBytes: memory?.buffer.byteLength ?? 0,
    root: fromShim(root.dir),
  });
}
