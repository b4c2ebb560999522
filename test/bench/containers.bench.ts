// Containers in the real guest, the image cached: `run --rm busybox true` end to end, time to a shell prompt, guest
// memory per idle container, and 20 containers started at once.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerService, type Drydock } from "../../engine/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import type { BenchSuite } from "./harness.ts";

async function memAvailableKiB(read: (path: string) => Promise<Uint8Array>): Promise<number> {
  const text = new TextDecoder().decode(await read("/proc/meminfo"));
  return Number(/^MemAvailable:\s+(\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

const suite: BenchSuite = {
  name: "containers",
  async run(ctx) {
    const registry = await startRegistry();
    const dir = await mkdtemp(join(tmpdir(), "drydock-bench-containers-"));
    const drydock = await bootDrydock();
    try {
      const { busybox: seeded } = await seedRegistry(registry, ["busybox"]);
      const images = await openNodeImageService(dir);
      const busybox = (await images.pull(seeded.reference)).name;
      // The same guest and agent, with each agent call counted: how many requests a run costs does not depend on
      // how busy the machine is, unlike its time.
      const calls = new Map<string, number>();
      const counted = new Proxy(drydock.agent, {
        get(target, property, receiver) {
          const value: unknown = Reflect.get(target, property, receiver);
          if (typeof value !== "function" || typeof property !== "string") return value;
          return (...args: unknown[]) => {
            calls.set(property, (calls.get(property) ?? 0) + 1);
            return Reflect.apply(value, target, args);
          };
        },
      });
      const containers = ContainerService.open(
        Object.create(drydock, { agent: { value: counted } }) as Drydock,
        images,
      );

      const runTrue = async () => {
        const { exited } = await containers.run(busybox, { cmd: ["true"], rm: true });
        await exited;
      };
      await ctx.time("run --rm busybox true (first 5 after restore)", 5, runTrue);
      await ctx.time("run --rm busybox true (warm)", 20, runTrue, { warmup: 10, goal: "< 250 ms" });
      calls.clear();
      await runTrue();
      const total = [...calls.values()].reduce((sum, n) => sum + n, 0);
      ctx.record("run --rm busybox true: agent calls", total, `calls (${calls.get("spawn") ?? 0} spawn)`);

      const prompts: number[] = [];
      for (let i = 0; i < 7; i++) {
        const started = performance.now();
        const { id } = await containers.run(busybox, { cmd: ["sh"], tty: true });
        const reader = containers.logs(id, { follow: true }).getReader();
        let text = "";
        while (!text.includes("# ")) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`the shell ended before its prompt: ${text}`);
          text += new TextDecoder().decode(value.data);
        }
        prompts.push(performance.now() - started);
        await reader.cancel();
        await containers.remove(id, { force: true });
      }
      ctx.samples("run -it busybox sh: time to the prompt", prompts, "ms");

      const idle = 10;
      const read = (path: string) => drydock.agent.readFile(path);
      const before = await memAvailableKiB(read);
      const ids: string[] = [];
      for (let i = 0; i < idle; i++) ids.push((await containers.run(busybox, { cmd: ["sleep", "600"] })).id);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = await memAvailableKiB(read);
      ctx.record("guest memory per idle container (sleep)", Math.round((before - after) / idle), "KiB");
      await Promise.all(ids.map((id) => containers.remove(id, { force: true })));

      const atOnce: number[] = [];
      for (let round = 0; round < 3; round++) {
        const started = performance.now();
        const many = await Promise.all(
          Array.from({ length: 20 }, () => containers.run(busybox, { cmd: ["sleep", "600"] })),
        );
        atOnce.push(performance.now() - started);
        const running = containers.list().length;
        if (running !== 20) throw new Error(`${running} of 20 containers are running`);
        await Promise.all(many.map(({ id }) => containers.remove(id, { force: true })));
      }
      ctx.samples("20 containers started at once (all running)", atOnce, "ms");
    } finally {
      await drydock.dispose();
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

export default suite;
