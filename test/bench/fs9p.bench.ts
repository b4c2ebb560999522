// The 9P layer share: reading a 16 MiB file through it (cold: just mounted, so the guest's page cache is empty;
// warm: read again) and `ls -lR` of the busybox image's tree (and of a copy on tmpfs, for the guest's own cost),
// timed from the engine around the guest command, so each figure includes one spawn round trip (the baseline).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLayerServer, imageStoreLayers } from "../../engine/fs9p/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { BIG_LAYER_MIB, seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import type { BenchSuite } from "./harness.ts";

const RUNS = 5;
const SHARE = "/run/drydock/layers";
const NINEP_OPTIONS = "trans=virtio,version=9p2000.L,msize=512000,cache=loose";
const MS_RDONLY = 1;

const suite: BenchSuite = {
  name: "fs9p",
  async run(ctx) {
    const registry = await startRegistry();
    const storeDir = await mkdtemp(join(tmpdir(), "drydock-bench-fs9p-"));
    try {
      const seeded = await seedRegistry(registry, ["busybox", "big"]);
      const images = await openNodeImageService(storeDir);
      const busybox = (await images.pull(seeded.busybox.reference)).details;
      const big = (await images.pull(seeded.big.reference)).details;
      const drydock = await bootDrydock();
      try {
        drydock.machine.set9pHandler(createLayerServer(imageStoreLayers(images.store)));
        await drydock.agent.mkdir(SHARE, { parents: true });
        const sh = async (command: string) => {
          const result = await drydock.agent.run(["sh", "-c", command]);
          if (result.code !== 0) throw new Error(`\`${command}\` exited ${result.code}: ${result.stderr}`);
        };
        let mounted = false;
        // A fresh mount has an empty inode and page cache: every read and stat goes through 9P again.
        const remount = async () => {
          if (mounted) await drydock.agent.umount(SHARE);
          await drydock.agent.mount("host9p", SHARE, "9p", NINEP_OPTIONS, MS_RDONLY);
          mounted = true;
        };
        const timed = async (command: string) => {
          const started = performance.now();
          await sh(command);
          return performance.now() - started;
        };

        const file = `${SHARE}/${big.layers[0]!.chainId.slice(7)}/data/part0/random.bin`;
        const megabytes = (BIG_LAYER_MIB[0]! * 1024 * 1024) / 1e6;
        await remount();
        await sh(`cat ${file} > /dev/null`); // warms v86's compiled code for this path, not the data: remounted next
        const spawn: number[] = [];
        for (let run = 0; run < RUNS; run++) spawn.push(await timed("true"));
        ctx.samples("baseline: `sh -c true` round trip (included below)", spawn, "ms");

        const cold: number[] = [];
        const warm: number[] = [];
        for (let run = 0; run < RUNS; run++) {
          await remount();
          cold.push(megabytes / ((await timed(`cat ${file} > /dev/null`)) / 1000));
          warm.push(megabytes / ((await timed(`cat ${file} > /dev/null`)) / 1000));
        }
        ctx.samples(`read a ${BIG_LAYER_MIB[0]} MiB file, cold (first read after mount)`, cold, "MB/s", "≥ 10 MB/s");
        ctx.samples(`read a ${BIG_LAYER_MIB[0]} MiB file again (guest page cache)`, warm, "MB/s");

        const tree = `${SHARE}/${busybox.layers[0]!.chainId.slice(7)}`;
        const listCold: number[] = [];
        const listWarm: number[] = [];
        for (let run = 0; run < RUNS; run++) {
          await remount();
          listCold.push(await timed(`ls -lR ${tree} > /dev/null`));
          listWarm.push(await timed(`ls -lR ${tree} > /dev/null`));
        }
        ctx.samples("`ls -lR` of the busybox image's tree, cold", listCold, "ms");
        ctx.samples("`ls -lR` of the busybox image's tree, again", listWarm, "ms");
        // The same tree on the guest's tmpfs: what the guest's own CPU costs, with no 9P at all.
        await sh(`cp -a ${tree} /tmp/fs9p-bench-tree`);
        const listTmpfs: number[] = [];
        for (let run = 0; run < RUNS; run++) listTmpfs.push(await timed("ls -lR /tmp/fs9p-bench-tree > /dev/null"));
        ctx.samples("`ls -lR` of a copy of that tree on tmpfs (no 9P)", listTmpfs, "ms");
        await sh("rm -rf /tmp/fs9p-bench-tree");
      } finally {
        await drydock.dispose();
      }
    } finally {
      await registry.stop();
      await rm(storeDir, { recursive: true, force: true });
    }
  },
};

export default suite;
