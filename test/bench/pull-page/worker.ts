// The pull benchmark's worker: pulls an image into a fresh OPFS store with the engine's hashers of choice, or hashes
// bytes in memory, and says how long it took.
import { OpfsContentStore, type OpfsDirectory, OpfsMetadataStore } from "../../../engine/content/index.ts";
import { ImageService } from "../../../engine/index.ts";
import { defaultHasherFactory, type HasherFactory, loadWasmHashers } from "../../../engine/oci/index.ts";
import type { PullBenchAnswer, PullBenchRequest } from "./protocol.ts";

const hashers = (which: "portable" | "wasm"): Promise<HasherFactory> =>
  which === "wasm" ? loadWasmHashers() : Promise.resolve(defaultHasherFactory);

async function pull(reference: string, proxy: string, which: "portable" | "wasm", id: number) {
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
    return { ms, bytes };
  } finally {
    await root.removeEntry(name, { recursive: true });
  }
}

async function hash(megabytes: number, which: "portable" | "wasm") {
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
        : await hash(request.megabytes, request.hasher);
    answer = { id: request.id, ...result };
  } catch (error) {
    answer = { id: request.id, error: error instanceof Error ? `${error.message}\n${error.stack}` : String(error) };
  }
  postMessage(answer);
});
