// Push throughput: the ~50 MB fixture image from a fresh image store to a local docker-registry (every blob
// uploaded: monolithic PUTs, then 8 MiB PATCH chunks), to the registry inside the engine (localhost:5000, in-process),
// and a second push when the registry has every layer already (HEADs only).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openNodeImageService } from "../../engine/node/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import type { BenchSuite } from "./harness.ts";

const RUNS = 3;

const suite: BenchSuite = {
  name: "push",
  async run(ctx) {
    const source = await startRegistry();
    const root = await mkdtemp(join(tmpdir(), "drydock-bench-push-"));
    try {
      const { big } = await seedRegistry(source, ["big"]);
      const images = await openNodeImageService(root);
      const details = (await images.pull(big.reference)).details;
      const megabytes = details.layers.reduce((sum, layer) => sum + layer.blob.size, 0) / 1e6;
      ctx.record("image size (compressed layers)", Math.round(megabytes * 10) / 10, "MB");

      const monolithic: number[] = [];
      const chunked: number[] = [];
      const again: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        for (const [samples, chunkSize] of [
          [monolithic, 64 * 1024 * 1024],
          [chunked, 8 * 1024 * 1024],
        ] as const) {
          const target = await startRegistry();
          try {
            const name = `${target.host}/big:1`;
            await images.tag(big.reference, name);
            let started = performance.now();
            await images.push(name, { chunkSize });
            samples.push(megabytes / ((performance.now() - started) / 1000));
            if (samples === monolithic) {
              started = performance.now();
              await images.push(name);
              again.push(performance.now() - started);
            }
            await images.removeImage(name);
          } finally {
            await target.stop();
          }
        }
      }
      ctx.samples("push to docker-registry, one PUT per blob", monolithic, "MB/s");
      ctx.samples("push to docker-registry, 8 MiB PATCH chunks", chunked, "MB/s");
      ctx.samples("second push, every layer there (HEADs)", again, "ms");

      // Each run in a fresh store, so no repository of the engine's registry holds a blob to mount from yet.
      const local: number[] = [];
      const mounted: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const fresh = await mkdtemp(join(tmpdir(), "drydock-bench-push-local-"));
        try {
          const store = await openNodeImageService(fresh);
          await store.pull(big.reference);
          await store.tag(big.reference, "localhost:5000/big:1");
          let started = performance.now();
          await store.push("localhost:5000/big:1");
          local.push(megabytes / ((performance.now() - started) / 1000));
          await store.tag(big.reference, "localhost:5000/other:1");
          started = performance.now();
          await store.push("localhost:5000/other:1");
          mounted.push(performance.now() - started);
        } finally {
          await rm(fresh, { recursive: true, force: true });
        }
      }
      ctx.samples("push to the engine's own registry (localhost:5000)", local, "MB/s");
      ctx.samples("push of the same layers to another repository of it (mounts)", mounted, "ms");
    } finally {
      await rm(root, { recursive: true, force: true });
      await source.stop();
    }
  },
};

export default suite;
