// docker build in the real guest: a five-instruction Dockerfile on busybox (FROM, ENV, COPY, RUN, CMD) built from
// scratch each time (--no-cache), and the same build answered entirely from the cache.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packTar } from "modern-tar";
import { Builder, readBuildContext } from "../../engine/build/index.ts";
import { ContainerService, type Drydock } from "../../engine/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import type { BenchSuite } from "./harness.ts";

const suite: BenchSuite = {
  name: "build",
  async run(ctx) {
    const registry = await startRegistry();
    const dir = await mkdtemp(join(tmpdir(), "drydock-bench-build-"));
    let drydock: Drydock | undefined;
    try {
      const { busybox: seeded } = await seedRegistry(registry, ["busybox"]);
      const images = await openNodeImageService(dir);
      const busybox = (await images.pull(seeded.reference)).name;
      drydock = await bootDrydock();
      const builder = new Builder(images, ContainerService.open(drydock, images));
      const encode = (text: string) => new TextEncoder().encode(text);
      const dockerfile = encode(
        `FROM ${busybox}\nENV MODE=bench\nCOPY script.sh /script.sh\nRUN sh /script.sh > /out.txt\nCMD ["cat", "/out.txt"]\n`,
      );
      const script = encode("echo built in $MODE mode; mkdir -p /opt/app && echo ok > /opt/app/status\n");
      const tar = await packTar([
        { header: { name: "Dockerfile", size: dockerfile.byteLength }, body: dockerfile },
        { header: { name: "script.sh", size: script.byteLength }, body: script },
      ]);
      const build = async (noCache: boolean) => {
        const result = await builder.build({ context: await readBuildContext(tar), tags: ["bench:1"], noCache });
        if (!noCache && result.cached !== 4) throw new Error(`expected 4 cache hits, got ${result.cached}`);
      };
      await ctx.time("build: 5 instructions on busybox (--no-cache)", 5, () => build(true), { warmup: 1 });
      await ctx.time("build: the same, fully cached", 20, () => build(false), { warmup: 2, goal: "< 1000 ms" });
    } finally {
      await drydock?.dispose();
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

export default suite;
