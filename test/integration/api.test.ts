// The Engine API served on a unix socket by engine/node/daemon.ts, driven by the real `docker` client from Debian's
// docker.io (and a newer one where the machine has it): version negotiation, info, pull from the fixture registry,
// images, inspect, rmi, ps -a over a real container, and Docker's messages for a too-new API and an unknown image.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type Drydock, type ImageService } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

/** Debian's client (API 1.41) first; then a newer one if installed. */
const DEBIAN_DOCKER = "/usr/bin/docker";
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

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the docker client against the daemon; never throws on a non-zero exit. */
async function docker(
  args: string[],
  options: { client?: string; env?: Record<string, string> } = {},
): Promise<Outcome> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    DOCKER_CONFIG: join(dir, "config"),
  };
  try {
    const { stdout, stderr } = await promisify(execFile)(
      options.client ?? DEBIAN_DOCKER,
      ["-H", `unix://${daemon.socketPath}`, ...args],
      { env: { ...env, ...options.env }, timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw error;
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
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
