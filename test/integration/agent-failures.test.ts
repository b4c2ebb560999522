// Guests started from one saved state, and guests that go wrong: the engine keeps them apart and says what failed,
// with the guest's last words, instead of hanging.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { Drydock } from "../../engine/index.ts";
import { bootDrydock, ensureSavedState, loadGuestArtifacts, v86WasmPath } from "../../engine/node/index.ts";

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

  it("makes the saved state again when the cached one was damaged since it was saved", async () => {
    const dir = await mkdtemp(join(tmpdir(), "drydock-state-"));
    try {
      // The cache's file, under its own name in a cache of this test's, with its bytes overwritten.
      const good = await ensureSavedState();
      const damaged = join(dir, basename(good.path));
      await writeFile(damaged, new Uint8Array(good.state.byteLength).fill(7));
      const drydock = await bootDrydock({ stateDir: dir });
      try {
        expect((await drydock.agent.run(["echo", "restored"])).stdout).toBe("restored\n");
      } finally {
        await drydock.dispose();
      }
      // The damaged file was replaced by one that restores.
      const remade = await readFile(damaged);
      expect(remade.subarray(0, 64).every((b) => b === 7)).toBe(false);
      const again = await bootDrydock({ stateDir: dir });
      await again.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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
