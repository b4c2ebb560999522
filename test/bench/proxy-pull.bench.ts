// What the registry proxy costs a pull: the ~50 MB fixture image from a local docker-registry into a fresh Node fs
// image store (verified and unpacked as it streams), directly and through the proxy, the loopback registry configured
// explicitly as its upstream. The proxy runs two ways: standalone in its own process (web/proxy/cli.ts, as
// `npm run proxy` starts it), as it is deployed; and in this process (createNodeProxy on @hono/node-server), where it
// shares one thread with the puller but can count what it sends upstream. Through the proxy: with a cold cache (the
// proxy streams to the client and fills its cache), with the cache off, and a second pull answered from the cache.
// The in-process ways also print CPU seconds per thread: the main thread's, less the direct pull's, is what the proxy
// (and its cache fill) asks of it, a figure the machine's load does not stretch as it stretches wall time.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { ImageService } from "../../engine/index.ts";
import { openNodeImageService } from "../../engine/node/index.ts";
import { createNodeProxy } from "../../web/proxy/node.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";
import { addCpu, cpuSnapshot, topThreads } from "./cpu.ts";
import { type BenchSuite, median } from "./harness.ts";

const RUNS = Number(process.env.PROXY_RUNS ?? 5);
const ROOT = join(import.meta.dirname, "../..");

interface RunningProxy {
  url: string;
  /** `METHOD /path` of every request the proxy sent upstream. */
  upstream: string[];
  close(): Promise<void>;
}

async function startProxy(registry: Registry, cache: boolean): Promise<RunningProxy> {
  const upstream: string[] = [];
  const app = createNodeProxy({
    upstreams: { [registry.host]: { url: registry.url, allowPrivate: true } },
    ...(cache ? {} : { cache: false }),
    fetch: (request) => {
      upstream.push(`${request.method} ${new URL(request.url).pathname}`);
      return fetch(request);
    },
  });
  let server: ReturnType<typeof serve> | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => resolve(info.port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    upstream,
    close: () => new Promise<void>((resolve) => server!.close(() => resolve())),
  };
}

/** `npm run proxy` in its own process, its memory cache cold, on a free port; closed by SIGTERM. */
function startCliProxy(registry: Registry): Promise<RunningProxy> {
  const args = ["web/proxy/cli.ts", "--port", "0", "--no-default-upstreams"];
  return startProcess([...args, "--upstream", `${registry.host}=${registry.url}`]);
}

/** The floor: a bare node:http hop to the registry in its own process (test/bench/pass-through-proxy.ts). */
function startPassThrough(registry: Registry): Promise<RunningProxy> {
  return startProcess(["test/bench/pass-through-proxy.ts", registry.url]);
}

