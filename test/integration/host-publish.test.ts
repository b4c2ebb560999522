// Host publishing from the Node daemon, as Docker Desktop does it, with the real docker CLI: `docker run -d -p
// 18080:80 …` answers on the host's 127.0.0.1:18080 (an HTTP GET from this test), stops answering when the container
// is removed, and a host port already taken is reported with Docker's words.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type Drydock, type ImageService } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let images: ImageService;
let drydock: Drydock;
let daemon: Daemon;
let host: string;
const reports: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-publish-"));
  images = await openNodeImageService(join(dir, "root"));
  drydock = await bootDrydock();
  const containers = ContainerService.open(drydock, images);
  host = `unix://${join(dir, "docker.sock")}`;
  daemon = await startDaemon({ host, images, containers, onPublishError: (message) => reports.push(message) });
  await images.pull(busybox.reference);
});

afterAll(async () => {
  await daemon?.close();
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const docker = (args: string[]) => runDocker({ host, home: dir }, args);
const SERVE = "mkdir -p /www && echo published-on-the-host > /www/index.html && exec httpd -f -p 80 -h /www";

describe("published ports on the host's 127.0.0.1", () => {
  it("docker run -d -p 18080:80 answers an HTTP GET on 127.0.0.1:18080, until the container is removed", async () => {
    const started = await docker([
      "run",
      "-d",
      "--name",
      "web",
      "-p",
      "18080:80",
      busybox.reference,
      "sh",
      "-c",
      SERVE,
    ]);
    expect(started.code, started.stderr).toBe(0);
    await expect
      .poll(
        async () =>
          (
            await fetch("http://127.0.0.1:18080/")
              .then((r) => r.text())
              .catch(() => "")
          ).trim(),
        {
          timeout: 30_000,
          interval: 500,
        },
      )
      .toBe("published-on-the-host");
    const response = await fetch("http://127.0.0.1:18080/missing");
    expect(response.status).toBe(404);
    expect((await docker(["rm", "-f", "web"])).code).toBe(0);
    await expect
      .poll(
        async () =>
          fetch("http://127.0.0.1:18080/").then(
            () => "answered",
            () => "refused",
          ),
        { timeout: 15_000 },
      )
      .toBe("refused");
  });

  it("says a host port already taken is already allocated, and the container still runs in the guest", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(18081, "127.0.0.1", resolve));
    try {
      const started = await docker([
        "run",
        "-d",
        "--name",
        "web2",
        "-p",
        "18081:80",
        busybox.reference,
        "sh",
        "-c",
        SERVE,
      ]);
      expect(started.code, started.stderr).toBe(0);
      await expect
        .poll(() => reports.join("\n"), { timeout: 15_000 })
        .toContain("Bind for 127.0.0.1:18081 failed: port is already allocated");
      expect(reports.join("\n")).toContain("container web2");
    } finally {
      taken.close();
      await docker(["rm", "-f", "web2"]);
    }
  });
});
