// What `docker images` and `docker ps` list, and the fields they print, as the real docker client sees them from the
// Node daemon: image filters (a name, reference globs, dangling, label, before/since), container filters (label,
// before/since, exited, status, ancestor by name and by ID, dockerd's 400 for unknown keys), and the fields that used
// to be fixed: Labels and Ports in ps, ps -s sizes, GraphDriver paths, ExecIDs, top's C column, stats' block I/O.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type Drydock, type ImageService } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let layers: SeededImage;
let dir: string;
let images: ImageService;
let drydock: Drydock;
let containers: ContainerService;
let daemon: Daemon;

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox, layers } = await seedRegistry(registry, ["busybox", "layers"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-filters-"));
  images = await openNodeImageService(join(dir, "root"));
  drydock = await bootDrydock();
  containers = ContainerService.open(drydock, images);
  daemon = await startDaemon({ host: `unix://${join(dir, "docker.sock")}`, images, containers });
  for (const image of [busybox, layers]) expect((await docker(["pull", image.reference])).code).toBe(0);
});

afterAll(async () => {
  await daemon?.close();
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function docker(args: string[]): Promise<Outcome> {
  return runDocker({ host: `unix://${daemon.socketPath}`, home: dir }, args);
}

/** The output's lines, without the trailing newline. */
const lines = (text: string) => text.replace(/\r/g, "").trim().split("\n").filter(Boolean);

/** `docker ps`/`images` with a Go template, one line per item. */
async function listed(args: string[]): Promise<string[]> {
  const outcome = await docker(args);
  expect(outcome.stderr).toBe("");
  expect(outcome.code).toBe(0);
  return lines(outcome.stdout);
}

describe("docker images honours its filters", () => {
  it("a name lists only that repository; a glob or a reference filter too", async () => {
    const all = await listed(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(all.sort()).toEqual([busybox.reference, layers.reference].sort());
    expect(await listed(["images", "--format", "{{.Repository}}", `${registry.host}/busybox`])).toEqual([
      `${registry.host}/busybox`,
    ]);
    expect(await listed(["images", "--format", "{{.Repository}}", `${registry.host}/busybox:latest`])).toHaveLength(1);
    expect(await listed(["images", "-q", `${registry.host}/busybox:nosuchtag`])).toEqual([]);
    expect(
      await listed(["images", "--format", "{{.Repository}}", "--filter", `reference=${registry.host}/lay*`]),
    ).toEqual([`${registry.host}/layers`]);
    // A second name for busybox: the image lists once, under the names that match.
    expect((await docker(["tag", busybox.reference, "mine/box:1"])).code).toBe(0);
    expect(await listed(["images", "--format", "{{.Repository}}:{{.Tag}}", "mine/*"])).toEqual(["mine/box:1"]);
    expect((await docker(["rmi", "mine/box:1"])).code).toBe(0);
  });

  it("dangling, label, before and since", async () => {
    // Every pulled image has a name: none dangles.
    expect(await listed(["images", "-q", "--filter", "dangling=true"])).toEqual([]);
    expect(await listed(["images", "-q", "--filter", "dangling=false"])).toHaveLength(2);
    // The fixtures carry no labels.
    expect(await listed(["images", "-q", "--filter", "label=org.example.tier"])).toEqual([]);
    const created = new Map<string, number>();
    for (const image of [busybox, layers]) {
      const out = await docker(["image", "inspect", "--format", "{{.Created}}", image.reference]);
      created.set(image.reference, Date.parse(out.stdout.trim()));
    }
    const [older, newer] = [busybox.reference, layers.reference].sort((a, b) => created.get(a)! - created.get(b)!) as [
      string,
      string,
    ];
    const since = await listed(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", `since=${older}`]);
    const before = await listed(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", `before=${newer}`]);
    if (created.get(older) === created.get(newer)) {
      expect(since).toEqual([]);
      expect(before).toEqual([]);
    } else {
      expect(since).toEqual([newer]);
      expect(before).toEqual([older]);
    }
    const unknown = await docker(["images", "--filter", "before=nosuch:1"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("No such image: nosuch:1");
  });

  it("an unknown key or a bad dangling value gets dockerd's 400", async () => {
    const key = await docker(["images", "--filter", "colour=red"]);
    expect(key.code).toBe(1);
    expect(key.stderr).toContain("Error response from daemon: invalid filter 'colour'");
    const value = await docker(["images", "--filter", "dangling=maybe"]);
    expect(value.stderr).toContain("invalid filter 'dangling=[maybe]'");
  });
});

describe("docker ps honours its filters and prints real fields", () => {
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const run = async (name: string, args: string[]) => {
      const out = await docker(["run", "-d", "--name", name, ...args]);
      expect(out.stderr).toBe("");
      ids[name] = out.stdout.trim();
    };
    await run("f-one", ["--label", "tier=web", "--label", "team=a", busybox.reference, "true"]);
    await run("f-two", ["--label", "tier=db", busybox.reference, "sh", "-c", "exit 3"]);
    await run("f-three", ["--expose", "8080", "--label", "tier=web", busybox.reference, "sleep", "600"]);
    for (const name of ["f-one", "f-two"]) await docker(["wait", name]);
    // The layers image has no shell: created only.
    expect((await docker(["create", "--name", "f-four", layers.reference, "/data/run.sh"])).code).toBe(0);
  });

  afterAll(async () => {
    await docker(["rm", "-f", "f-one", "f-two", "f-three", "f-four"]);
  });

  const names = (args: string[]) => listed(["ps", "--format", "{{.Names}}", ...args]);

  it("label, status, exited, before, since and ancestor (by name and by image ID)", async () => {
    expect(await names(["-a", "--filter", "label=tier=web"])).toEqual(["f-three", "f-one"]);
    expect(await names(["-a", "--filter", "label=tier", "--filter", "label=team=a"])).toEqual(["f-one"]);
    expect(await names(["--filter", "status=exited"])).toEqual(["f-two", "f-one"]);
    expect(await names(["--filter", "status=running"])).toEqual(["f-three"]);
    expect(await names(["--filter", "status=created"])).toEqual(["f-four"]);
    expect(await names(["-a", "--filter", "exited=3"])).toEqual(["f-two"]);
    expect(await names(["-a", "--filter", "exited=0"])).toEqual(["f-one"]);
    expect(await names(["--filter", "before=f-three"])).toEqual(["f-two", "f-one"]);
    expect(await names(["--filter", "since=f-one"])).toEqual(["f-four", "f-three", "f-two"]);
    expect(await names(["-a", "--filter", `ancestor=${layers.reference}`])).toEqual(["f-four"]);
    const id = (await docker(["image", "inspect", "--format", "{{.Id}}", busybox.reference])).stdout.trim();
    expect(await names(["-a", "--filter", `ancestor=${id}`])).toEqual(["f-three", "f-two", "f-one"]);
    expect(await names(["-a", "--filter", `ancestor=${id.slice(7, 19)}`])).toEqual(["f-three", "f-two", "f-one"]);
    expect(await names(["-a", "--filter", "ancestor=nosuch"])).toEqual([]);
    expect(await names(["-a", "--filter", "expose=8080"])).toEqual(["f-three"]);
  });

  it("unknown keys and values are refused with dockerd's 400", async () => {
    const key = await docker(["ps", "--filter", "colour=red"]);
    expect(key.code).toBe(1);
    expect(key.stderr).toContain("Error response from daemon: invalid filter 'colour'");
    const status = await docker(["ps", "--filter", "status=sleeping"]);
    expect(status.stderr).toContain("invalid filter 'status=[sleeping]'");
    const before = await docker(["ps", "--filter", "before=nosuch"]);
    expect(before.stderr).toContain("No such container: nosuch");
  });

  it("ps shows Labels and Ports, ps -s the writable layer's size", async () => {
    const [row] = await listed(["ps", "--filter", "name=f-three", "--format", '{{.Ports}}|{{.Label "tier"}}']);
    expect(row).toBe("8080/tcp|web");
    expect((await docker(["exec", "f-three", "sh", "-c", "head -c 100000 /dev/zero > /big"])).code).toBe(0);
    const [size] = await listed(["ps", "-s", "--filter", "name=f-three", "--format", "{{.Size}}"]);
    // 100 kB written; the virtual size adds the image's.
    expect(size).toMatch(/^1\d\dkB \(virtual [\d.]+[kM]B\)$/);
  });

  it("inspect has GraphDriver's real paths, ExecIDs while an exec runs", async () => {
    const inspect = async () => {
      const out = await docker(["inspect", "f-three"]);
      return JSON.parse(out.stdout)[0] as {
        GraphDriver: { Data: Record<string, string> };
        ExecIDs: string[] | null;
        Config: { Labels: Record<string, string>; ExposedPorts: Record<string, unknown> };
      };
    };
    const { GraphDriver, Config } = await inspect();
    expect(Config.Labels).toEqual({ tier: "web" });
    expect(Object.keys(Config.ExposedPorts)).toEqual(["8080/tcp"]);
    const data = GraphDriver.Data;
    expect(data.LowerDir!.split(":").length).toBeGreaterThanOrEqual(2);
    // Each path is where the guest has it: the merged dir shows the container's /big, the upper dir holds it.
    const guest = (argv: string[]) => drydock.agent.run(argv);
    expect((await guest(["/bin/busybox", "ls", `${data.MergedDir}/big`])).code).toBe(0);
    expect((await guest(["/bin/busybox", "ls", `${data.UpperDir}/big`])).code).toBe(0);
    expect((await guest(["/bin/busybox", "test", "-d", data.WorkDir!])).code).toBe(0);
    for (const lower of data.LowerDir!.split(":")) {
      expect((await guest(["/bin/busybox", "test", "-d", lower])).code).toBe(0);
    }
    expect((await inspect()).ExecIDs).toBeNull();
    const exec = runDocker({ host: `unix://${daemon.socketPath}`, home: dir }, ["exec", "f-three", "sleep", "3"]);
    let seen: string[] | null = null;
    for (let i = 0; i < 50 && !seen; i++) {
      seen = (await inspect()).ExecIDs;
      if (!seen) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(seen).toHaveLength(1);
    expect(seen![0]).toMatch(/^[0-9a-f]{64}$/);
    expect((await exec).code).toBe(0);
    expect((await inspect()).ExecIDs).toBeNull();
  });

  it("top's C column is the process's CPU share; stats says what block I/O the guest has", async () => {
    const busy = await docker(["run", "-d", "--name", "f-busy", busybox.reference, "sh", "-c", "while :; do :; done"]);
    expect(busy.code).toBe(0);
    try {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const top = lines((await docker(["top", "f-busy"])).stdout);
      const c = Number(top[1]!.trim().split(/\s+/)[3]);
      // A busy loop alone in a one-CPU guest uses most of it (the engine's own requests take some).
      expect(c).toBeGreaterThan(30);
      const sleeper = lines((await docker(["top", "f-three"])).stdout)[1]!
        .trim()
        .split(/\s+/);
      // sleep used CPU only to start (the agent sets its container up in that process before the exec).
      expect(Number(sleeper[3])).toBeLessThan(c);
      expect(Number(sleeper[3])).toBeLessThan(20);
      const stats = await docker(["stats", "--no-stream", "--format", "{{.BlockIO}}", "f-busy"]);
      // The guest's kernel has no block layer (no disks, no io controller): nothing to count, as dockerd shows it.
      const controllers = new TextDecoder().decode(await drydock.agent.readFile("/sys/fs/cgroup/cgroup.controllers"));
      if (!controllers.split(/\s+/).includes("io")) expect(stats.stdout.trim()).toBe("0B / 0B");
      else expect(stats.stdout.trim()).toMatch(/^\S+ \/ \S+$/);
    } finally {
      await docker(["rm", "-f", "f-busy"]);
    }
  });
});
