// Several nodes in one daemon, with the real docker CLI: three guests restored from the same saved state, joined by
// the engine's Ethernet switch, each served on its own socket with its own name. Each node's containers take their
// addresses from its own block (10.k.0.0/16) and the nodes route the blocks to each other, so a plain container on
// node 1 (the default bridge, no NAT: the guest kernel has none) pings a container on node 2 by its 10.2.x.x address
// and fetches a page from a container published with -p on node 3, through node 3's address. With --allow-bind, each
// node offers the same host directory: what a container on node 2 writes there is the host's file, and node 3's
// containers read it.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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
  await mkdir(join(dir, "shared"));
  images = await openNodeImageService(join(dir, "root"));
  served = await startNodeDaemons({
    count: 3,
    host: `unix://${join(dir, "docker.sock")}`,
    images,
    root: join(dir, "root"),
    allowBind: [join(dir, "shared")],
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

  it("docker context create/use/ls/rm and DOCKER_HOST pick which node a command talks to, as with Docker Machine", async () => {
    // No -H: the CLI's own current context (kept in its config dir) decides.
    const cli = (args: string[], env: Record<string, string> = {}) => runDocker({ host: "", home: dir, env }, args);
    for (const index of [2, 3]) {
      const created = await cli([
        "context",
        "create",
        `node${index}`,
        "--docker",
        `host=unix://${served.nodes[index - 1]!.daemon.socketPath}`,
      ]);
      expect(created.code, created.stderr).toBe(0);
    }
    expect((await cli(["context", "use", "node3"])).code).toBe(0);
    expect((await cli(["info", "--format", "{{.Name}}"])).stdout.trim()).toBe("node3");
    const listed = await cli(["context", "ls", "--format", "{{.Name}}{{if .Current}} *{{end}}"]);
    expect(listed.stdout.split("\n").filter(Boolean).sort()).toEqual(["default", "node2", "node3 *"]);
    // --context and DOCKER_HOST win over the current context, as docker's docs say.
    expect((await cli(["--context", "node2", "info", "--format", "{{.Name}}"])).stdout.trim()).toBe("node2");
    const byEnv = await cli(["info", "--format", "{{.Name}}"], {
      DOCKER_HOST: `unix://${served.nodes[0]!.daemon.socketPath}`,
    });
    expect(byEnv.stdout.trim()).toBe("node1");
    expect((await cli(["context", "use", "default"])).code).toBe(0);
    expect((await cli(["context", "rm", "node2", "node3"])).code).toBe(0);
  });

  it("gives each node's default bridge its own block: 10.1.0.0/24, 10.2.0.0/24, 10.3.0.0/24", async () => {
    const subnets = await Promise.all(
      [1, 2, 3].map((index) =>
        docker(index, ["network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}"]),
      ),
    );
    for (const subnet of subnets) expect(subnet.code, subnet.stderr).toBe(0);
    expect(subnets.map((subnet) => subnet.stdout.trim())).toEqual(["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"]);
  });

  it("a plain container on node 1 pings a container on node 2 by its address and fetches a page published with -p on node 3", async () => {
    const target = await docker(2, ["run", "-d", "--name", "target", busybox.reference, "sleep", "600"]);
    expect(target.code, target.stderr).toBe(0);
    const inspected = await docker(2, ["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "target"]);
    expect(inspected.code, inspected.stderr).toBe(0);
    const address = inspected.stdout.trim();
    expect(address).toMatch(/^10\.2\.0\.\d+$/);

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
    // Each container runs on its own node only.
    expect((await docker(1, ["ps", "-q", "--filter", "name=web"])).stdout).toBe("");
    expect((await docker(1, ["ps", "-q", "--filter", "name=target"])).stdout).toBe("");

    // Default bridge on node 1 (no --network): its own address is node 1's, the replies come from node 2's container.
    const ping = await docker(1, [
      "run",
      "--rm",
      busybox.reference,
      "sh",
      "-c",
      `busybox ip -4 addr show eth0 && busybox ping -c 2 -W 5 ${address}`,
    ]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/inet 10\.1\.0\.\d+\/24/);
    expect(ping.stdout).toContain(`bytes from ${address}:`);
    expect(ping.stdout).toMatch(/2 packets transmitted, 2 packets received/);

    const fetched = await docker(1, [
      "run",
      "--rm",
      busybox.reference,
      "sh",
      "-c",
      "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://192.168.86.103:18093/ && exit 0; sleep 1; done; exit 1",
    ]);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(fetched.stdout).toBe("served-by-node3\n");
    // Node 2's guest has no such server: the page came from node 3.
    const wrong = await docker(1, ["run", "--rm", busybox.reference, "wget", "-qO-", "http://192.168.86.102:18093/"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("Connection refused");
    expect((await docker(3, ["rm", "-f", "web"])).code).toBe(0);
    expect((await docker(2, ["rm", "-f", "target"])).code).toBe(0);
  });

  it("--allow-bind with --nodes: a container on node 2 writes a host directory, the host and node 3 read it", async () => {
    const shared = join(dir, "shared");
    await writeFile(join(shared, "from-host.txt"), "from the host\n");
    const wrote = await docker(2, [
      "run",
      "--rm",
      "-v",
      `${shared}:/shared`,
      busybox.reference,
      "sh",
      "-c",
      "cat /shared/from-host.txt && hostname > /shared/from-node2.txt",
    ]);
    expect(wrote).toMatchObject({ code: 0, stdout: "from the host\n" });
    const written = await readFile(join(shared, "from-node2.txt"), "utf8");
    expect(written).toMatch(/^[0-9a-f]{12}\n$/);
    const read = await docker(3, [
      "run",
      "--rm",
      "-v",
      `${shared}:/shared:ro`,
      busybox.reference,
      "cat",
      "/shared/from-node2.txt",
    ]);
    expect(read).toMatchObject({ code: 0, stdout: written });
    // Outside the allowed directory: refused on every node, naming the option.
    const refused = await docker(3, ["run", "--rm", "-v", `${dir}:/d`, busybox.reference, "true"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--allow-bind/);
  });
});
