// Pulls in the page: the ~50 MB fixture image from a local docker-registry, through the registry proxy that `vite
// preview` serves (as the playground's), into a fresh OPFS store in a Web Worker of real Chromium, verified and
// unpacked as it streams. With the portable TypeScript SHA-2, the WebAssembly one on the pull's thread, and the
// WebAssembly one in a hashing worker beside it (as the playground pulls), by turns, so all meet the same load; and
// the hashers alone on 64 MB in memory. PULL_RUNS sets the rounds (default 4); PULL_HASHERS=wasm,offload leaves the
// portable one out (an A/B of the two). Each pull's CPU seconds per thread (Chromium's, the proxy's Node, the
// registry) are printed too: on a loaded machine they say what a pull asks of each thread when its wall time mostly
// says how long the threads waited for a core.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { build, preview } from "vite";
import { registryProxy } from "../../web/proxy/vite-plugin.ts";
import { launchBrowser } from "../e2e/harness.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import { addCpu, cpuSnapshot, topThreads } from "./cpu.ts";
import { type BenchSuite, loadAverage } from "./harness.ts";
import type { PullBenchAnswer } from "./pull-page/protocol.ts";

const ROOT = join(import.meta.dirname, "pull-page");
const RUNS = Number(process.env.PULL_RUNS ?? 4);
const ALL_HASHERS = ["portable", "wasm", "offload"] as const;
type HasherName = (typeof ALL_HASHERS)[number];
const HASHERS = ALL_HASHERS.filter((name) => (process.env.PULL_HASHERS?.split(",") ?? ALL_HASHERS).includes(name));

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
        const rates: Record<HasherName, number[]> = { portable: [], wasm: [], offload: [] };
        const loads: number[] = [];
        /** CPU seconds by thread over each hasher's timed pulls. */
        const cpu: Record<HasherName, Map<string, number>> = {
          portable: new Map(),
          wasm: new Map(),
          offload: new Map(),
        };
        // One untimed pull each: the registry's page cache, the proxy's and the worker's code warmed alike.
        for (const hasher of HASHERS) await ask({ op: "pull", reference: big.reference, proxy, hasher });
        let megabytes = 0;
        for (let run = 0; run < RUNS; run++) {
          loads.push(loadAverage());
          // The order turns too, so no hasher always follows the same one.
          for (const hasher of run % 2 === 0 ? HASHERS : [...HASHERS].reverse()) {
            const before = cpuSnapshot();
            const { ms, bytes } = await ask({ op: "pull", reference: big.reference, proxy, hasher });
            addCpu(cpu[hasher], before, cpuSnapshot());
            megabytes = bytes / 1e6;
            rates[hasher].push(megabytes / (ms / 1000));
          }
        }
        ctx.record("image size (compressed layers)", Math.round(megabytes * 10) / 10, "MB");
        const named: Record<HasherName, string> = {
          portable: "portable SHA-2 (TypeScript)",
          wasm: "WebAssembly SHA-2 on the pull's thread",
          offload: "WebAssembly SHA-2 in a hashing worker (the playground's)",
        };
        for (const hasher of HASHERS) {
          ctx.samples(
            `pull into OPFS through the proxy, ${named[hasher]}`,
            rates[hasher],
            "MB/s",
            hasher === "offload" ? "≥ 50 MB/s" : undefined,
          );
        }
        for (const hasher of HASHERS) {
          console.log(`CPU per pull by thread, ${named[hasher]}:`);
          console.table(topThreads(cpu[hasher], RUNS));
        }
        if (rates.wasm.length > 0 && rates.offload.length > 0) {
          // Pairs of one round: each pair met the same load.
          const ratios = rates.offload.map((rate, i) => rate / rates.wasm[i]!);
          ctx.samples("hashing worker ÷ hashing on the pull's thread, per round", ratios, "×");
          console.log(`pull rounds' load average: ${Math.min(...loads)}–${Math.max(...loads)} on 2 cores`);
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
        for (const hasher of ["portable", "wasm", "webcrypto"] as const) {
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
