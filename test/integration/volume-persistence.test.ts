// Volumes outlive the guest and the daemon: their files are kept in the daemon's data root and reach the guest over
// the 9P share. A file written into a volume by one container is read by another after the daemon (and its guest)
// restarted on the same data root; `docker volume rm` deletes the data on disk.
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type Drydock, VolumeTree } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, FsVolumeDataStore, openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let running: { drydock: Drydock; daemon: Daemon; tree: VolumeTree } | undefined;

/** What `drydock daemon --data-root <dir>/root` does: images and volumes from the data root, a guest, the API. */
async function startDrydockDaemon() {
  const root = join(dir, "root");
  const images = await openNodeImageService(root);
  const tree = await VolumeTree.open(new FsVolumeDataStore(join(root, "volumes")));
  const drydock = await bootDrydock();
  const containers = ContainerService.open(drydock, images, { volumes: tree });
  const daemon = await startDaemon({ host: `unix://${join(dir, "docker.sock")}`, images, containers });
  running = { drydock, daemon, tree };
}

async function stopDrydockDaemon() {
  if (!running) return;
  await running.daemon.close();
  await running.drydock.dispose();
  await running.tree.close();
  running = undefined;
}

function docker(args: string[]): Promise<Outcome> {
  return runDocker({ host: `unix://${join(dir, "docker.sock")}`, home: dir }, args);
}

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-volume-persist-"));
  await startDrydockDaemon();
  expect((await docker(["pull", busybox.reference])).code).toBe(0);
});

afterAll(async () => {
  await stopDrydockDaemon();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a volume across a daemon restart", () => {
  it("is listed again with its labels, and another container reads the files the first one wrote", async () => {
    expect((await docker(["volume", "create", "--label", "lesson=9", "work"])).code).toBe(0);
    const write = await docker([
      "run",
      "--rm",
      "-v",
      "work:/work",
      busybox.reference,
      "sh",
      "-c",
      "mkdir -p /work/src && seq 1 20000 > /work/src/numbers && ln -s numbers /work/src/link && cd /work && sha256sum src/numbers > sums && chmod 600 sums",
    ]);
    expect(write).toMatchObject({ code: 0, stderr: "" });

    await stopDrydockDaemon();
    await startDrydockDaemon();

    const listed = await docker(["volume", "ls", "--format", "{{.Name}} {{.Labels}}"]);
    expect(listed.stdout).toBe("work lesson=9\n");
    const read = await docker([
      "run",
      "--rm",
      "-v",
      "work:/work:ro",
      busybox.reference,
      "sh",
      "-c",
      "cd /work && sha256sum -c sums && stat -c '%a %s' sums && readlink src/link && tail -n1 src/link",
    ]);
    expect(read).toMatchObject({ code: 0, stderr: "" });
    expect(read.stdout).toBe("src/numbers: OK\n600 78\nnumbers\n20000\n");

    // `docker system df` counts it (seq 1 20000 is 108 894 bytes, the sums 78), used by no container now.
    const df = await docker(["system", "df"]);
    expect(df.stdout).toMatch(/^Local Volumes\s+1\s+0\s+109kB\s/m);
    const bad = await docker(["volume", "ls", "--filter", "colour=red"]);
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining("invalid filter 'colour'") });
  });

  it("deletes the volume's data from the data root with docker volume rm", async () => {
    const volumesDir = join(dir, "root", "volumes");
    expect(await readdir(volumesDir)).toContain("work");
    expect((await docker(["volume", "rm", "work"])).code).toBe(0);
    await running?.tree.save();
    expect(await readdir(volumesDir)).not.toContain("work");
    expect((await docker(["volume", "ls", "-q"])).stdout).toBe("");
  });
});
