// The guest's size and its cold boot: from `new V86(...)` with the committed kernel to the shell prompt on ttyS0.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { SerialShell } from "../../engine/index.ts";
import { bootGuest, GUEST_DIST_DIR } from "../../engine/node/guest.ts";
import { readManifest } from "../../vm-images/manifest.ts";
import type { BenchSuite } from "./harness.ts";

const suite: BenchSuite = {
  name: "guest",
  async run(ctx) {
    const manifest = await readManifest();
    ctx.record("bzImage size", (await stat(join(GUEST_DIST_DIR, "bzImage"))).size, "bytes", "≤ 4 MB");
    ctx.record(
      "initramfs size (built into bzImage)",
      manifest.embedded["initramfs.cpio"]?.size ?? 0,
      "bytes",
      "≤ 4 MB",
    );
    await ctx.time(
      "cold boot to shell prompt (Node)",
      5,
      async () => {
        const machine = await bootGuest();
        const shell = new SerialShell(machine);
        try {
          await shell.expect(/drydock:[^\n]*# /, 60_000);
        } finally {
          shell.dispose();
          await machine.dispose();
        }
      },
      { goal: "< 5000 ms" },
    );
  },
};

export default suite;
