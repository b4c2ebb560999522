// Runs the shared content and metadata store conformance cases against the OPFS stores (the content store both with
// sync access handles and with writable streams), in a dedicated Web Worker as the engine does, each case in a fresh
// directory of the origin private file system; posts one result per case.
import { OpfsContentStore, type OpfsDirectory, OpfsMetadataStore } from "../../../engine/content/index.ts";
import { type HasherFactory, loadWasmHashers, offloadHashing } from "../../../engine/oci/index.ts";
import {
  type ConformanceCase,
  type ContentStoreHarness,
  contentStoreCases,
  runCase,
} from "../../conformance/content-store.ts";
import { type MetadataStoreHarness, metadataStoreCases } from "../../conformance/metadata-store.ts";
import type { CaseResult } from "./results.ts";

// The worker globals used here; test/ is type-checked with Node's libs, which lack them.
interface WorkerScope {
  navigator: { storage: { getDirectory(): Promise<OpfsDirectory> } };
  postMessage(message: CaseResult[]): void;
}
const scope = globalThis as unknown as WorkerScope;
declare const Worker: new (
  url: URL,
  options: { type: "module" },
) => {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: "message" | "error", listener: (event: { data: unknown; message: string }) => void): void;
};

/** A case that neither passes nor fails in this long is reported as failed, under its own name. */
const CASE_TIMEOUT_MS = 30_000;

/** A fresh, uniquely named directory under the OPFS root, and a way to remove it. */
async function freshDirectory(): Promise<{ directory: OpfsDirectory; remove: () => Promise<void> }> {
  const root = await scope.navigator.storage.getDirectory();
  const name = `conformance-${crypto.randomUUID()}`;
  const directory = await root.getDirectoryHandle(name, { create: true });
  return { directory, remove: () => root.removeEntry(name, { recursive: true }) };
}

/**
 * The page's hashing worker (web/hash-worker.ts), with batches of 4 bytes: every blob of the cases is hashed there,
 * not only those over a MiB.
 */
async function workerHashers(): Promise<HasherFactory> {
  return offloadHashing(
    () => {
      const worker = new Worker(new URL("../../../web/hash-worker.ts", import.meta.url), { type: "module" });
      return {
        postMessage: (message, transfer) => worker.postMessage(message, transfer),
        onMessage: (listener) => worker.addEventListener("message", (event) => listener(event.data)),
        onError: (listener) => worker.addEventListener("error", (event) => listener(new Error(event.message))),
      };
    },
    await loadWasmHashers(),
    { batchBytes: 4 },
  );
}

/**
 * The store as the engine's worker opens it (sync access handles), or writing through writable streams, or hashing
 * in the hashing worker.
 */
const openContent = (syncAccess: boolean, hashers?: HasherFactory) => async (): Promise<ContentStoreHarness> => {
  const { directory, remove } = await freshDirectory();
  const options = { root: directory, syncAccess, ...(hashers ? { hashers } : {}) };
  return {
    store: await OpfsContentStore.open(options),
    reopen: () => OpfsContentStore.open(options),
    dispose: remove,
  };
};

async function openMetadata(): Promise<MetadataStoreHarness> {
  const { directory, remove } = await freshDirectory();
  return {
    store: await OpfsMetadataStore.open(directory),
    reopen: () => OpfsMetadataStore.open(directory),
    dispose: remove,
  };
}

function describeError(error: unknown): string {
  if (error instanceof Error)
    return error.stack?.includes(error.message) ? error.stack : `${error.message}\n${error.stack}`;
  return String(error);
}

async function runAll<Harness extends { dispose?: () => Promise<void> }>(
  suite: string,
  cases: readonly ConformanceCase<Harness>[],
  open: () => Promise<Harness>,
  results: CaseResult[],
): Promise<void> {
  for (const testCase of cases) {
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
    });
    try {
      await Promise.race([runCase(open, testCase), timeout]);
      results.push({ suite, name: testCase.name, ok: true, ms: performance.now() - started });
    } catch (error) {
      results.push({
        suite,
        name: testCase.name,
        ok: false,
        error: describeError(error),
        ms: performance.now() - started,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

const results: CaseResult[] = [];
await runAll("content store", contentStoreCases, openContent(true), results);
await runAll("content store, writable streams", contentStoreCases, openContent(false), results);
await runAll("content store, hashing worker", contentStoreCases, openContent(true, await workerHashers()), results);
await runAll("metadata store", metadataStoreCases, openMetadata, results);
scope.postMessage(results);
