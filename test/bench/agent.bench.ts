// The agent and start-up: restore to first command, spawn round trip, guest-to-engine throughput, keystroke echo,
// and how soon a failed guest is noticed.

import { Drydock, type GuestProcess } from "../../engine/index.ts";
import { bootDrydock, ensureSavedState, loadGuestArtifacts, v86WasmPath } from "../../engine/node/index.ts";
import type { BenchSuite } from "./harness.ts";

const suite: BenchSuite = {
  name: "agent",
  async run(ctx) {
    const { state } = await ensureSavedState();
    const artifacts = await loadGuestArtifacts();
    ctx.record("saved state size (raw)", state.byteLength, "bytes");

    const restoreTimes: number[] = [];
    for (let i = 0; i < 7; i++) {
      const started = performance.now();
      const drydock = await Drydock.boot({ artifacts, wasmPath: v86WasmPath(), state });
      await drydock.agent.run(["true"]);
      restoreTimes.push(performance.now() - started);
      await drydock.dispose();
    }
    ctx.samples("restore to first command done (Node)", restoreTimes, "ms", "< 250 ms");

    // The hello after a restore (SYNC with the time and fresh entropy → HELLO), and the requests right after it: is
    // the hello's own work what costs, or the restored guest's first work whatever it is asked? (Could a state hold
    // a hello already done: the SYNC must still bring the clock and the entropy, and what follows pays the rest.)
    const hello: number[] = [];
    const firstPing: number[] = [];
    const secondPing: number[] = [];
    for (let i = 0; i < 5; i++) {
      let helloMs = Number.NaN;
      const drydock = await Drydock.boot({
        artifacts,
        wasmPath: v86WasmPath(),
        state,
        onStep: (step, start, end) => {
          if (step === "agent hello") helloMs = end - start;
        },
      });
      hello.push(helloMs);
      let started = performance.now();
      await drydock.agent.ping();
      firstPing.push(performance.now() - started);
      started = performance.now();
      await drydock.agent.ping();
      secondPing.push(performance.now() - started);
      await drydock.dispose();
    }
    ctx.samples("after a restore: SYNC → HELLO (the restored guest's first request)", hello, "ms");
    ctx.samples("after a restore: the ping right after the hello", firstPing, "ms");
    ctx.samples("after a restore: the ping after that", secondPing, "ms");

    // The learner's shell right after a restore, by turns: the one parked in the saved state (adopted), and a new
    // `sh -l` (what the page did before the state held one). From asking to its first output (the prompt).
    const firstOutput = async (open: (guest: Drydock) => Promise<GuestProcess>) => {
      const guest = await Drydock.boot({ artifacts, wasmPath: v86WasmPath(), state });
      try {
        const started = performance.now();
        const shell = await open(guest);
        await shell.stdout.getReader().read();
        return performance.now() - started;
      } finally {
        await guest.dispose();
      }
    };
    const adopted: number[] = [];
    const spawned: number[] = [];
    for (let i = 0; i < 5; i++) {
      adopted.push(
        await firstOutput(async (guest) => {
          const login = await guest.openLoginShell(24, 80);
          if (!login.adopted) throw new Error(`the saved state's shell was not adopted: ${login.reason}`);
          return login.process;
        }),
      );
      spawned.push(await firstOutput((guest) => guest.spawn("sh", ["-l"], { pty: { rows: 24, cols: 80 } })));
    }
    ctx.samples("after a restore: the parked login shell adopted → its prompt", adopted, "ms");
    ctx.samples("after a restore: a new `sh -l` spawned → its prompt (same run, by turns)", spawned, "ms");

    const drydock = await bootDrydock();
    try {
      await ctx.time("agent ping round trip", 50, () => drydock.agent.ping().then(() => {}), { warmup: 10 });
      // The first spawns after a restore (v86 starts with nothing compiled), with their floor, are the spawns suite's.
      const spawnTrue = () => drydock.agent.run(["true"]).then(() => {});
      await ctx.time("spawn round trip of `true` (warm)", 50, spawnTrue, { warmup: 200, goal: "< 20 ms" });

      const throughput: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const proc = await drydock.spawn("dd", ["if=/dev/zero", "bs=65536", "count=160"]);
        const bytes = (await new Response(proc.stdout).arrayBuffer()).byteLength;
        await proc.exit;
        throughput.push(bytes / 1e6 / ((performance.now() - started) / 1000));
      }
      ctx.samples("guest → engine throughput (10 MB of stdout)", throughput, "MB/s", "≥ 20 MB/s");

      const input = new Uint8Array(4 * 1024 * 1024);
      const inbound: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const { code } = await drydock.agent.run(["sh", "-c", "cat > /dev/null"], { input });
        if (code !== 0) throw new Error(`cat failed with ${code}`);
        inbound.push(input.length / 1e6 / ((performance.now() - started) / 1000));
      }
      ctx.samples("engine → guest throughput (4 MB of stdin)", inbound, "MB/s", "≥ 20 MB/s");

      // The same 10 MB through a pipe inside the guest, no link: what the emulated CPU allows at this load (the
      // streams above cannot beat it), measured in the same run.
      const inGuest: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const { code } = await drydock.agent.run([
          "sh",
          "-c",
          "dd if=/dev/zero bs=65536 count=160 2>/dev/null | cat >/dev/null",
        ]);
        if (code !== 0) throw new Error(`the in-guest pipe failed with ${code}`);
        inGuest.push((65536 * 160) / 1e6 / ((performance.now() - started) / 1000));
      }
      ctx.samples("floor: the same 10 MB through a pipe inside the guest (dd | cat)", inGuest, "MB/s");

      // A keystroke into a pty running cat, until its echo comes back.
      const cat = await drydock.spawn("cat", [], { pty: { rows: 24, cols: 80 } });
      const writer = cat.stdin.getWriter();
      const reader = cat.stdout.getReader();
      const echo: number[] = [];
      for (let i = 0; i < 40; i++) {
        const started = performance.now();
        await writer.write(Uint8Array.of(0x61));
        await reader.read();
        echo.push(performance.now() - started);
      }
      cat.kill(9);
      ctx.samples("keystroke echo on a pty", echo.slice(5), "ms");
    } finally {
      await drydock.dispose();
    }

    // How soon the engine knows a guest failed: from the command that kills it to the agent's failure, for a kernel
    // panic (the console's words) and for drydockd killed (the guest's kernel closes its end of the link, and the
    // virtio console says so; busybox init's respawn a second later is not waited for).
    const detection = async (command: string) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const guest = await Drydock.boot({ artifacts, wasmPath: v86WasmPath(), state });
        try {
          const failed = new Promise<number>((resolve) => guest.agent.onFailure(() => resolve(performance.now())));
          const started = performance.now();
          await guest.spawn("sh", ["-c", command]).catch(() => {});
          times.push((await failed) - started);
        } finally {
          await guest.dispose().catch(() => {});
        }
      }
      return times;
    };
    ctx.samples(
      "fault noticed: kernel panic (sysrq)",
      await detection("echo c > /proc/sysrq-trigger"),
      "ms",
      "< 2000 ms",
    );
    ctx.samples(
      "fault noticed: drydockd killed (its end of the link closes)",
      await detection("kill -9 $PPID"),
      "ms",
      "< 2000 ms",
    );
  },
};

export default suite;
