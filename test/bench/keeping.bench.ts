// What keeping a running container's files would cost if the engine saved them periodically (issue #15: writes
// outside volumes since the last save are lost when a tab closes or the guest fails). One `saved()` of a running
// busybox container, as the page's hidden-tab save does it: its processes frozen, its overlay upper dir archived by
// tar in the guest, carried over the agent and written whole to the metadata store; for uppers of a few small files,
// of a package install's shape (1000 files of 4 KiB) and of 16 MiB in one file. And the check a periodic save would
// need to skip unchanged containers: `find <upper> -newer <stamp>` walking the same 1000 files.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerService } from "../../engine/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import type { BenchSuite } from "./harness.ts";

const RUNS = 5;

const suite: BenchSuite = {
  name: "keeping",
  async run(ctx) {
    const registry = await startRegistry();
    const dir = await mkdtemp(join(tmpdir(), "drydock-bench-keeping-"));
    const drydock = await bootDrydock();
    try {
      const { busybox: seeded } = await seedRegistry(registry, ["busybox"]);
      const images = await openNodeImageService(dir);
      const busybox = (await images.pull(seeded.reference)).name;
      const containers = ContainerService.open(drydock, images);
      const shapes = [
        ["10 files of 1 KiB", "mkdir /w && for i in $(seq 10); do printf %1024s > /w/f$i; done"],
        ["1000 files of 4 KiB", "mkdir /w && for i in $(seq 1000); do printf %4096s > /w/f$i; done"],
        ["16 MiB in one file", "dd if=/dev/zero of=/big bs=1M count=16 2>/dev/null"],
      ] as const;
      for (const [shape, fill] of shapes) {
        const { id } = await containers.run(busybox, { cmd: ["sleep", "600"] });
        const filled = await containers.exec(id, ["sh", "-c", fill]);
        const status = await filled.exit;
        if (status.code !== 0) throw new Error(`${fill}: exit ${status.code}`);
        await ctx.time(`saved() of a running container whose upper holds ${shape}`, RUNS, () => containers.saved());
        if (shape.startsWith("1000")) {
          const upper = containers.snapshotter.upperDir(id);
          await ctx.time(`find -newer over that container's 1000 files (a change check)`, RUNS, async () => {
            const check = await drydock.agent.run([
              "sh",
              "-c",
              `touch /tmp/stamp && find ${upper}/w -newer /tmp/stamp | head -n 1`,
            ]);
            if (check.code !== 0) throw new Error(`find: ${check.stderr}`);
          });
        }
        await containers.remove(id, { force: true });
      }
    } finally {
      await drydock.dispose();
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

export default suite;
