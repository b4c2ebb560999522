// Several nodes in one daemon, with the real docker CLI: three guests restored from the same saved state, joined by
// the engine's Ethernet switch, each served on its own socket with its own name; a container on node 1 (in the guest's
// network, --network host: the guests have no NAT, see ARCHITECTURE.md) pings node 2's guest and fetches a page from
// a container published with -p on node 3, through node 3's address.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageService } from "../../engine/index.ts";
import { openNodeImageService } from "../../engine/node/index.ts";
import { type NodeDaemons, startNodeDaemons } from "../../engine/node/nodes.ts";
import { DEBIAN_DOCKER, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let images: ImageService;
let served: NodeDaemons;
const reports: string[] = [];

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-nodes-"));
  images = await openNodeImageService(join(dir, "root"));
  served = await startNodeDaemons({
    count: 3,
    host: `unix://${join(dir, "docker.sock")}`,
    images,
    root: join(dir, "root"),
    onPublishError: (message) => reports.push(message),
  });
  await images.pull(busybox.reference);
}, 180_000);

afterAll(async () => {
  await served?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The docker CLI against node `index` (1-based). */
function docker(index: number, args: string[]): Promise<Outcome> {
  return runDocker({ host: `unix://${served.nodes[index - 1]!.daemon.socketPath}`, home: dir }, args);
}

describe("three nodes on one switch", () => {
  it("serves each node on its own socket, and docker info names each differently", async () => {
    expect(served.nodes.map((node) => node.daemon.socketPath)).toEqual([
      join(dir, "docker.sock"),
      join(dir, "docker.sock.node2"),
      join(dir, "docker.sock.node3"),
    ]);
    const infos = await Promise.all([1, 2, 3].map((index) => docker(index, ["info", "--format", "{{.Name}} {{.ID}}"])));
    for (const info of infos) expect(info.code, info.stderr).toBe(0);
    const names = infos.map((info) => info.stdout.trim().split(" ")[0]);
    const ids = infos.map((info) => info.stdout.trim().split(" ")[1]);
    expect(names).toEqual(["node1", "node2", "node3"]);
    expect(new Set(ids).size).toBe(3);
  });

  it("a --network host container on node 1 pings node 2's guest and fetches a page published with -p on node 3", async () => {
    const web = await docker(3, [
      "run",
      "-d",
      "--name",
      "web",
      "-p",
      "18093:80",
      busybox.reference,
      "sh",
      "-c",
      "mkdir -p /www && echo served-by-node3 > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    expect(web.code, web.stderr).toBe(0);
    // The container runs on node 3 only.
    expect((await docker(1, ["ps", "-q", "--filter", "name=web"])).stdout).toBe("");

    const ping = await docker(1, [
      "run",
      "--rm",
      "--network",
      "host",
      busybox.reference,
      "busybox",
      "ping",
      "-c",
      "2",
      "-W",
      "5",
      "192.168.86.102",
    ]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/2 packets transmitted, 2 packets received/);

    const fetched = await docker(1, [
      "run",
      "--rm",
      "--network",
      "host",
      busybox.reference,
      "sh",
      "-c",
      "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://192.168.86.103:18093/ && exit 0; sleep 1; done; exit 1",
    ]);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(fetched.stdout).toBe("served-by-node3\n");
    // Node 2's guest has no such server: the page came from node 3.
    const wrong = await docker(1, [
      "run",
      "--rm",
      "--network",
      "host",
      busybox.reference,
      "wget",
      "-qO-",
      "http://192.168.86.102:18093/",
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("Connection refused");
    expect((await docker(3, ["rm", "-f", "web"])).code).toBe(0);
  });
});