/** A TypeScript program that prints `listening on <URL> ` when it serves, in its own process; closed by SIGTERM. */
async function startProcess(script: string[]): Promise<RunningProxy> {
  const args = ["--import", "tsx", ...script];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the proxy did not start: ${output}`)), 30_000);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    // The CLI logs one line per request; only the first line, where it listens, matters here.
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const listening = /listening on (http:\/\/\S+?)\/?\s/.exec(output)?.[1];
      if (listening) {
        clearTimeout(timer);
        resolve(listening);
      }
    });
    child.once("exit", (code) => reject(new Error(`the proxy exited (${code}): ${output}`)));
  });
  return {
    url,
    upstream: [],
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Pulls `reference` into a fresh fs store (through `proxy` if given) and returns the seconds it took. */
async function timePull(reference: string, proxy?: string): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), "drydock-bench-proxy-pull-"));
  try {
    const images = await openNodeImageService(root, proxy ? { proxy } : {});
    const started = performance.now();
    await images.pull(reference);
    return (performance.now() - started) / 1000;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const blobGets = (requests: readonly string[]) => requests.filter((r) => /^GET .*\/blobs\//.test(r)).length;

const suite: BenchSuite = {
  name: "proxy-pull",
  async run(ctx) {
    const registry = await startRegistry();
    try {
      const { big, busybox } = await seedRegistry(registry, ["big", "busybox"]);
      const probe = await ImageService.open({ storage: "memory" });
      const details = (await probe.pull(big.reference)).details;
      const megabytes = details.layers.reduce((sum, layer) => sum + layer.blob.size, 0) / 1e6;
      ctx.record("image size (compressed layers)", Math.round(megabytes * 10) / 10, "MB");

      // One untimed pull each way, so neither side pays for warming up the JIT and the registry's page cache.
      await timePull(big.reference);
      const warmUps = [
        await startProxy(registry, true),
        await startCliProxy(registry),
        await startPassThrough(registry),
      ];
      for (const warm of warmUps) {
        await timePull(big.reference, warm.url);
        await warm.close();
      }

      // The ways are interleaved run by run, so that load from others on the shared cores spreads over all of them.
      const direct: number[] = [];
      const standaloneCold: number[] = [];
      const standaloneCached: number[] = [];
      const passThrough: number[] = [];
      const cold: number[] = [];
      // CPU seconds per thread of this process (the puller and the in-process proxy share its main thread; libuv's
      // pool does the file writes), by way: what the proxy asks of the thread, whatever the load does to wall time.
      const cpu = new Map<string, Map<string, number>>();
      const metered = async (way: string, pull: () => Promise<number>) => {
        const before = cpuSnapshot();
        const seconds = await pull();
        const spent = cpu.get(way) ?? new Map<string, number>();
        addCpu(spent, before, cpuSnapshot());
        cpu.set(way, spent);
        return seconds;
      };
      const uncached: number[] = [];
      const cached: number[] = [];
      const cachedBlobGets: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        direct.push(await metered("direct", () => timePull(big.reference)));
        const standalone = await startCliProxy(registry);
        try {
          // A new process compiles its code on first use: a small image warms the same paths (manifests, blobs,
          // cache fill) without putting the big image's blobs into the cache.
          await timePull(busybox.reference, standalone.url);
          standaloneCold.push(await timePull(big.reference, standalone.url));
          standaloneCached.push(await timePull(big.reference, standalone.url));
        } finally {
          await standalone.close();
        }
        const hop = await startPassThrough(registry);
        try {
          passThrough.push(await timePull(big.reference, hop.url));
        } finally {
          await hop.close();
        }
        const proxy = await startProxy(registry, true);
        try {
          cold.push(await metered("in-process proxy, cold cache", () => timePull(big.reference, proxy.url)));
          const before = proxy.upstream.length;
          cached.push(await timePull(big.reference, proxy.url));
          cachedBlobGets.push(blobGets(proxy.upstream.slice(before)));
        } finally {
          await proxy.close();
        }
        const noCache = await startProxy(registry, false);
        try {
          uncached.push(await metered("in-process proxy, cache off", () => timePull(big.reference, noCache.url)));
        } finally {
          await noCache.close();
        }
      }

      for (const [way, spent] of cpu) {
        console.log(`CPU seconds per pull by thread, ${way}:`);
        console.table(topThreads(spent, RUNS, 4));
        const main = [...spent].find(([thread]) => thread.endsWith(`#${process.pid}`))?.[1] ?? 0;
        ctx.record(`CPU of the main thread (puller + in-process proxy) per pull, ${way}`, (main / RUNS) * 1000, "ms");
      }
      const rate = (seconds: number[]) => seconds.map((s) => megabytes / s);
      const cost = (seconds: number[]) => (median(seconds) / median(direct) - 1) * 100;
      ctx.samples("pull into the fs store, direct", rate(direct), "MB/s", "≥ 50 MB/s");
      ctx.samples("through the standalone proxy, cold cache (end to end)", rate(standaloneCold), "MB/s", "≥ 50 MB/s");
      ctx.samples("second pull through the standalone proxy, from its cache", rate(standaloneCached), "MB/s");
      ctx.record("standalone proxy's extra time, cold cache (vs direct)", cost(standaloneCold), "%", "< 20%");
      ctx.samples("floor: through a bare node:http hop in its own process", rate(passThrough), "MB/s");
      ctx.record("the bare hop's extra time (vs direct): any proxy's floor here", cost(passThrough), "%");
      ctx.record(
        "standalone proxy's extra time beyond the bare hop, cold cache",
        (median(standaloneCold) / median(passThrough) - 1) * 100,
        "%",
      );
      ctx.record("standalone proxy's extra time, from its cache (vs direct)", cost(standaloneCached), "%");
      ctx.samples("through the in-process proxy, cold cache", rate(cold), "MB/s");
      ctx.samples("through the in-process proxy, cache off", rate(uncached), "MB/s");
      ctx.samples("second pull through the in-process proxy, from its cache", rate(cached), "MB/s");
      ctx.record("in-process proxy's extra time, cold cache (vs direct)", cost(cold), "%", "< 20%");
      ctx.record("in-process proxy's extra time, cache off (vs direct)", cost(uncached), "%");
      ctx.record("in-process proxy's extra time, from its cache (vs direct)", cost(cached), "%");
      ctx.samples("blob GETs sent upstream during the cached pull", cachedBlobGets, "requests", "0");
    } finally {
      await registry.stop();
    }
  },
};

export default suite;
