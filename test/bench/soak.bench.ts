// The soak: 500 run/rm cycles, 20 containers at a time, in the real guest. What must not grow is counted before and
// after (the guest's mounts, container cgroups, processes and drydockd's open files; the engine's snapshots, open
// files and heap after a collection) and printed with the time it took; nothing here is a timed assertion.
// SOAK_CYCLES=40 npm run bench -- soak for a short run.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ContainerService } from "../../engine/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import type { BenchSuite } from "./harness.ts";

const CYCLES = Number(process.env.SOAK_CYCLES ?? 500);
const CONCURRENCY = 20;

/** One shell round trip in the guest that counts what containers leave behind. */
const COUNT_SCRIPT = `
mounts=$(wc -l < /proc/mounts)
cgroups=$(find /sys/fs/cgroup/drydock -mindepth 1 -type d 2>/dev/null | wc -l)
procs=$(ls -d /proc/[0-9]* | wc -l)
agent=$(ls /proc/$(pidof drydockd | cut -d' ' -f1)/fd | wc -l)
dirs=$(ls /run/drydock/containers 2>/dev/null | wc -l)
echo "$mounts $cgroups $procs $agent $dirs"`;

const suite: BenchSuite = {
  name: "soak",
  async run(ctx) {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const registry = await startRegistry();
    const dir = await mkdtemp(join(tmpdir(), "drydock-bench-soak-"));
    const drydock = await bootDrydock();
    try {
      const { busybox: seeded } = await seedRegistry(registry, ["busybox"]);
      const images = await openNodeImageService(dir);
      const busybox = (await images.pull(seeded.reference)).name;
      const containers = ContainerService.open(drydock, images);
      const cycle = async () => {
        const { id } = await containers.create(busybox, { cmd: ["true"] });
        await containers.start(id);
        await containers.wait(id);
        await containers.remove(id);
      };
      // One cycle first, so what a first container makes once (the init layer, the parent cgroup) is in the baseline.
      await cycle();
      const count = async () => {
        const { stdout } = await drydock.agent.run(["/bin/busybox", "sh", "-c", COUNT_SCRIPT]);
        const [mounts, cgroups, processes, agentFds, containerDirs] = stdout.trim().split(/\s+/).map(Number);
        gc();
        return {
          mounts: mounts!,
          cgroups: cgroups!,
          processes: processes!,
          agentFds: agentFds!,
          containerDirs: containerDirs!,
          snapshots: containers.snapshotter.list().length,
          containers: containers.list({ all: true }).length,
          engineFds: (await readdir("/proc/self/fd")).length,
          heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
        };
      };
      const before = await count();
      const started = performance.now();
      let next = 0;
      const cycleTimes: number[] = [];
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < CYCLES) {
            next++;
            const start = performance.now();
            await cycle();
            cycleTimes.push(performance.now() - start);
          }
        }),
      );
      const elapsed = performance.now() - started;
      const after = await count();
      ctx.record(`${CYCLES} run/rm cycles, ${CONCURRENCY} at a time: total`, elapsed / 1000, "s");
      ctx.samples(`one run/rm cycle with ${CONCURRENCY - 1} others`, cycleTimes, "ms");
      for (const key of Object.keys(before) as (keyof typeof before)[]) {
        const unit = key === "heapMiB" ? "MiB" : "";
        ctx.record(`${key}: before`, before[key], unit);
        ctx.record(`${key}: after`, after[key], unit, key === "heapMiB" ? "no growth" : "same as before");
      }
    } finally {
      await drydock.dispose();
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

export default suite;
