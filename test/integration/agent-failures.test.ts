// Guests started from one saved state, and guests that go wrong: the engine keeps them apart and says what failed,
// with the guest's last words, instead of hanging.
import { describe, expect, it } from "vitest";
import { Drydock } from "../../engine/index.ts";
import { bootDrydock, loadGuestArtifacts, v86WasmPath } from "../../engine/node/index.ts";

describe("guests restored from one saved state", () => {
  it("draw different random numbers", async () => {
    const draws: string[] = [];
    for (let i = 0; i < 2; i++) {
      const drydock = await bootDrydock();
      try {
        draws.push((await drydock.agent.run(["sh", "-c", "head -c 32 /dev/urandom | od -An -tx1"])).stdout);
      } finally {
        await drydock.dispose();
      }
    }
    expect(draws[0]).toMatch(/^( [0-9a-f]{2})+/m);
    expect(draws[0]).not.toBe(draws[1]);
  });
});

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

  it("rejects boot() when the saved state is damaged, instead of never settling", async () => {
    const booting = Drydock.boot({
      artifacts: await loadGuestArtifacts(),
      wasmPath: v86WasmPath(),
      state: new Uint8Array(1 << 20).fill(7).buffer,
    });
    await expect(booting).rejects.toMatchObject({
      kind: "dataLoss",
      message: expect.stringMatching(/v86 could not restore the saved state \(.+\): it is damaged/),
    });
  });

  it("rejects what is in flight when drydockd dies, quoting the console", async () => {
    const drydock = await bootDrydock();
    try {
      const sleeper = await drydock.spawn("sleep", ["100"]);
      // The shell's parent is drydockd itself.
      await drydock.spawn("sh", ["-c", "kill -9 $PPID"]);
      // Said when its end of the link closes, before busybox init has started another.
      await expect(sleeper.exit).rejects.toThrow(/drydockd exited in the guest \(it closed the agent link\)/);
      await expect(drydock.spawn("true")).rejects.toThrow(/drydockd exited/);
    } finally {
      await drydock.dispose();
    }
  });
});
