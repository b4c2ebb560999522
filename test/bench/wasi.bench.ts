// One CPU-bound program (test/fixtures/programs/twoways.c, `primes N`) as an i386 Linux container in the emulated
// guest and as a WASI container in Node's own WebAssembly engine, end to end (create to exit), with the ratio; and
// the WASI runtime's module compile, cold and from its cache.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerService } from "../../engine/index.ts";
import { bootDrydock, nodeWasiWorkers, openNodeImageService } from "../../engine/node/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import { type BenchSuite, median } from "./harness.ts";

/** Enough work for the guest to take seconds; the answer is checked so both runs did the same work. */
// Large enough that the program's own work, not a container's start (a few hundred ms in the guest), is what is timed.
// The loop is bound by integer division, which v86 performs with the host's own divide: on this machine (2026-12-04)
// the WASI container took 321 ms, the same program built natively with gcc -O2 348 ms, the i386 container 2737 ms.
// So WASI runs at native speed here and the ratio (8.5×) is the emulator's overhead on division-bound code, below
// the 40–90× it costs on general code.
const PRIMES_BELOW = 2_000_000;
const EXPECTED = `148933 primes below ${PRIMES_BELOW}\n`;

const suite: BenchSuite = {
  name: "wasi",
  async run(ctx) {
    const registry = await startRegistry();
    const dir = await mkdtemp(join(tmpdir(), "drydock-bench-wasi-"));
    const drydock = await bootDrydock();
    try {
      const { twoways } = await seedRegistry(registry, ["twoways"]);
      const images = await openNodeImageService(dir);
      const local = { linux: "twoways:386", wasi: "twoways:wasm" };
      await images.pull(twoways.reference, { platform: { os: "linux", architecture: "386" } });
      await images.tag(twoways.reference, local.linux);
      await images.pull(twoways.reference, { platform: { os: "wasi", architecture: "wasm" } });
      await images.tag(twoways.reference, local.wasi);
      const containers = ContainerService.open(drydock, images, { wasiWorkers: nodeWasiWorkers() });

      const runPrimes = async (image: string) => {
        const started = performance.now();
        const run = await containers.run(image, { cmd: ["primes", String(PRIMES_BELOW)] });
        const exit = await run.exited;
        const ms = performance.now() - started;
        let output = "";
        const reader = containers.logs(run.id).getReader();
        for (let next = await reader.read(); !next.done; next = await reader.read()) {
          output += new TextDecoder().decode(next.value.data);
        }
        await containers.remove(run.id);
        if (exit.code !== 0 || output !== EXPECTED) throw new Error(`${image}: exit ${exit.code}, printed ${output}`);
        return ms;
      };
      const times = { linux: [] as number[], wasi: [] as number[] };
      await runPrimes(local.linux);
      await runPrimes(local.wasi);
      for (let i = 0; i < 3; i++) {
        times.linux.push(await runPrimes(local.linux));
        times.wasi.push(await runPrimes(local.wasi));
      }
      ctx.samples(`primes ${PRIMES_BELOW}: Linux container (i386 in v86)`, times.linux, "ms");
      ctx.samples(`primes ${PRIMES_BELOW}: WASI container`, times.wasi, "ms");
      const ratio = median(times.linux) / median(times.wasi);
      ctx.record("Linux / WASI time, same program", Math.round(ratio * 10) / 10, "×", "≥ 10×");
      console.log(
        `bench: wasi: primes ${PRIMES_BELOW} took ${Math.round(median(times.linux))} ms as a Linux container and ` +
          `${Math.round(median(times.wasi))} ms as a WASI container: ${ratio.toFixed(1)}× faster as WASI`,
      );

      // What a WASI container costs beyond its program: create, a worker's module start, exit and removal.
      await ctx.time("WASI container, a program that exits at once (run to exit)", 10, async () => {
        const run = await containers.run(local.wasi, { cmd: ["exit", "0"], rm: true });
        await run.exited;
      });

      const wasi = containers.wasi;
      if (!wasi) throw new Error("the container service has no WASI runtime");
      const details = await images.image(local.wasi);
      const compile = async () => wasi.module(await wasi.imageTree(details), "/twoways.wasm", undefined);
      const cold: number[] = [];
      for (let i = 0; i < 5; i++) {
        wasi.clearCache();
        const tree = await wasi.imageTree(details);
        const started = performance.now();
        await wasi.module(tree, "/twoways.wasm", undefined);
        cold.push(performance.now() - started);
      }
      ctx.samples("twoways.wasm compile, cold", cold, "ms");
      await ctx.time("twoways.wasm compile, cached", 20, async () => void (await compile()), { warmup: 1 });
    } finally {
      await drydock.dispose();
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

export default suite;
