// Restart policies with the real docker CLI against the Node daemon: a container that exits is started again as
// its --restart policy says (always, on-failure[:N], unless-stopped; no by default), a stop by hand holds, and when
// the daemon starts again on the same data root it brings back what the policies name.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEBIAN_DOCKER } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { NodeDaemon } from "../fixtures/node-daemon.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let daemon: NodeDaemon;

const docker = (args: string[]) => daemon.docker(args);
const inspect = async (format: string, name: string) => (await docker(["inspect", "-f", format, name])).stdout.trim();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `docker inspect -f format name` until it prints `want` (or 20 s pass); returns what it printed last. */
async function until(format: string, name: string, want: (value: string) => boolean): Promise<string> {
  let value = await inspect(format, name);
  for (let i = 0; i < 100 && !want(value); i++) {
    await sleep(200);
    value = await inspect(format, name);
  }
  return value;
}

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-restart-policy-"));
  daemon = new NodeDaemon(dir);
  await daemon.start();
  expect((await docker(["pull", "-q", busybox.reference])).code).toBe(0);
});

afterAll(async () => {
  await daemon?.stop();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("restart policies", () => {
  it("always starts a container again each time it exits, and docker stop ends that", async () => {
    const run = await docker([
      "run",
      "-d",
      "--restart",
      "always",
      "--name",
      "flaky",
      busybox.reference,
      "sh",
      "-c",
      "echo run; sleep 0.3; exit 1",
    ]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(await inspect("{{.HostConfig.RestartPolicy.Name}}", "flaky")).toBe("always");
    expect(Number(await until("{{.RestartCount}}", "flaky", (count) => Number(count) >= 2))).toBeGreaterThanOrEqual(2);
    // The runs printed their lines into the one log (the latest may not have printed yet).
    const lines = (await docker(["logs", "flaky"])).stdout.split("\n");
    expect(lines.filter((line) => line === "run").length).toBeGreaterThanOrEqual(2);
    // Running or waiting to run again: docker ps lists it either way.
    expect((await docker(["ps", "--format", "{{.Names}} {{.Status}}"])).stdout).toMatch(
      /^flaky (Up|Restarting \(1\))/m,
    );

    expect((await docker(["stop", "-t", "1", "flaky"])).code).toBe(0);
    const stopped = await inspect("{{.State.Status}} {{.RestartCount}}", "flaky");
    expect(stopped).toMatch(/^exited \d+$/);
    await sleep(1500);
    expect(await inspect("{{.State.Status}} {{.RestartCount}}", "flaky")).toBe(stopped);
    expect((await docker(["ps", "-q", "--filter", "name=flaky"])).stdout).toBe("");
  });

  it("on-failure:N restarts a failing container N times, and a clean exit not at all", async () => {
    const failing = await docker([
      "run",
      "-d",
      "--restart",
      "on-failure:2",
      "--name",
      "failing",
      busybox.reference,
      "sh",
      "-c",
      "exit 3",
    ]);
    expect(failing.code).toBe(0);
    expect(await until("{{.State.Status}} {{.RestartCount}}", "failing", (v) => v === "exited 2")).toBe("exited 2");
    await sleep(1000);
    expect(await inspect("{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}", "failing")).toBe("exited 3 2");

    const clean = await docker(["run", "--restart", "on-failure", "--name", "clean", busybox.reference, "true"]);
    expect(clean.code).toBe(0);
    await sleep(1000);
    expect(await inspect("{{.State.Status}} {{.RestartCount}}", "clean")).toBe("exited 0");
  });

  it("refuses a policy it does not know and a retry count without on-failure, saying why", async () => {
    const unknown = await docker(["run", "--restart", "sometimes", busybox.reference, "true"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/sometimes/);
    const counted = await docker(["create", "--restart", "always:3", busybox.reference, "true"]);
    expect(counted.code).not.toBe(0);
    expect(counted.stderr).toMatch(/on-failure/);
  });

  it("when the daemon starts again, brings back always and unless-stopped containers, but not one stopped by hand with unless-stopped", async () => {
    const start = (name: string, policy: string) =>
      docker(["run", "-d", "--restart", policy, "--name", name, busybox.reference, "sleep", "600"]);
    for (const [name, policy] of [
      ["keeper", "always"],
      ["held", "always"],
      ["steady", "unless-stopped"],
      ["parked", "unless-stopped"],
      ["fragile", "on-failure"],
      ["plain", "no"],
    ] as const) {
      expect((await start(name, policy)).code).toBe(0);
    }
    for (const name of ["held", "parked"]) expect((await docker(["stop", "-t", "0", name])).code).toBe(0);

    await daemon.restart();

    const names = ["keeper", "held", "steady", "parked", "fragile", "plain"];
    // `always` comes back even stopped by hand; `unless-stopped` only if it was not; `on-failure` because its task
    // was lost with the guest (exit 255); `no` stays exited.
    for (const name of ["keeper", "held", "steady", "fragile"]) {
      expect(await until("{{.State.Status}}", name, (status) => status === "running")).toBe("running");
    }
    expect(await inspect("{{.State.Status}}", "parked")).toBe("exited");
    expect(await inspect("{{.State.Status}} {{.State.ExitCode}}", "plain")).toBe("exited 255");
    const listed = (await docker(["ps", "--format", "{{.Names}}"])).stdout.trim().split("\n").sort();
    // flaky (always, stopped by hand in the first test) is back too.
    expect(listed).toEqual(["flaky", "fragile", "held", "keeper", "steady"]);
    expect(await docker(["rm", "-f", "flaky", ...names])).toMatchObject({ code: 0, stderr: "" });
  });
});
