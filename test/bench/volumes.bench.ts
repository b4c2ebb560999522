// A volume's files through the writable 9P share, their bytes in the daemon's data root (FsVolumeDataStore), as a
// container sees them: sequential write of 16 MiB (dd, then sync so every byte has reached the store), sequential
// read of it with the guest's page cache dropped, and a small-file workload (500 files of 1 KiB written by the
// shell's printf builtin, so no process per file, and synced; then read back). Timed from the engine around the
// guest command; each figure includes one spawn round trip. The same two writes unsynced, with the engine's writeback
// delay for volumes (VOLUME_WRITEBACK_CENTISECS: dirty pages out within about a second) and with Linux's default
// (30 s), say what that delay costs a writing container.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerService, VolumeTree } from "../../engine/index.ts";
import { bootDrydock, FsVolumeDataStore, openNodeImageService } from "../../engine/node/index.ts";
import { VOLUME_WRITEBACK_CENTISECS } from "../../engine/snapshots/layer-share.ts";
import type { BenchSuite } from "./harness.ts";

const RUNS = 5;
const MIB = 16;
const FILES = 500;

const suite: BenchSuite = {
  name: "volumes",
  async run(ctx) {
    const dir = await mkdtemp(join(tmpdir(), "drydock-bench-volumes-"));
    const tree = await VolumeTree.open(new FsVolumeDataStore(join(dir, "volumes")));
    const drydock = await bootDrydock();
    try {
      const images = await openNodeImageService(join(dir, "images"));
      const containers = ContainerService.open(drydock, images, { volumes: tree });
      const volume = await containers.volumes.create({ name: "bench" });
      const path = volume.mountpoint;
      const timed = async (command: string) => {
        const started = performance.now();
        const result = await drydock.agent.run(["sh", "-c", command]);
        if (result.code !== 0) throw new Error(`\`${command}\` exited ${result.code}: ${result.stderr}`);
        return performance.now() - started;
      };
      const megabytes = (MIB * 1024 * 1024) / 1e6;
      await timed(`dd if=/dev/zero of=${path}/warm bs=1M count=1 2>/dev/null && sync && rm ${path}/warm`);
      const write: number[] = [];
      const read: number[] = [];
      const smallWrite: number[] = [];
      const smallRead: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        await timed(`rm -rf ${path}/* && sync`);
        write.push(
          megabytes / ((await timed(`dd if=/dev/zero of=${path}/big bs=1M count=${MIB} 2>/dev/null && sync`)) / 1000),
        );
        read.push(
          megabytes / ((await timed(`echo 3 > /proc/sys/vm/drop_caches && cat ${path}/big > /dev/null`)) / 1000),
        );
        const files = `mkdir -p ${path}/small && cd ${path}/small && for i in $(seq ${FILES}); do printf %1024s > f$i; done && sync`;
        smallWrite.push(FILES / ((await timed(files)) / 1000));
        smallRead.push(
          FILES / ((await timed(`echo 3 > /proc/sys/vm/drop_caches && cat ${path}/small/f* > /dev/null`)) / 1000),
        );
      }
      // Unsynced: what a container sees while it writes, the kernel writing back behind it (sync untimed between).
      const unsynced = {
        engine: { write: [] as number[], small: [] as number[] },
        linux: { write: [] as number[], small: [] as number[] },
      };
      const writeback = async (centisecs: number) => {
        for (const knob of ["dirty_expire_centisecs", "dirty_writeback_centisecs"])
          await drydock.agent.writeFile(`/proc/sys/vm/${knob}`, `${centisecs}\n`);
      };
      for (let run = 0; run < RUNS; run++) {
        for (const [label, centisecs] of [
          ["engine", VOLUME_WRITEBACK_CENTISECS],
          ["linux", 3000],
        ] as const) {
          await writeback(centisecs);
          await timed(`rm -rf ${path}/* && sync`);
          const figures = unsynced[label];
          figures.write.push(
            megabytes / ((await timed(`dd if=/dev/zero of=${path}/big bs=1M count=${MIB} 2>/dev/null`)) / 1000),
          );
          await timed("sync");
          const files = `mkdir -p ${path}/small && cd ${path}/small && for i in $(seq ${FILES}); do printf %1024s > f$i; done`;
          figures.small.push(FILES / ((await timed(files)) / 1000));
          await timed("sync");
        }
      }
      await writeback(VOLUME_WRITEBACK_CENTISECS);
      ctx.samples(`sequential write of ${MIB} MiB to a volume, synced`, write, "MB/s");
      ctx.samples(`sequential read of ${MIB} MiB from a volume, page cache dropped`, read, "MB/s");
      ctx.samples(`write ${FILES} files of 1 KiB to a volume, synced`, smallWrite, "files/s");
      ctx.samples(`read ${FILES} files of 1 KiB from a volume, page cache dropped`, smallRead, "files/s");
      for (const [label, name] of [
        ["engine", `writeback after ${VOLUME_WRITEBACK_CENTISECS / 100} s (the engine's)`],
        ["linux", "writeback after 30 s (Linux's default)"],
      ] as const) {
        ctx.samples(`sequential write of ${MIB} MiB to a volume, unsynced, ${name}`, unsynced[label].write, "MB/s");
        ctx.samples(`write ${FILES} files of 1 KiB to a volume, unsynced, ${name}`, unsynced[label].small, "files/s");
      }
    } finally {
      await drydock.dispose();
      await tree.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

export default suite;
