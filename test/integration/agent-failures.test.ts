// When the guest goes wrong, the engine says so with the guest's last words instead of hanging.
import { describe, expect, it } from "vitest";
import { Drydock } from "../../engine/index.ts";
import { bootDrydock, loadGuestArtifacts, v86WasmPath } from "../../engine/node/index.ts";

describe("a guest that fails", () => {
  it("rejects boot() when the kernel panics, quoting the console", async () => {
    const booting = Drydock.boot({
      artifacts: await loadGuestArtifacts(),
      wasmPath: v86WasmPath(),
      // An init that exits at once makes the kernel panic.
      extraCmdline: "rdinit=/bin/false",
    });
    await expect(booting).rejects.toMatchObject({
      kind: "unavailable",
      message: expect.stringMatching(/the guest crashed \(.*Kernel panic.*\); its console ended with:\n[\s\S]*init/),
    });
  });

  it("rejects what is in flight when drydockd dies, quoting the console", async () => {
    const drydock = await bootDrydock();
    try {
      const sleeper = await drydock.spawn("sleep", ["100"]);
      // The shell's parent is drydockd itself.
      await drydock.spawn("sh", ["-c", "kill -9 $PPID"]);
      await expect(sleeper.exit).rejects.toThrow(/drydockd restarted in the guest/);
      await expect(drydock.spawn("true")).rejects.toThrow(/drydockd restarted/);
    } finally {
      await drydock.dispose();
    }
  });
});
