// The pull benchmark's worker: pulls an image into a fresh OPFS store with the engine's hashers of choice, or hashes
// bytes in memory, and says how long it took.
import { OpfsContentStore, type OpfsDirectory, OpfsMetadataStore } from "../../../engine/content/index.ts";
import { ImageService } from "../../../engine/index.ts";
import {
  defaultHasherFactory,
  type HasherFactory,
  loadWasmHashers,
  offloadHashing,
} from "../../../engine/oci/index.ts";
import { startHashWorker } from "../../../web/hash-port.ts";
import type { PullBenchAnswer, PullBenchRequest } from "./protocol.ts";

/** The page's hashing worker, started once (at the first offloaded pull) as the playground's is. */
let offloaded: HasherFactory | undefined;

const hashers = async (which: "portable" | "wasm" | "offload"): Promise<HasherFactory> => {
  if (which === "portable") return defaultHasherFactory;
  if (which === "wasm") return loadWasmHashers();
  offloaded ??= offloadHashing(startHashWorker, await loadWasmHashers());
  return offloaded;
};

/** The last pull's layer blobs: repository on the proxy and digests; their bytes once fetched. */
let lastLayers: { repository: string; digests: string[] } | undefined;
let fetchedBlobs: Uint8Array[] = [];

async function pull(reference: string, proxy: string, which: "portable" | "wasm" | "offload", id: number) {
  const root = await navigator.storage.getDirectory();
  const name = `bench-pull-${id}`;
  // The DOM library's handle type lacks the async iteration the store uses; the browser's handle has it.
  const dir = (await root.getDirectoryHandle(name, { create: true })) as unknown as OpfsDirectory;
  try {
    const factory = await hashers(which);
    const content = await OpfsContentStore.open({
      root: await dir.getDirectoryHandle("content", { create: true }),
      hashers: factory,
    });
    const metadata = await OpfsMetadataStore.open(await dir.getDirectoryHandle("metadata", { create: true }));
    const images = await ImageService.open({ storage: { content, metadata, hashers: factory }, proxy });
    const started = performance.now();
    const pulled = await images.pull(reference);
    const ms = performance.now() - started;
    const bytes = pulled.details.layers.reduce((sum, layer) => sum + layer.blob.size, 0);
    const named = reference.slice(0, reference.lastIndexOf(":"));
    lastLayers = { repository: named, digests: pulled.details.layers.map((layer) => layer.blob.digest) };
    return { ms, bytes };
  } finally {
    await root.removeEntry(name, { recursive: true });
  }
}

async function fetchBlobs(proxy: string, cache?: RequestCache) {
  if (!lastLayers) throw new Error("pull first: fetch reads the last pull's layers");
  const started = performance.now();
  let bytes = 0;
  const kept: Uint8Array[] = [];
  for (const digest of lastLayers.digests) {
    const response = await fetch(
      `${proxy.replace(/\/+$/, "")}/v2/${lastLayers.repository}/blobs/${digest}`,
      cache ? { cache } : {},
    );
    if (!response.ok || !response.body) throw new Error(`blob ${digest}: HTTP ${response.status}`);
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      chunks.push(value);
    }
    kept.push(new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer()));
  }
  const ms = performance.now() - started;
  fetchedBlobs = kept;
  return { ms, bytes };
}

async function gunzip() {
  if (fetchedBlobs.length === 0) throw new Error("fetch first: gunzip reads the fetched blobs");
  const started = performance.now();
  let bytes = 0;
  for (const blob of fetchedBlobs) {
    const reader = new Blob([blob as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip")).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
    }
  }
  return { ms: performance.now() - started, bytes };
}

async function write(megabytes: number, chunkSize: number, id: number) {
  const root = await navigator.storage.getDirectory();
  const name = `bench-write-${id}`;
  const chunk = new Uint8Array(chunkSize).map((_, i) => i * 13);
  const handle = await root.getFileHandle(name, { create: true });
  try {
    const access = await (
      handle as unknown as {
        createSyncAccessHandle(): Promise<{
          write(b: Uint8Array, o: { at: number }): number;
          flush(): void;
          close(): void;
        }>;
      }
    ).createSyncAccessHandle();
    const started = performance.now();
    let at = 0;
    while (at < megabytes * 1e6) at += access.write(chunk, { at });
    access.flush();
    access.close();
    return { ms: performance.now() - started, bytes: at };
  } finally {
    await root.removeEntry(name);
  }
}

async function hash(megabytes: number, which: "portable" | "wasm" | "webcrypto") {
  if (which === "webcrypto") {
    const data = new Uint8Array(megabytes * 1e6).map((_, i) => i * 7);
    const started = performance.now();
    await crypto.subtle.digest("SHA-256", data);
    return { ms: performance.now() - started, bytes: data.byteLength };
  }
  const factory = await hashers(which);
  const chunk = new Uint8Array(1 << 16).map((_, i) => i * 7);
  const hasher = factory("sha256");
  const started = performance.now();
  for (let done = 0; done < megabytes * 1e6; done += chunk.length) hasher.update(chunk);
  hasher.digest();
  return { ms: performance.now() - started, bytes: megabytes * 1e6 };
}

addEventListener("message", async (event: MessageEvent<PullBenchRequest>) => {
  const request = event.data;
  let answer: PullBenchAnswer;
  try {
    const result =
      request.op === "pull"
        ? await pull(request.reference, request.proxy, request.hasher, request.id)
        : request.op === "fetch"
          ? await fetchBlobs(request.proxy, request.cache)
          : request.op === "gunzip"
            ? await gunzip()
            : request.op === "write"
              ? await write(request.megabytes, request.chunk, request.id)
              : await hash(request.megabytes, request.hasher);
    answer = { id: request.id, ...result };
  } catch (error) {
    answer = { id: request.id, error: error instanceof Error ? `${error.message}\n${error.stack}` : String(error) };
  }
  postMessage(answer);
});
