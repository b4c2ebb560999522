// Pulls in the page: the ~50 MB fixture image from a local docker-registry, through the registry proxy that `vite
// preview` serves (as the playground's), into a fresh OPFS store in a Web Worker of real Chromium, verified and
// unpacked as it streams. Once with the portable TypeScript SHA-2 and once with the WebAssembly one, by turns, so both
// meet the same load; and the two hashers alone on 64 MB in memory. Each pull's CPU seconds per thread (Chromium's,
// the proxy's Node, the registry) are printed too: on a loaded machine they say what a pull asks of each thread when
// its wall time mostly says how long the threads waited for a core.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { build, preview } from "vite";
import { registryProxy } from "../../web/proxy/vite-plugin.ts";
import { launchBrowser } from "../e2e/harness.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import { addCpu, cpuSnapshot, topThreads } from "./cpu.ts";
import type { BenchSuite } from "./harness.ts";
import type { PullBenchAnswer } from "./pull-page/protocol.ts";

const ROOT = join(import.meta.dirname, "pull-page");
const RUNS = 4;
const HASHERS = ["portable", "wasm"] as const;

const suite: BenchSuite = {
  name: "page-pull",
  async run(ctx) {
    const registry = await startRegistry();
    const outDir = join(import.meta.dirname, "../../bench/.pull-page");
    try {
      const { big } = await seedRegistry(registry, ["big"]);
      await build({
        configFile: false,
        root: ROOT,
        logLevel: "error",
        worker: { format: "es" },
        build: { outDir, emptyOutDir: true, target: "es2022" },
      });
      const upstreams = { [registry.host]: { url: registry.url, allowPrivate: true } };
      const server = await preview({
        configFile: false,
        root: ROOT,
        logLevel: "error",
        plugins: [registryProxy({ upstreams })],
        build: { outDir },
        preview: { port: 0, host: "127.0.0.1", strictPort: false },
      });
      const url = server.resolvedUrls?.local[0];
      if (!url) throw new Error("vite preview did not say where the pull page listens");
      const browser = await launchBrowser();
      try {
        const { page } = browser;
        await page.goto(url);
        await page.waitForSelector("html[data-state=ready]");
        const ask = async (request: object): Promise<{ ms: number; bytes: number }> => {
          const answer = (await page.evaluate(`bench(${JSON.stringify(request)})`)) as PullBenchAnswer;
          if ("error" in answer) throw new Error(`the page's worker failed: ${answer.error}`);
          return answer;
        };
        const proxy = new URL("registry", url).href;
        const rates: Record<(typeof HASHERS)[number], number[]> = { portable: [], wasm: [] };
        const cpu: Record<(typeof HASHERS)[number], Map<string, number>> = { portable: new Map(), wasm: new Map() };
        // One untimed pull each: the registry's page cache, the proxy's and the worker's code warmed alike.
        for (const hasher of HASHERS) await ask({ op: "pull", reference: big.reference, proxy, hasher });
        let megabytes = 0;
        for (let run = 0; run < RUNS; run++) {
          for (const hasher of HASHERS) {
            const before = cpuSnapshot();
            const { ms, bytes } = await ask({ op: "pull", reference: big.reference, proxy, hasher });
            addCpu(cpu[hasher], before, cpuSnapshot());
            megabytes = bytes / 1e6;
            rates[hasher].push(megabytes / (ms / 1000));
          }
        }
        ctx.record("image size (compressed layers)", Math.round(megabytes * 10) / 10, "MB");
        ctx.samples("pull into OPFS through the proxy, portable SHA-2 (TypeScript)", rates.portable, "MB/s");
        ctx.samples("pull into OPFS through the proxy, WebAssembly SHA-2", rates.wasm, "MB/s", "≥ 50 MB/s");
        for (const hasher of HASHERS) {
          console.log(`CPU seconds per pull by thread (${hasher} SHA-2), process kind / thread #tid:`);
          console.table(topThreads(cpu[hasher], RUNS));
        }
        // The parts of a pull alone, in the same worker, to show where its floor is: reading the blobs through the
        // proxy (the network, the registry and the proxy in vite preview's Node process), gunzip in
        // DecompressionStream, writing to OPFS the way the store does (a sync access handle, 64 KiB writes), and the
        // hashers. A pull hashes every byte three times: the blob, the unpacked tar (its diff id), each file in it.
        const part = async (request: object) => {
          const samples: number[] = [];
          for (let run = 0; run < 3; run++) {
            const { ms, bytes } = await ask(request);
            samples.push(bytes / 1e6 / (ms / 1000));
          }
          return samples;
        };
        const fetched = await part({ op: "fetch", proxy });
        ctx.samples("floor: the layer blobs read through the proxy, nothing else", fetched, "MB/s");
        ctx.samples("floor: gunzip (DecompressionStream) of those blobs", await part({ op: "gunzip" }), "MB/s");
        ctx.samples(
          "floor: OPFS writes, sync access handle, 64 KiB each",
          await part({ op: "write", megabytes: 64, chunk: 1 << 16 }),
          "MB/s",
        );
        for (const hasher of [...HASHERS, "webcrypto"] as const) {
          const hashed: number[] = [];
          for (let run = 0; run < 3; run++) {
            const { ms, bytes } = await ask({ op: "hash", megabytes: 64, hasher });
            hashed.push(bytes / 1e6 / (ms / 1000));
          }
          ctx.samples(`SHA-256 of 64 MB in the worker, ${hasher}`, hashed, "MB/s");
        }
      } finally {
        await browser.close();
        await server.close();
      }
    } finally {
      await registry.stop();
      await rm(outDir, { recursive: true, force: true });
    }
  },
};

export default suite;
