// The first spawns after a restore and their floor (issue #18's row "spawn `true` through the agent, the first 30
// after a restore ≤ 20 ms"). v86 compiles guest code to wasm only once it has run often, and its set_state clears
// what was compiled, so every restored guest starts with nothing compiled. By turns, on guests restored from the
// same state:
//   engine: 30 agent requests `true`, each timed, and the time v86's loop ran the guest meanwhile (do_tick: the
//           emulated CPU, v86's interpreter and its compiler) and the code blocks it compiled;
//   bare:   the same guest without the engine (no hello, no agent): its serial shell runs `/bin/true` (fork and exec,
//           as drydockd's spawn) 30 times in one command line; less an empty command line just before it (the
//           console's round trip), ÷ 30: what a cold process costs the guest itself;
//   warm:   that loop again on the same bare guest once it has run 150 of them.
// What the engine adds is the engine row less the bare one; what the cold JIT costs is the bare row less the warm.
import { Drydock, SerialShell, V86Machine } from "../../engine/index.ts";
import { ensureSavedState, loadGuestArtifacts, v86WasmPath } from "../../engine/node/index.ts";
import { emulatorMeter } from "./emulator-meter.ts";
import { type BenchSuite, loadAverage, median } from "./harness.ts";

const ROUNDS = Number(process.env.SPAWN_ROUNDS ?? 4);
const SPAWNS = 30;
const LOOP = `i=0; while [ $i -lt ${SPAWNS} ]; do /bin/true; i=$((i+1)); done`;

const suite: BenchSuite = {
  name: "spawns",
  async run(ctx) {
    const { state } = await ensureSavedState();
    const artifacts = await loadGuestArtifacts();
    const boot = () => Drydock.boot({ artifacts, wasmPath: v86WasmPath(), state });
    const engineSpawns: number[] = [];
    const engineLoop: number[] = [];
    const engineCompiled: number[] = [];
    const engineRest: number[] = [];
    const engineWarm: number[] = [];
    const bareCold: number[] = [];
    const bareWarm: number[] = [];
    const bareLoop: number[] = [];
    const loads: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      loads.push(loadAverage());
      // Through the engine.
      const guest = await boot();
      try {
        const meter = emulatorMeter(guest.machine);
        const started = performance.now();
        for (let i = 0; i < SPAWNS; i++) {
          const at = performance.now();
          const { code } = await guest.agent.run(["true"]);
          if (code !== 0) throw new Error(`true exited with ${code}`);
          engineSpawns.push(performance.now() - at);
        }
        const wall = performance.now() - started;
        const { guestMs, compiled } = meter();
        engineLoop.push(guestMs / SPAWNS);
        engineRest.push((wall - guestMs) / SPAWNS);
        engineCompiled.push(compiled);
        for (let i = 0; i < 150; i++) await guest.agent.run(["true"]);
        for (let i = 0; i < SPAWNS; i++) {
          const at = performance.now();
          await guest.agent.run(["true"]);
          engineWarm.push(performance.now() - at);
        }
      } finally {
        await guest.dispose();
      }
      // The bare guest: the same state, no engine.
      const machine = await V86Machine.boot({ artifacts, wasmPath: v86WasmPath(), state });
      const shell = new SerialShell(machine);
      try {
        const timed = async (command: string) => {
          const started = performance.now();
          const { code } = await shell.run(command, 60_000);
          if (code !== 0) throw new Error(`\`${command}\` exited with ${code} on the bare guest`);
          return performance.now() - started;
        };
        const empty = await timed(":");
        const meter = emulatorMeter(machine);
        const loop = await timed(LOOP);
        bareLoop.push(meter().guestMs / SPAWNS);
        bareCold.push((loop - empty) / SPAWNS);
        for (let i = 0; i < 5; i++) await timed(LOOP);
        const warmEmpty = await timed(":");
        bareWarm.push(((await timed(LOOP)) - warmEmpty) / SPAWNS);
      } finally {
        shell.dispose();
        await machine.dispose();
      }
    }
    console.log(`spawns by turns: load average ${Math.min(...loads)}–${Math.max(...loads)} on 2 cores`);
    ctx.samples("spawn `true` through the agent, the first 30 after a restore", engineSpawns, "ms", "≤ 20 ms median");
    ctx.samples(
      "… of which the guest ran (v86's loop, less the engine's code called from it), per spawn",
      engineLoop,
      "ms",
    );
    ctx.samples("… the rest: the engine's code and waiting, per spawn", engineRest, "ms");
    ctx.samples("… code blocks v86 compiled during the 30", engineCompiled, "blocks");
    ctx.samples("spawn `true` through the agent, warm (after 180 on that guest)", engineWarm, "ms");
    ctx.samples(
      "floor: the bare guest (no engine), `/bin/true` from its shell, the first 30 after a restore, per spawn",
      bareCold,
      "ms",
    );
    ctx.samples("… of which the guest ran (v86's loop), per spawn", bareLoop, "ms");
    ctx.samples("floor, warm: the same loop on that guest after 150 of them, per spawn", bareWarm, "ms");
    console.log(
      `first 30 after a restore, medians: engine ${median(engineSpawns).toFixed(1)} ms per spawn, the bare guest ${median(bareCold).toFixed(1)} ms (warm ${median(bareWarm).toFixed(1)} ms): the engine and its agent add ${(median(engineSpawns) - median(bareCold)).toFixed(1)} ms (${median(engineRest).toFixed(1)} ms outside the guest), the cold JIT ${(median(bareCold) - median(bareWarm)).toFixed(1)} ms; warm through the engine ${median(engineWarm).toFixed(1)} ms`,
    );
  },
};

export default suite;
