// engine/cli (the TypeScript docker CLI, through its Node unix-socket transport) and Debian's real docker 20.10,
// side by side against the Node daemon: the same scenario through both, comparing what a person reads (tables,
// inspect fields, logs, pull lines, error messages) and the exit codes.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliIO, runCli } from "../../engine/cli/index.ts";
import { ContainerService, type Drydock } from "../../engine/index.ts";
import { unixConnector } from "../../engine/node/cli.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let drydock: Drydock;
let daemon: Daemon;
let host: string;

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-cli-"));
  const images = await openNodeImageService(join(dir, "root"));
  drydock = await bootDrydock();
  daemon = await startDaemon({
    host: `unix://${join(dir, "docker.sock")}`,
    images,
    containers: ContainerService.open(drydock, images),
  });
  host = `unix://${daemon.socketPath}`;
});

afterAll(async () => {
  await daemon?.close();
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The real docker CLI; never throws on a non-zero exit. */
function docker(args: string[]): Promise<Outcome> {
  return runDocker({ host, home: dir }, args);
}

/** engine/cli in this process, over the same unix socket, with pipes for stdio. */
async function drydockCli(args: string[]): Promise<Outcome> {
  const parts = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  const sink = (into: Uint8Array[]) => new WritableStream<Uint8Array>({ write: (chunk) => void into.push(chunk) });
  const io: CliIO = {
    stdin: new ReadableStream({ start: (controller) => controller.close() }),
    stdout: sink(parts.stdout),
    stderr: sink(parts.stderr),
    isTTY: { stdin: false, stdout: false },
    env: { HOME: dir },
    cwd: dir,
    size: () => undefined,
    onResize: () => () => {},
    setRawMode: async () => {},
  };
  const code = await runCli(["-H", host, ...args], io, unixConnector("unix:///var/run/docker.sock"));
  const text = (chunks: Uint8Array[]) => Buffer.concat(chunks).toString("utf8");
  return { code, stdout: text(parts.stdout), stderr: text(parts.stderr) };
}

/** Both clients, the real one first. */
async function both(args: string[]): Promise<[Outcome, Outcome]> {
  return [await docker(args), await drydockCli(args)];
}

/** A table's text with the columns that tick (CREATED, STATUS durations) made comparable. */
function steady(text: string): string {
  return text.replace(/\d+ seconds?|Less than a second|About a minute|\d+ minutes/g, "<duration>").replace(/ +/g, " ");
}

describe("engine/cli and docker 20.10 against the Drydock daemon", () => {
  it("version: the same server section; the client says it is Drydock's", async () => {
    const [real, ours] = await both(["version"]);
    expect(ours.code).toBe(real.code);
    const server = (text: string) => text.slice(text.indexOf("Server:"));
    expect(server(ours.stdout)).toBe(server(real.stdout));
    expect(ours.stdout).toMatch(/^Client: Drydock\n Version: +0\.1\.0\n API version: +1\.43$/m);
    // --format names Go's fields, as the real client's does.
    const format = "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.Os}}";
    const [realFormat, oursFormat] = await both(["version", "--format", format]);
    expect(oursFormat.stdout).toBe(realFormat.stdout);
    expect(oursFormat.stdout).toBe("0.1.0 1.43 linux\n");
  });

  it("pull from the local registry: the same status lines, digest and final reference", async () => {
    const ours = await drydockCli(["pull", busybox.reference.replace(/:latest$/, "")]);
    expect(ours.code).toBe(0);
    const lines = ours.stdout.trim().split("\n");
    expect(lines[0]).toBe("Using default tag: latest");
    expect(lines[1]).toBe("latest: Pulling from busybox");
    expect(lines).toContainEqual(expect.stringMatching(/^[0-9a-f]{12}: Pull complete$/));
    expect(lines).toContain(`Digest: ${busybox.digest}`);
    expect(lines).toContain(`Status: Downloaded newer image for ${busybox.reference}`);
    expect(lines.at(-1)).toBe(busybox.reference);
    const [real, again] = await both(["pull", busybox.reference]);
    expect(again).toEqual(real);
    expect(again.stdout).toContain(`Status: Image is up to date for ${busybox.reference}`);
  });

  it("images: the same table", async () => {
    const [real, ours] = await both(["images"]);
    expect(ours).toEqual(real);
    expect(ours.stdout).toMatch(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\n/);
  });

  it("run --rm echo: the output and exit code; a failing command's own code", async () => {
    const [real, ours] = await both(["run", "--rm", busybox.reference, "echo", "hi"]);
    expect(ours).toEqual(real);
    expect(ours).toEqual({ code: 0, stdout: "hi\n", stderr: "" });
    const [realFail, oursFail] = await both(["run", "--rm", busybox.reference, "sh", "-c", "echo no >&2; exit 7"]);
    expect(oursFail).toEqual(realFail);
    expect(oursFail).toEqual({ code: 7, stdout: "", stderr: "no\n" });
  });

  it("run -d, logs, ps, inspect --format, stop, rm", async () => {
    const script = "echo out; echo err >&2; sleep 300";
    const real = await docker([
      "run",
      "-d",
      "--name",
      "real-web",
      "-e",
      "WHO=real",
      busybox.reference,
      "sh",
      "-c",
      script,
    ]);
    const ours = await drydockCli([
      "run",
      "-d",
      "--name",
      "our-web",
      "-e",
      "WHO=real",
      busybox.reference,
      "sh",
      "-c",
      script,
    ]);
    expect(real.code).toBe(0);
    expect(ours.code).toBe(0);
    expect(ours.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const ourId = ours.stdout.trim();

    // Logs: same bytes on the same streams (the container's stderr stays stderr).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const realLogs = await docker(["logs", "real-web"]);
    const ourLogs = await drydockCli(["logs", "our-web"]);
    expect(ourLogs).toEqual(realLogs);
    expect(ourLogs).toEqual({ code: 0, stdout: "out\n", stderr: "err\n" });

    const [realPs, ourPs] = await both(["ps"]);
    expect(ourPs.code).toBe(0);
    expect(steady(ourPs.stdout)).toBe(steady(realPs.stdout));
    expect(ourPs.stdout).toMatch(
      new RegExp(`^${ourId.slice(0, 12)} +${busybox.reference} +"sh -c 'echo out; ec…" +.+ ago +Up .+ +our-web$`, "m"),
    );

    const format = [
      "inspect",
      "--format",
      '{{.State.Status}} {{json .Config.Cmd}} {{range .Config.Env}}{{if eq . "WHO=real"}}{{.}}{{end}}{{end}} {{.Name}}',
    ];
    const [realInspect, ourInspect] = await both([...format, "our-web"]);
    expect(ourInspect).toEqual(realInspect);
    expect(ourInspect.stdout).toBe(`running ["sh","-c","${script}"] WHO=real /our-web\n`);
    const [realJson, ourJson] = await both(["inspect", "our-web"]);
    expect(JSON.parse(ourJson.stdout)).toEqual(
      JSON.parse(realJson.stdout).map((entry: { State: unknown }) => ({ ...entry, State: expect.anything() })),
    );

    const [realStop, ourStop] = [
      await docker(["stop", "-t", "1", "real-web"]),
      await drydockCli(["stop", "-t", "1", "our-web"]),
    ];
    expect(realStop).toEqual({ code: 0, stdout: "real-web\n", stderr: "" });
    expect(ourStop).toEqual({ code: 0, stdout: "our-web\n", stderr: "" });
    const [realAll, ourAll] = await both(["ps", "-a", "--format", "{{.Names}}\t{{.Status}}"]);
    expect(steady(ourAll.stdout)).toBe(steady(realAll.stdout));
    expect(ourAll.stdout).toMatch(/^our-web\tExited \(\d+\) .+ ago$/m);

    expect(await drydockCli(["rm", "our-web"])).toEqual({ code: 0, stdout: "our-web\n", stderr: "" });
    expect(await docker(["rm", "real-web"])).toEqual({ code: 0, stdout: "real-web\n", stderr: "" });
    const [realEmpty, ourEmpty] = await both(["ps", "-a", "-q"]);
    expect(ourEmpty).toEqual(realEmpty);
  });

  it("bad input: an unknown flag, a malformed reference, an unknown container or image", async () => {
    for (const args of [
      ["run", "--foo", busybox.reference],
      ["ps", "-x"],
      ["run", "BusyBox"],
      ["pull", "Bad/Name"],
      ["logs", "nosuch"],
      ["stop", "nosuch"],
      ["rm", "nosuch"],
      ["inspect", "nosuch"],
      ["image", "inspect", "nosuch"],
      ["rmi", "nosuch"],
      ["nosuch"],
      ["run"],
    ]) {
      const [real, ours] = await both(args);
      expect({ args, ...ours }).toEqual({ args, ...real });
    }
    // The daemon keeps serving.
    expect((await drydockCli(["version"])).code).toBe(0);
  });

  it("container prune: stopped containers go, running ones stay; the same report from both clients", async () => {
    for (const client of [docker, drydockCli]) {
      const exited = await client(["run", "-d", busybox.reference, "sh", "-c", "echo x > /made; exit 0"]);
      const running = await client(["run", "-d", busybox.reference, "sleep", "60"]);
      const exitedId = exited.stdout.trim();
      const runningId = running.stdout.trim();
      expect(exitedId).toMatch(/^[0-9a-f]{64}$/);
      await client(["wait", exitedId]);
      const pruned = await client(["container", "prune", "-f"]);
      expect(pruned.code).toBe(0);
      // docker's layout: the IDs under a title, a blank line, the total (the upper layer held /made and /root…).
      expect(pruned.stdout).toMatch(new RegExp(`^Deleted Containers:\n${exitedId}\n\nTotal reclaimed space: \\d`));
      expect(pruned.stdout).not.toContain(runningId);
      const left = await client(["ps", "-aq", "--no-trunc"]);
      expect(left.stdout).toContain(runningId);
      expect(left.stdout).not.toContain(exitedId);
      await client(["rm", "-f", runningId]);
    }
    // Nothing stopped: only the total.
    expect((await drydockCli(["container", "prune", "-f"])).stdout).toBe("Total reclaimed space: 0B\n");
    // system prune goes through containers, images and the build cache: one stopped container, one total.
    const left = (await drydockCli(["create", busybox.reference, "true"])).stdout.trim();
    const system = await drydockCli(["system", "prune", "-f"]);
    expect(system.code).toBe(0);
    expect(system.stdout).toMatch(new RegExp(`^Deleted Containers:\n${left}\n\n(.|\n)*Total reclaimed space: \\d`));
  });

  it("rmi: untagged and deleted, then the image is gone for both clients", async () => {
    const ours = await drydockCli(["rmi", busybox.reference]);
    expect(ours.code).toBe(0);
    expect(ours.stdout).toMatch(new RegExp(`^Untagged: ${busybox.reference}\nDeleted: sha256:[0-9a-f]{64}\n`));
    const [real, again] = await both(["rmi", busybox.reference]);
    expect(again).toEqual(real);
    expect(again).toMatchObject({ code: 1, stderr: `Error: No such image: ${busybox.reference}\n` });
    const [realImages, ourImages] = await both(["images", "-q"]);
    expect(ourImages).toEqual(realImages);
    expect(ourImages.stdout).toBe("");
  });
});
