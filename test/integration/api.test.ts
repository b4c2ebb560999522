// The Engine API served on a unix socket by engine/node/daemon.ts, driven by the real `docker` client from Debian's
// docker.io (and a newer one where the machine has it): version negotiation, info, pull from the fixture registry,
// images, inspect, rmi, ps -a over a real container, and Docker's messages for a too-new API and an unknown image;
// then containers: run attached, -i with piped stdin, -it under a pty, -d then logs/ps/inspect/top/stats/exec/pause/
// stop/kill/restart/wait/rm, limits, events, tag, system df, what Drydock refuses, and bad requests on the raw socket.
import { spawn } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiApp } from "../../engine/api/index.ts";
import { FrameParser } from "../../engine/conventions/index.ts";
import { ContainerService, type Drydock, type ImageService } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, dockerClientEnv, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

/** Debian's client (API 1.41) first; then a newer one if installed. */
const CLIENTS = [DEBIAN_DOCKER, "/usr/local/bin/docker"].filter((path) => existsSync(path));

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let images: ImageService;
let drydock: Drydock;
let containers: ContainerService;
let daemon: Daemon;

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-api-"));
  images = await openNodeImageService(join(dir, "root"));
  drydock = await bootDrydock();
  containers = ContainerService.open(drydock, images);
  daemon = await startDaemon({ host: `unix://${join(dir, "docker.sock")}`, images, containers });
});

afterAll(async () => {
  await daemon?.close();
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function clientEnv(): Record<string, string> {
  return dockerClientEnv(dir);
}

/** Runs the docker client against the daemon; never throws on a non-zero exit. */
function docker(args: string[], options: { client?: string; env?: Record<string, string> } = {}): Promise<Outcome> {
  return runDocker({ host: `unix://${daemon.socketPath}`, home: dir, ...options }, args);
}

describe("docker CLI against the Drydock daemon", () => {
  it.each(CLIENTS)("%s version: client and server sections, negotiated down to the server's API", async (client) => {
    const { code, stdout, stderr } = await docker(["version"], { client });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Client:/m);
    expect(stdout).toMatch(/^Server: Drydock/m);
    expect(stdout).toMatch(/API version:\s+1\.43 \(minimum version 1\.24\)/);
    expect(stdout).toMatch(/OS\/Arch:\s+linux\/386/);
  });

  it.each(CLIENTS)("%s with a too-new API version gets dockerd's 400 message", async (client) => {
    const { code, stderr } = await docker(["version"], { client, env: { DOCKER_API_VERSION: "1.99" } });
    expect(code).toBe(1);
    expect(stderr).toContain(
      "Error response from daemon: client version 1.99 is too new. Maximum supported API version is 1.43",
    );
  });

  it("info", async () => {
    const { code, stdout } = await docker(["info"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Server:/m);
    expect(stdout).toMatch(/Server Version: 0\.1\.0/);
    expect(stdout).toMatch(/Images: 0/);
    expect(stdout).toMatch(/Architecture: i686/);
    // Every container gets Docker's default seccomp profile, as dockerd reports it.
    expect(stdout).toMatch(/ Security Options:\n {2}seccomp\n {3}Profile: builtin\n/);
  });

  it("pull, images, image inspect, history, ps -a, rmi", async () => {
    const pulled = await docker(["pull", busybox.reference]);
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toMatch(/^latest: Pulling from busybox$/m);
    expect(pulled.stdout).toMatch(/^[0-9a-f]{12}: Pull complete$/m);
    expect(pulled.stdout).toContain(`Digest: ${busybox.digest}`);
    expect(pulled.stdout).toContain(`Status: Downloaded newer image for ${busybox.reference}`);
    expect(pulled.stdout.trim().split("\n").at(-1)).toBe(busybox.reference);

    const again = await docker(["pull", busybox.reference]);
    expect(again.stdout).toContain(`Status: Image is up to date for ${busybox.reference}`);

    const [image] = await images.images();
    const shortId = image!.id.slice("sha256:".length, "sha256:".length + 12);
    const listed = await docker(["images"]);
    expect(listed.code).toBe(0);
    const [header, row, ...others] = listed.stdout.trim().split("\n");
    expect(header).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(others).toEqual([]);
    expect(row).toMatch(
      new RegExp(`^${busybox.reference.replace(/:latest$/, "")}\\s+latest\\s+${shortId}\\s+.+\\s+\\d+(\\.\\d+)?[kM]B$`),
    );

    const inspected = await docker(["image", "inspect", busybox.reference]);
    expect(inspected.code).toBe(0);
    const [details] = JSON.parse(inspected.stdout);
    expect(details.Id).toBe(image!.id);
    expect(details.RepoTags).toEqual([busybox.reference]);
    expect(details.Architecture).toBe("386");
    expect(details.Config.Cmd).toEqual(["sh"]);
    expect(details.Size).toBe(image!.size);

    const history = await docker(["history", busybox.reference]);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain(shortId);

    const { id } = await containers.run(busybox.reference, { cmd: ["true"] });
    await containers.wait(id);
    const ps = await docker(["ps", "-a"]);
    expect(ps.code).toBe(0);
    expect(ps.stdout).toMatch(
      new RegExp(`^${id.slice(0, 12)}\\s+${busybox.reference}\\s+"true"\\s+.+Exited \\(0\\)`, "m"),
    );
    expect((await docker(["ps"])).stdout.trim().split("\n")).toHaveLength(1);
    await containers.remove(id);

    const removed = await docker(["rmi", busybox.reference]);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain(`Untagged: ${busybox.reference}`);
    expect(removed.stdout).toContain(`Deleted: ${image!.id}`);
    expect((await docker(["images", "-q"])).stdout.trim()).toBe("");
  });

  it("an unknown image: Docker's messages from inspect, rmi and pull", async () => {
    const inspected = await docker(["image", "inspect", "nosuch"]);
    expect(inspected.code).toBe(1);
    expect(inspected.stderr).toContain("No such image: nosuch");
    const removed = await docker(["rmi", "nosuch"]);
    expect(removed.code).toBe(1);
    expect(removed.stderr).toContain("No such image: nosuch");
    const pulled = await docker(["pull", `${registry.host}/nosuch`]);
    expect(pulled.code).toBe(1);
    expect(pulled.stderr).toMatch(/^Error response from daemon: .*nosuch/m);
    // The daemon keeps serving.
    expect((await docker(["version"])).code).toBe(0);
  });
});

/** Runs a command with `input` written to its stdin, then stdin kept open for `holdMs` (a user still at the keyboard). */
function withInput(command: string, args: string[], input: string, holdMs = 0): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: clientEnv() });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.on("error", () => {});
    child.stdin.write(input);
    setTimeout(() => child.stdin.end(), holdMs);
  });
}

