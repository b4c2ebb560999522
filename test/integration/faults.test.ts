// Faults under a running `docker run`: drydockd killed in the guest, and the guest's kernel panicking. The engine
// notices as soon as the guest shows it (the latency is printed), the real docker client gets an error instead of
// hanging, a fresh guest is restored from the saved state, and the images (kept outside the guest) are intact: the
// next `docker run` works.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type GuestFault, GuestSupervisor, type ImageService } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let images: ImageService;
let supervisor: GuestSupervisor;
let daemon: Daemon;
const faults: GuestFault[] = [];
let restores = 0;

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-faults-"));
  images = await openNodeImageService(join(dir, "root"));
  supervisor = await GuestSupervisor.start({
    boot: () => bootDrydock(),
    open: (drydock) => ContainerService.open(drydock, images),
  });
  supervisor.onFault((fault) => faults.push(fault));
  supervisor.onRestore(() => restores++);
  daemon = await startDaemon({ host: `unix://${join(dir, "docker.sock")}`, images, supervisor });
  expect((await docker(["pull", busybox.reference])).code).toBe(0);
});

afterAll(async () => {
  await daemon?.close();
  await supervisor?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function docker(args: string[]): Promise<Outcome> {
  return runDocker({ host: `unix://${daemon.socketPath}`, home: dir }, args);
}

/** Starts an attached `docker run` whose container prints a line then sleeps; resolves once it runs. */
async function runningClient(name: string): Promise<{ outcome: Promise<Outcome> }> {
  const client = docker(["run", "--rm", "--name", name, busybox.reference, "sh", "-c", "echo started; sleep 600"]);
  for (let i = 0; i < 200; i++) {
    const logs = await docker(["logs", name]);
    if (logs.stdout === "started\n") return { outcome: client };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not start`);
}

/** Waits for the supervisor's next fault and the fresh guest after it. */
async function faultAndRestore(before: number): Promise<GuestFault> {
  for (let i = 0; i < 600 && (faults.length <= before || restores <= before); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(faults.length).toBe(before + 1);
  expect(restores).toBe(before + 1);
  return faults[before]!;
}

/** What must hold after a fault: a fresh guest runs containers, and the pulled image is still there. */
async function expectRestored(): Promise<void> {
  expect(supervisor.fault).toBeUndefined();
  const images = await docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
  expect(images.stdout.trim()).toBe(busybox.reference);
  const again = await docker(["run", "--rm", busybox.reference, "echo", "the guest is back"]);
  expect(again.stderr).toBe("");
  expect(again.stdout).toBe("the guest is back\n");
  expect(again.code).toBe(0);
}

describe("a guest that fails under docker run", () => {
  it("drydockd killed: reported, the client gets an error, a fresh guest runs the next container", async () => {
    const client = await runningClient("victim-agent");
    const before = faults.length;
    const killedAt = Date.now();
    // A shell whose parent is drydockd kills it; the guest's kernel closes drydockd's end of the link at once.
    void supervisor.drydock.agent.run(["/bin/busybox", "sh", "-c", "kill -9 $PPID"]).catch(() => {});
    const fault = await faultAndRestore(before);
    expect(fault.message).toMatch(/drydockd exited in the guest \(it closed the agent link\)/);
    // How soon is a benchmark's figure (test/bench/agent.bench.ts), printed here, not asserted.
    console.log(`drydockd killed → fault reported in ${fault.time - killedAt} ms`);
    const outcome = await client.outcome;
    // The client's answer is the fault, not a hang: it comes after the report, with its words.
    expect(Date.now()).toBeGreaterThanOrEqual(fault.time);
    expect(outcome.code).not.toBe(0);
    expect(outcome.stdout).toBe("started\n");
    expect(outcome.stderr).toMatch(/drydockd exited in the guest/);
    await expectRestored();
  });

  it("the kernel panics: reported with the console's words, the client gets an error, a fresh guest runs the next container", async () => {
    const client = await runningClient("victim-kernel");
    const before = faults.length;
    const agent = supervisor.drydock.agent;
    // With panic_on_oom the kernel panics instead of killing a process when the whole guest runs out of memory.
    expect((await agent.run(["/bin/busybox", "sh", "-c", "echo 1 > /proc/sys/vm/panic_on_oom"])).code).toBe(0);
    const startedAt = Date.now();
    void agent.run(["/bin/busybox", "awk", 'BEGIN { s = "x"; while (1) s = s s }']).catch(() => {});
    const fault = await faultAndRestore(before);
    expect(fault.message).toMatch(/the guest crashed \(.*Kernel panic.*\)/);
    // The panic is noticed from the console line itself, with no timeout involved (the allocation takes a while).
    console.log(`out of memory → kernel panic reported ${fault.time - startedAt} ms after the allocation began`);
    const outcome = await client.outcome;
    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toMatch(/the guest crashed/);
    await expectRestored();
  });
});
