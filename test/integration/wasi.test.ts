// WASI containers beside Linux ones, through the real docker CLI against the Node daemon: one C program
// (test/fixtures/programs/twoways.c) compiled to wasm32-wasi and to static i386 Linux, pushed as one index (with a
// buildx-style attestation entry), pulled once per platform, and run both ways: the same output, exit code, piped
// stdin and written file. Then what only the WASI runtime has to get right: -m caps the module's memory with a clear
// error, docker stop ends a module in a loop, the two wasm artifact layouts, and refusals in Docker's words.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type Drydock, type ImageService } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, nodeWasiWorkers, openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, dockerClientEnv, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { compileTwoways, type SeededImage, seedRegistry, TWOWAYS_MESSAGE } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let seeded: Record<"twoways" | "wasm-artifact" | "wasm-to-oci", SeededImage>;
let dir: string;
let images: ImageService;
let drydock: Drydock;
let containers: ContainerService;
let daemon: Daemon;

/** The two local names the one pushed index is pulled to, one per platform. */
const BOTH = { linux: "twoways:386", wasi: "twoways:wasm" } as const;

function docker(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return runDocker({ host: `unix://${daemon.socketPath}`, home: dir, env }, args);
}

/** docker with `input` piped to its stdin (then closed, as a shell pipe does). */
function dockerWithInput(args: string[], input: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(DEBIAN_DOCKER, ["-H", `unix://${daemon.socketPath}`, ...args], { env: dockerClientEnv(dir) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  seeded = await seedRegistry(registry, ["twoways", "wasm-artifact", "wasm-to-oci"]);
  dir = await mkdtemp(join(tmpdir(), "drydock-wasi-"));
  images = await openNodeImageService(join(dir, "root"));
  drydock = await bootDrydock();
  containers = ContainerService.open(drydock, images, { wasiWorkers: nodeWasiWorkers() });
  daemon = await startDaemon({ host: `unix://${join(dir, "docker.sock")}`, images, containers });
  const reference = seeded.twoways.reference;
  for (const [platform, name] of [
    ["wasi/wasm", BOTH.wasi],
    ["linux/386", BOTH.linux],
  ] as const) {
    const pulled = await docker(["pull", "--platform", platform, reference]);
    if (pulled.code !== 0) throw new Error(`docker pull --platform ${platform}: ${pulled.stderr}`);
    await docker(["tag", reference, name]);
  }
}, 180_000);

afterAll(async () => {
  await daemon?.close();
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("images: wasi/wasm from an index, and wasm artifacts", () => {
  it("pull --platform picks each platform's manifest from the index (past the unknown/unknown attestation)", async () => {
    const wasi = await docker([
      "image",
      "inspect",
      "--format",
      "{{.Os}}/{{.Architecture}} {{json .Config.Entrypoint}}",
      BOTH.wasi,
    ]);
    expect(wasi.stdout.trim()).toBe('wasi/wasm ["/twoways.wasm"]');
    const linux = await docker([
      "image",
      "inspect",
      "--format",
      "{{.Os}}/{{.Architecture}} {{json .Config.Entrypoint}}",
      BOTH.linux,
    ]);
    expect(linux.stdout.trim()).toBe('linux/386 ["/twoways"]');
  });

  it("a pull without --platform takes linux/386 from an index that has both", async () => {
    const pulled = await docker(["pull", seeded.twoways.reference]);
    expect(pulled.code).toBe(0);
    const { stdout } = await docker([
      "image",
      "inspect",
      "--format",
      "{{.Os}}/{{.Architecture}}",
      seeded.twoways.reference,
    ]);
    expect(stdout.trim()).toBe("linux/386");
  });

  it.each(["wasm-artifact", "wasm-to-oci"] as const)("a %s image pulls as wasi/wasm and runs", async (name) => {
    const pulled = await docker(["pull", seeded[name].reference]);
    expect(pulled.stderr).toBe("");
    expect(pulled.code).toBe(0);
    const { stdout } = await docker([
      "image",
      "inspect",
      "--format",
      "{{.Os}}/{{.Architecture}}",
      seeded[name].reference,
    ]);
    expect(stdout.trim()).toBe("wasi/wasm");
    const run = await dockerWithInput(["run", "--rm", "-i", seeded[name].reference, "upper"], "wasm artifact\n");
    expect(run).toEqual({ code: 0, stdout: "WASM ARTIFACT\n", stderr: "read 14 bytes\n" });
  });
});

describe("one program, two runtimes: the same behaviour through the docker CLI", () => {
  it("the same output: arguments, environment, working directory and a file from the image", async () => {
    const outcomes = await Promise.all(
      Object.values(BOTH).map((image) =>
        docker(["run", "--rm", "-e", "GREETING=hi there", image, "greet", "a", "b c"]),
      ),
    );
    for (const outcome of outcomes) {
      expect(outcome).toEqual({
        code: 0,
        stdout: `hello from twoways, 3 arguments: greet a b c\nGREETING=hi there\ncwd=/\nmessage: ${TWOWAYS_MESSAGE}`,
        stderr: "",
      });
    }
  });

  it("the same exit code", async () => {
    for (const image of Object.values(BOTH)) expect((await docker(["run", "--rm", image, "exit", "7"])).code).toBe(7);
  });

  it("stdin piped in with -i, to its end", async () => {
    for (const image of Object.values(BOTH)) {
      const outcome = await dockerWithInput(["run", "--rm", "-i", image, "upper"], "piped in\nand more\n");
      expect(outcome).toEqual({ code: 0, stdout: "PIPED IN\nAND MORE\n", stderr: "read 18 bytes\n" });
    }
  });

  it("a file written and read back, kept in the container's layer (docker diff)", async () => {
    for (const [kind, image] of Object.entries(BOTH)) {
      const name = `file-${kind}`;
      const outcome = await docker(["run", "--name", name, image, "file", "/tmp/note.txt", "written by twoways"]);
      expect(outcome).toEqual({ code: 3, stdout: "/tmp/note.txt: written by twoways\n", stderr: "" });
      const diff = await docker(["diff", name]);
      expect(diff.stdout).toContain("A /tmp/note.txt");
      const inspect = await docker(["inspect", "--format", "{{.State.ExitCode}} {{.HostConfig.Runtime}}", name]);
      expect(inspect.stdout.trim()).toBe(`3 ${kind === "wasi" ? "wasi" : "drydock"}`);
      expect((await docker(["rm", name])).code).toBe(0);
    }
  });
});

describe("the WASI runtime", () => {
  it("docker info lists it beside the guest's", async () => {
    const { stdout } = await docker(["info", "--format", "{{json .Runtimes}} {{.DefaultRuntime}}"]);
    expect(stdout).toContain('"wasi":{"path":"@bjorn3/browser_wasi_shim"}');
    expect(stdout.trim()).toMatch(/ drydock$/);
  });

  it("-m caps the module's memory: allocating past it ends with a clear error and OOMKilled", async () => {
    const outcome = await docker(["run", "--name", "hungry", "-m", "16m", BOTH.wasi, "alloc", "64"]);
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toBe("");
    expect(outcome.stderr).toMatch(/^malloc failed after \d+ MiB\n/);
    expect(outcome.stderr).toContain("the module ran out of memory");
    expect(outcome.stderr).toContain("of its 16 MiB limit (docker run -m)");
    const inspect = await docker(["inspect", "--format", "{{.State.OOMKilled}} {{.HostConfig.Memory}}", "hungry"]);
    expect(inspect.stdout.trim()).toBe(`true ${16 * 1024 * 1024}`);
    // Within the limit the same program is fine.
    expect(await docker(["run", "--rm", "-m", "16m", BOTH.wasi, "alloc", "4"])).toMatchObject({ code: 0 });
    await docker(["rm", "hungry"]);
  });

  it("a module in a loop runs beside the engine, shows in ps/top/stats, and docker stop ends it", async () => {
    const started = await docker(["run", "-d", "--name", "spin", BOTH.wasi, "spin"]);
    expect(started.code).toBe(0);
    const ps = await docker(["ps", "--format", "{{.Names}} {{.Status}}"]);
    expect(ps.stdout).toMatch(/^spin Up /m);
    // The engine still answers while the module computes: it runs in a worker of its own.
    const top = await docker(["top", "spin"]);
    expect(top.stdout).toContain("/twoways.wasm spin");
    const stats = await docker(["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "spin"]);
    expect(stats.stdout.trim()).toBe("spin 1");
    const stopped = await docker(["stop", "-t", "5", "spin"]);
    expect(stopped).toMatchObject({ code: 0, stdout: "spin\n" });
    const inspect = await docker(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "spin"]);
    expect(inspect.stdout.trim()).toBe("exited 143");
    expect((await docker(["wait", "spin"])).stdout.trim()).toBe("143");
    expect((await docker(["rm", "spin"])).code).toBe(0);
  });

  it("docker build --platform wasi/wasm: FROM scratch, COPY the .wasm, ENTRYPOINT makes an image that runs", async () => {
    const context = join(dir, "wasm-build");
    await mkdir(context);
    await compileTwoways(context);
    const dockerfile = 'FROM scratch\nCOPY twoways.wasm /app.wasm\nENTRYPOINT ["/app.wasm"]\nCMD ["exit", "5"]\n';
    await writeFile(join(context, "Dockerfile"), dockerfile);
    const classic = { DOCKER_BUILDKIT: "0" };
    const built = await docker(["build", "--platform", "wasi/wasm", "-t", "built-wasm", context], classic);
    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    const inspect = await docker(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", "built-wasm"]);
    expect(inspect.stdout.trim()).toBe("wasi/wasm");
    expect((await docker(["run", "--rm", "built-wasm"])).code).toBe(5);
    await writeFile(join(context, "Dockerfile"), "FROM scratch\nRUN echo hi\n");
    const refused = await docker(["build", "--platform", "wasi/wasm", context], classic);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain("RUN in a wasi/wasm stage");
  });

  it("logs, and what a WASI container cannot do, in words", async () => {
    await docker(["run", "--name", "said", BOTH.wasi, "greet"]);
    expect((await docker(["logs", "said"])).stdout).toContain("hello from twoways, 1 arguments: greet");
    await docker(["rm", "said"]);
    const wrongRuntime = await docker(["run", "--rm", "--runtime", "runc", BOTH.wasi]);
    expect(wrongRuntime.code).toBe(125);
    expect(wrongRuntime.stderr).toContain("is wasi/wasm");
    const unknown = await docker(["run", "--rm", "--runtime", "crun", BOTH.wasi]);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toContain("unknown or invalid runtime name: crun");
    const running = await docker(["run", "-d", "--name", "busy", BOTH.wasi, "spin"]);
    expect(running.code).toBe(0);
    const exec = await docker(["exec", "busy", "ls"]);
    expect(exec.code).not.toBe(0);
    expect(exec.stderr).toContain("is a WASI container: a WebAssembly module is one program");
    await docker(["rm", "-f", "busy"]);
  });
});