/** `docker …` on a pseudo-terminal (util-linux `script`), as a person at a terminal runs it. */
function onPty(args: string[], input: string): Promise<Outcome> {
  const line = ["docker", "-H", `unix://${daemon.socketPath}`, ...args].map((arg) => `'${arg}'`).join(" ");
  return withInput("script", ["-qec", line, "/dev/null"], input, 3000);
}

/** One raw request on the daemon's socket, as a client library would send it. */
function raw(method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { socketPath: daemon.socketPath, method, path, headers: body ? { "content-type": "application/json" } : {} },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

const lines = (text: string) => text.replace(/\r/g, "").trim().split("\n");

describe("containers through the docker CLI", () => {
  it("run attached: pulls when missing, stdout and stderr apart, the container's exit code, --rm", async () => {
    const run = await docker(["run", "--rm", busybox.reference, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(run.stderr).toContain(`Unable to find image '${busybox.reference}' locally`);
    expect(run.stdout).toBe("out\n");
    expect(run.stderr).toMatch(/^err$/m);
    expect(run.code).toBe(3);
    expect((await docker(["ps", "-aq"])).stdout.trim()).toBe("");
  });

  it.each(CLIENTS)("%s: run attached and exec give output and exit codes", async (client) => {
    const run = await docker(["run", "--rm", busybox.reference, "sh", "-c", "echo out; exit 3"], { client });
    expect(run).toMatchObject({ code: 3, stdout: "out\n" });
    const id = (await docker(["run", "-d", busybox.reference, "sleep", "600"], { client })).stdout.trim();
    expect(await docker(["exec", id, "sh", "-c", "echo in; exit 2"], { client })).toMatchObject({
      code: 2,
      stdout: "in\n",
    });
    expect((await docker(["rm", "-f", id], { client })).code).toBe(0);
  });

  it("run -i with piped stdin delivers the bytes to the process, then the end of input", async () => {
    const run = await withInput(
      DEBIAN_DOCKER,
      ["-H", `unix://${daemon.socketPath}`, "run", "-i", "--rm", busybox.reference, "head", "-n", "2"],
      "one\ntwo\nthree\n",
    );
    expect(run.stdout).toBe("one\ntwo\n");
    expect(run.code).toBe(0);
    // wc only answers once its input ends: the client's half-close reaches the container's stdin.
    const counted = await withInput(
      DEBIAN_DOCKER,
      ["-H", `unix://${daemon.socketPath}`, "run", "-i", "--rm", busybox.reference, "wc", "-l"],
      "one\ntwo\nthree\n",
    );
    expect(counted.stdout.trim()).toBe("3");
    expect(counted.code).toBe(0);
  });

  it("run -it under a pty: a terminal in the container, typed commands run, exit code comes back", async () => {
    const run = await onPty(
      ["run", "-it", "--rm", busybox.reference, "sh"],
      "[ -t 0 ] && echo is-a-tty\necho typed-$((6*7))\nexit 5\n",
    );
    const output = run.stdout.replace(/\r/g, "");
    expect(output).toMatch(/^is-a-tty$/m);
    expect(output).toMatch(/^typed-42$/m);
    expect(run.code).toBe(5);
  });

  it("run -d, then logs, ps, inspect, top, exec, pause, stop, restart, kill, wait and rm", async () => {
    const started = await docker([
      "run",
      "-d",
      "--name",
      "web1",
      "-e",
      "GREETING=hello",
      busybox.reference,
      "sh",
      "-c",
      'echo "$GREETING out"; echo warn >&2; exec sleep 600',
    ]);
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    await expect.poll(async () => (await docker(["logs", "web1"])).stdout).toBe("hello out\n");
    const logs = await docker(["logs", "-t", "--tail", "1", "web1"]);
    expect(logs.stderr).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z warn$/m);
    expect(logs.stdout).toBe("");

    const ps = await docker(["ps"]);
    expect(ps.stdout).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+${busybox.reference}\\s+"sh -c .*Up .*web1$`, "m"));

    const [inspected] = JSON.parse((await docker(["inspect", "web1"])).stdout);
    expect(inspected.Id).toBe(id);
    expect(inspected.Name).toBe("/web1");
    expect(inspected.State).toMatchObject({ Status: "running", Running: true, Paused: false, ExitCode: 0 });
    expect(inspected.State.Pid).toBeGreaterThan(1);
    expect(inspected.Path).toBe("sh");
    expect(inspected.Config.Env).toContain("GREETING=hello");
    expect(inspected.Config.Cmd).toEqual(["sh", "-c", 'echo "$GREETING out"; echo warn >&2; exec sleep 600']);
    expect(inspected.GraphDriver.Name).toBe("overlay");
    expect(inspected.GraphDriver.Data.UpperDir).toMatch(/^\/run\/drydock\//);

    const top = await docker(["top", "web1"]);
    expect(top.code).toBe(0);
    expect(lines(top.stdout)[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    expect(top.stdout).toMatch(new RegExp(`^root\\s+${inspected.State.Pid}\\s+\\d+\\s+.*sleep 600$`, "m"));

    const exec = await docker(["exec", "web1", "sh", "-c", "echo in; echo problem >&2; exit 3"]);
    expect(exec).toMatchObject({ code: 3, stdout: "in\n" });
    expect(exec.stderr).toMatch(/^problem$/m);
    const where = await docker([
      "exec",
      "-w",
      "/tmp",
      "-u",
      "1000:1000",
      "-e",
      "X=y",
      "web1",
      "sh",
      "-c",
      "pwd; id -u; echo $X",
    ]);
    expect(lines(where.stdout)).toEqual(["/tmp", "1000", "y"]);
    // exec keeps the container's confinement; --user NAME and --privileged change it for that process only.
    const execCaps = async (args: string[]) =>
      lines(
        (await docker(["exec", ...args, "web1", "sh", "-c", "grep CapEff /proc/self/status | cut -f2; id -u"])).stdout,
      );
    expect(await execCaps([])).toEqual(["00000000a80425fb", "0"]);
    expect(await execCaps(["--privileged"])).toEqual(["000001ffffffffff", "0"]);
    expect(await execCaps(["-u", "nobody"])).toEqual(["0000000000000000", "65534"]);
    const notThere = await docker(["exec", "web1", "no-such-command"]);
    expect(notThere.code).toBe(127);
    expect(notThere.stderr).toContain('exec: "no-such-command": executable file not found in $PATH');
    const typed = await withInput(
      DEBIAN_DOCKER,
      ["-H", `unix://${daemon.socketPath}`, "exec", "-i", "web1", "head", "-n", "1"],
      "typed line\n",
    );
    expect(typed).toMatchObject({ code: 0, stdout: "typed line\n" });
    const interactive = await onPty(["exec", "-it", "web1", "sh"], "[ -t 0 ] && echo exec-tty\nexit 7\n");
    expect(interactive.stdout.replace(/\r/g, "")).toMatch(/^exec-tty$/m);
    expect(interactive.code).toBe(7);

    expect((await docker(["pause", "web1"])).code).toBe(0);
    expect((await docker(["ps", "--format", "{{.Names}} {{.Status}}"])).stdout).toMatch(/^web1 Up .*\(Paused\)$/m);
    expect((await docker(["unpause", "web1"])).code).toBe(0);

    const removing = await docker(["rm", "web1"]);
    expect(removing.code).toBe(1);
    expect(removing.stderr).toContain(`You cannot remove a running container ${id}`);

    // sleep as pid 1 ignores SIGTERM: stop waits -t seconds, then kills.
    const before = Date.now();
    expect((await docker(["stop", "-t", "1", "web1"])).code).toBe(0);
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
    expect((await docker(["ps", "-a", "--format", "{{.Names}} {{.Status}}"])).stdout).toMatch(/^web1 Exited \(137\)/m);

    expect((await docker(["start", "web1"])).code).toBe(0);
    expect((await docker(["restart", "-t", "0", "web1"])).code).toBe(0);
    expect(JSON.parse((await docker(["inspect", "web1"])).stdout)[0].State.Running).toBe(true);
    const waited = docker(["wait", "web1"]);
    expect((await docker(["kill", "-s", "KILL", "web1"])).code).toBe(0);
    expect(await waited).toMatchObject({ code: 0, stdout: "137\n" });
    const killAgain = await docker(["kill", "web1"]);
    expect(killAgain.code).toBe(1);
    expect(killAgain.stderr).toContain("is not running");

    expect((await docker(["rm", "web1"])).code).toBe(0);
    const gone = await docker(["logs", "web1"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("No such container: web1");
  });

  it("limits show in inspect and stats; a busy container's CPU % is close to its --cpus", async () => {
    const started = await docker([
      ...["run", "-d", "--name", "busy", "-m", "32m", "--cpus", "0.5", "--pids-limit", "20", busybox.reference],
      ...["sh", "-c", "while :; do :; done"],
    ]);
    expect(started.code).toBe(0);
    const [inspected] = JSON.parse((await docker(["inspect", "busy"])).stdout);
    expect(inspected.HostConfig).toMatchObject({ Memory: 32 * 1024 * 1024, NanoCpus: 500_000_000, PidsLimit: 20 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const stats = await docker(["stats", "--no-stream", "busy"]);
    expect(stats.code).toBe(0);
    const [header, row] = lines(stats.stdout);
    expect(header).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    const match = /^[0-9a-f]{12}\s+busy\s+([\d.]+)%\s+([\d.]+)(KiB|MiB) \/ 32MiB\s+[\d.]+%.*\s(\d+)$/.exec(row ?? "");
    expect(match, row).not.toBeNull();
    const cpu = Number(match![1]);
    expect(cpu).toBeGreaterThan(25);
    expect(cpu).toBeLessThan(65);
    expect(Number(match![4])).toBe(1);
    expect((await docker(["rm", "-f", "busy"])).code).toBe(0);
  });

  it("confinement: Docker's default capabilities, --cap-add/--cap-drop, --privileged, --user NAME, --read-only, --device, shown in inspect", async () => {
    const caps = (args: string[]) =>
      docker([
        "run",
        "--rm",
        ...args,
        busybox.reference,
        "sh",
        "-c",
        "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | cut -f2",
      ]);
    expect(lines((await caps([])).stdout)).toEqual(["00000000a80425fb", "1"]);
    expect(lines((await caps(["--cap-drop", "ALL", "--cap-add", "net_admin"])).stdout)[0]).toBe("0000000000001000");
    expect(lines((await caps(["--cap-drop", "chown", "--security-opt", "no-new-privileges=false"])).stdout)).toEqual([
      "00000000a80425fa",
      "0",
    ]);
    expect(lines((await caps(["--privileged"])).stdout)[0]).toBe("000001ffffffffff");
    const unknownCap = await docker(["run", "--rm", "--cap-add", "SYS_NOTHING", busybox.reference, "true"]);
    expect(unknownCap.code).toBe(125);
    expect(unknownCap.stderr).toContain('unknown capability: "CAP_SYS_NOTHING"');

    const nobody = await docker([
      "run",
      "--rm",
      "--user",
      "nobody",
      busybox.reference,
      "sh",
      "-c",
      "id -u; id -g; echo $HOME",
    ]);
    expect(lines(nobody.stdout)).toEqual(["65534", "65534", "/"]);
    const unknownUser = await docker(["run", "--rm", "--user", "nosuch", busybox.reference, "true"]);
    expect(unknownUser.code).toBe(125);
    expect(unknownUser.stderr).toContain("unable to find user nosuch: no matching entries in passwd file");

    const readOnly = await docker([
      "run",
      "--rm",
      "--read-only",
      busybox.reference,
      "sh",
      "-c",
      "touch /x || echo refused",
    ]);
    expect(readOnly.stdout).toBe("refused\n");
    expect(readOnly.stderr).toContain("Read-only file system");

    // A guest device made available by --device, readable only (the device program enforces the permissions).
    const device = await docker([
      ...["run", "--rm", "--device", "/dev/kmsg:/dev/guestlog:r", busybox.reference],
      ...[
        "sh",
        "-c",
        "ls -l /dev/guestlog | cut -c1; dd if=/dev/guestlog of=/dev/null bs=8192 count=1 2>/dev/null && echo read; echo x > /dev/guestlog || echo no-write",
      ],
    ]);
    expect(lines(device.stdout)).toEqual(["c", "read", "no-write"]);
    const missing = await docker(["run", "--rm", "--device", "/dev/nothing", busybox.reference, "true"]);
    // docker's client exits 127 for a daemon error that says "no such file or directory", as it does here.
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('error gathering device information while adding custom device "/dev/nothing"');

    const created = await docker([
      ...["create", "--name", "confined", "--cap-add", "SYS_TIME", "--cap-drop", "MKNOD", "--read-only"],
      ...["--security-opt", "no-new-privileges", "--device", "/dev/kmsg", "--user", "nobody", busybox.reference],
    ]);
    expect(created.code).toBe(0);
    const [inspected] = JSON.parse((await docker(["inspect", "confined"])).stdout);
    expect(inspected.HostConfig).toMatchObject({
      CapAdd: ["CAP_SYS_TIME"],
      CapDrop: ["CAP_MKNOD"],
      Privileged: false,
      ReadonlyRootfs: true,
      SecurityOpt: ["no-new-privileges"],
      Devices: [{ PathOnHost: "/dev/kmsg", PathInContainer: "/dev/kmsg", CgroupPermissions: "rwm" }],
    });
    expect(inspected.Config.User).toBe("nobody");
    expect((await docker(["rm", "confined"])).code).toBe(0);
    const unconfined = await docker([
      "create",
      "--name",
      "open",
      "--security-opt",
      "seccomp=unconfined",
      busybox.reference,
    ]);
    expect(unconfined.code).toBe(0);
    expect(JSON.parse((await docker(["inspect", "open"])).stdout)[0].HostConfig.SecurityOpt).toEqual([
      "seccomp=unconfined",
    ]);
    expect((await docker(["rm", "open"])).code).toBe(0);
    // The docker CLI reads a profile file and sends its JSON; Drydock has only the default profile and says so.
    const profile = join(tmpdir(), `drydock-seccomp-${process.pid}.json`);
    writeFileSync(profile, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW" }));
    const custom = await docker(["create", "--security-opt", `seccomp=${profile}`, busybox.reference]);
    rmSync(profile);
    expect(custom.code).not.toBe(0);
    expect(custom.stderr).toContain("Drydock does not load custom seccomp profiles");
    const privileged = await docker(["create", "--name", "wide", "--privileged", busybox.reference]);
    expect(privileged.code).toBe(0);
    expect(JSON.parse((await docker(["inspect", "wide"])).stdout)[0].HostConfig.Privileged).toBe(true);
    expect((await docker(["rm", "wide"])).code).toBe(0);
  });

  it("a client that leaves a followed log midway leaves the daemon serving", async () => {
    const started = await docker([
      ...["run", "-d", "--name", "chatty", busybox.reference],
      ...["sh", "-c", "while :; do echo tick; sleep 0.2; done"],
    ]);
    expect(started.code).toBe(0);
    const follower = spawn(DEBIAN_DOCKER, ["-H", `unix://${daemon.socketPath}`, "logs", "-f", "chatty"], {
      env: clientEnv(),
    });
    await new Promise<void>((resolve) => follower.stdout.once("data", () => resolve()));
    follower.kill("SIGKILL");
    // The container goes on printing to a follower whose client is gone: the daemon must not trip over it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const pull = await raw("POST", `/v1.43/images/create?fromImage=${encodeURIComponent(busybox.reference)}`);
    expect(pull.status).toBe(200);
    expect((await docker(["ps", "--format", "{{.Names}}"])).stdout).toContain("chatty");
    expect((await docker(["rm", "-f", "chatty"])).code).toBe(0);
  });

  it("forgets exec instances once their container is gone", async () => {
    expect((await docker(["run", "-d", "--name", "exec-a", busybox.reference, "sleep", "60"])).code).toBe(0);
    expect((await docker(["run", "-d", "--name", "exec-b", busybox.reference, "sleep", "60"])).code).toBe(0);
    const first = await raw("POST", "/v1.43/containers/exec-a/exec", JSON.stringify({ Cmd: ["true"] }));
    expect(first.status).toBe(201);
    const { Id } = JSON.parse(first.body) as { Id: string };
    expect((await raw("GET", `/v1.43/exec/${Id}/json`)).status).toBe(200);
    expect((await docker(["rm", "-f", "exec-a"])).code).toBe(0);
    expect((await raw("POST", "/v1.43/containers/exec-b/exec", JSON.stringify({ Cmd: ["true"] }))).status).toBe(201);
    const gone = await raw("GET", `/v1.43/exec/${Id}/json`);
    expect(gone.status).toBe(404);
    expect(gone.body).toContain(`No such exec instance: ${Id}`);
    expect((await docker(["rm", "-f", "exec-b"])).code).toBe(0);
  });

  it("diff lists what a container added, changed and deleted, from its writable layer", async () => {
    const clean = await docker(["run", "-d", "--name", "differ", busybox.reference, "sleep", "60"]);
    expect(clean.code).toBe(0);
    expect(await docker(["diff", "differ"])).toMatchObject({ code: 0, stdout: "" });
    const changed = await docker([
      ...["exec", "differ", "sh", "-c"],
      "mkdir -p /root/notes && echo hi > /root/notes/a.txt && rm /bin/ls && echo '# mine' >> /etc/profile",
    ]);
    expect(changed.code).toBe(0);
    const diff = await docker(["diff", "differ"]);
    expect(diff.code).toBe(0);
    expect(lines(diff.stdout)).toEqual([
      "C /bin",
      "D /bin/ls",
      // /etc is in the layer below (the init layer's mount points); the fixture image has no /etc/profile.
      "C /etc",
      "A /etc/profile",
      "C /root",
      "A /root/notes",
      "A /root/notes/a.txt",
    ]);
    // The image's layers are the container's lower layers: rmi refuses while the container exists, -f too.
    const refused = await docker(["rmi", busybox.reference]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/conflict: unable to remove repository reference .* is using its referenced image/);
    const forced = await docker(["rmi", "-f", busybox.reference]);
    expect(forced.code).toBe(1);
    expect(forced.stderr).toMatch(/\(cannot be forced\) - image is being used by running container [0-9a-f]{12}/);
    expect((await docker(["rm", "-f", "differ"])).code).toBe(0);
  });

  it("info has the guest's kernel, CPUs and memory; tag, system df and events", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const info = await docker(["info"]);
    expect(info.stdout).toMatch(/Kernel Version: 6\.1\.\d+/);
    expect(info.stdout).toMatch(/CPUs: 1$/m);
    expect(info.stdout).toMatch(/Total Memory: \d+(\.\d+)?MiB/);

    expect((await docker(["tag", busybox.reference, "mine:1"])).code).toBe(0);
    const images = await docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(lines(images.stdout).sort()).toEqual([busybox.reference, "mine:1"].sort());
    const badTag = await docker(["tag", busybox.reference, "Bad:Name"]);
    expect(badTag.code).not.toBe(0);

    const ran = await docker(["run", "--name", "evented", busybox.reference, "sh", "-c", "exit 2"]);
    expect(ran.code).toBe(2);
    expect((await docker(["rm", "evented"])).code).toBe(0);

    const df = await docker(["system", "df"]);
    expect(df.code).toBe(0);
    expect(df.stdout).toMatch(/^Images\s+1\s+0\s+[\d.]+[kM]B/m);
    expect(df.stdout).toMatch(/^Containers\s+0\s+0\s+0B/m);

    const until = Math.ceil(Date.now() / 1000) + 1;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const events = await docker(["events", "--since", String(since), "--until", String(until)]);
    expect(events.code).toBe(0);
    const ours = lines(events.stdout)
      .filter((line) => line.includes("name=evented") || line.includes("image tag"))
      .map((line) => line.split(" ").slice(1, 3).join(" "));
    expect(ours).toEqual([
      "image tag",
      "container create",
      "container attach",
      "container start",
      "container die",
      "container destroy",
    ]);
    expect(events.stdout).toMatch(/container die [0-9a-f]{64} \(exitCode=2, image=.*, name=evented\)/);
    expect((await docker(["rmi", "mine:1"])).stdout).toContain("Untagged: mine:1");
  });

  it("what Drydock cannot do is refused by name; a missing command exits 127", async () => {
    const unknownNetwork = await docker(["run", "-d", "--network", "nosuch", busybox.reference, "true"]);
    expect(unknownNetwork.code).toBe(125);
    expect(unknownNetwork.stderr).toContain("network nosuch not found");
    // --volumes-from works (test/integration/volumes.test.ts); a container that is not there is named.
    const volumesFrom = await docker(["run", "-d", "--volumes-from", "other", busybox.reference, "true"]);
    expect(volumesFrom.code).toBe(125);
    expect(volumesFrom.stderr).toMatch(/no such container: other/i);
    const missing = await docker(["run", "--rm", busybox.reference, "no-such-command"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('exec: "no-such-command": executable file not found in $PATH');
  });

  it("bad requests get Docker's status and message, and the daemon keeps serving", async () => {
    const notJson = await raw("POST", "/v1.43/containers/create", "{not json");
    expect(notJson.status).toBe(400);
    expect(JSON.parse(notJson.body).message).toMatch(/^the request body is not valid JSON/);
    const reference = await raw("POST", "/v1.43/containers/create", JSON.stringify({ Image: "Not/Valid" }));
    expect(reference.status).toBe(400);
    expect(JSON.parse(reference.body).message).toBe("invalid reference format: repository name must be lowercase");
    const unknown = await raw("GET", "/v1.43/containers/x/json");
    expect(unknown).toEqual({ status: 404, body: '{"message":"No such container: x"}\n' });
    const tooNew = await raw("GET", "/v9.99/containers/json");
    expect(tooNew.status).toBe(400);
    expect(JSON.parse(tooNew.body).message).toBe(
      "client version 9.99 is too new. Maximum supported API version is 1.43",
    );
    expect((await raw("GET", "/_ping")).body).toBe("OK");
  });
});

describe("hijacked attach through the API app", () => {
  it("attach before start delivers output from the start; closing stdin (StdinOnce) ends the reader's input", async () => {
    const app = createApiApp({ images, containers });
    const post = (path: string, body?: unknown, init: RequestInit = {}) =>
      app.fetch(
        new Request(`http://docker/v1.43${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          ...init,
        }),
      );
    const createdAnswer = await post("/containers/create", {
      Image: busybox.reference,
      Cmd: ["sh", "-c", "echo ready; wc -l; echo oops >&2"],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
    });
    expect(createdAnswer.status).toBe(201);
    const { Id } = (await createdAnswer.json()) as { Id: string };
    let typing!: ReadableStreamDefaultController<Uint8Array>;
    const stdin = new ReadableStream<Uint8Array>({
      start: (controller) => {
        typing = controller;
      },
    });
    const attached = await post(`/containers/${Id}/attach?stream=1&stdin=1&stdout=1&stderr=1`, undefined, {
      body: stdin,
      duplex: "half",
    } as RequestInit);
    expect(attached.status).toBe(200);
    expect(attached.headers.get("content-type")).toBe("application/vnd.docker.multiplexed-stream");
    expect((await post(`/containers/${Id}/start`)).status).toBe(204);
    typing.enqueue(new TextEncoder().encode("a\nb\nc\n"));
    typing.close();
    const parser = new FrameParser();
    const frames = parser.push(new Uint8Array(await attached.arrayBuffer()));
    expect(parser.leftover).toBe(0);
    const text = (stream: string) =>
      frames
        .filter((f) => f.stream === stream)
        .map((f) => new TextDecoder().decode(f.payload))
        .join("");
    expect(text("stdout")).toBe("ready\n3\n");
    expect(text("stderr")).toBe("oops\n");
    expect((await containers.waitFor(Id)).code).toBe(0);
    await containers.remove(Id);
  });
  it("a slow attached client slows the container down and loses none of its output", async () => {
    const app = createApiApp({ images, containers });
    const post = (path: string, body?: unknown) =>
      app.fetch(
        new Request(`http://docker/v1.43${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
      );
    await images.pull(busybox.reference);
    // 3 MB as fast as the guest can write them: more than the container's kept log (1 MiB), so only waiting for the
    // client keeps them all.
    const size = 3_000_000;
    const created = await post("/containers/create", {
      Image: busybox.reference,
      Cmd: ["busybox", "head", "-c", String(size), "/dev/zero"],
    });
    const { Id } = (await created.json()) as { Id: string };
    const attached = await post(`/containers/${Id}/attach?stream=1&stdout=1&stderr=1`);
    expect((await post(`/containers/${Id}/start`)).status).toBe(204);
    // The client reads nothing. What the container has written so far (its kept log) stops growing well below the
    // 1 MiB the log keeps, and it keeps running: it waits for the client. (Without that wait it would run to its end,
    // and the log would drop what the client had not read.)
    const written = async () => {
      let bytes = 0;
      const entries = containers.logs(Id).getReader();
      for (let next = await entries.read(); !next.done; next = await entries.read()) bytes += next.value.data.length;
      return bytes;
    };
    let last = -1;
    for (let steady = 0; steady < 3; ) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const now = await written();
      steady = now === last && now > 0 ? steady + 1 : 0;
      last = now;
      if (now >= 1024 * 1024 || containers.inspect(Id).status !== "running") break;
    }
    expect(containers.inspect(Id).status).toBe("running");
    expect(last).toBeLessThan(1024 * 1024);
    const parser = new FrameParser();
    let received = 0;
    const reader = attached.body!.getReader();
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      for (const frame of parser.push(next.value)) received += frame.payload.length;
    }
    expect(received).toBe(size);
    expect((await containers.waitFor(Id)).code).toBe(0);
    await containers.remove(Id);
  });
});
