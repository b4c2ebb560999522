// Pull throughput: the ~50 MB fixture image from a local docker-registry into a fresh image store (verified and
// unpacked as it streams), on disk and in memory, and the cost of pulling it again when it is up to date.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageService } from "../../engine/index.ts";
import { openNodeImageService } from "../../engine/node/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import type { BenchSuite } from "./harness.ts";

const RUNS = 5;

const suite: BenchSuite = {
  name: "pull",
  async run(ctx) {
    const registry = await startRegistry();
    try {
      const { big } = await seedRegistry(registry, ["big"]);
      const probe = await ImageService.open({ storage: "memory" });
      const details = (await probe.pull(big.reference)).details;
      const megabytes = details.layers.reduce((sum, layer) => sum + layer.blob.size, 0) / 1e6;
      ctx.record("image size (compressed layers)", Math.round(megabytes * 10) / 10, "MB");

      const onDisk: number[] = [];
      const upToDate: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const root = await mkdtemp(join(tmpdir(), "drydock-bench-pull-"));
        try {
          const images = await openNodeImageService(root);
          let started = performance.now();
          await images.pull(big.reference);
          onDisk.push(megabytes / ((performance.now() - started) / 1000));
          started = performance.now();
          await images.pull(big.reference);
          upToDate.push(performance.now() - started);
        } finally {
          await rm(root, { recursive: true, force: true });
        }
      }
      ctx.samples("pull into the fs store (direct)", onDisk, "MB/s", "≥ 50 MB/s");
      ctx.samples("second pull, up to date (one HEAD)", upToDate, "ms");

      const inMemory: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const images = await ImageService.open({ fetch, storage: "memory" });
        const started = performance.now();
        await images.pull(big.reference);
        inMemory.push(megabytes / ((performance.now() - started) / 1000));
      }
      ctx.samples("pull into the memory store (portable SHA-256)", inMemory, "MB/s");
    } finally {
      await registry.stop();
    }
  },
};

export default suite;
