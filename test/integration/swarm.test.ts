// A swarm over three nodes of one daemon, driven by the real docker CLI against each node's socket: init on node 1,
// two joins with the token it prints, node ls and update; a 3-replica service with -p 8080:80 spread one task per
// node, its port answering on every node's address (the routing mesh: a node without a task forwards to another
// node's), scale up and down, a rolling update of the image, two services finding each other by name on an overlay
// network (a VXLAN segment across the nodes' guests, whose counters show the tunnel carried the answers), and a
// node's guest stopped: its task comes back on the others.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageService } from "../../engine/index.ts";
import { openNodeImageService } from "../../engine/node/index.ts";
import { type NodeDaemons, startNodeDaemons } from "../../engine/node/nodes.ts";
import { DEBIAN_DOCKER, dockerClientEnv, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let images: ImageService;
let served: NodeDaemons;

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-swarm-"));
  images = await openNodeImageService(join(dir, "root"));
  served = await startNodeDaemons({
    count: 3,
    host: `unix://${join(dir, "docker.sock")}`,
    images,
    root: join(dir, "root"),
  });
  await images.pull(busybox.reference);
}, 180_000);

afterAll(async () => {
  await served?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The docker CLI against node `index` (1-based), as a context pointing at it would. */
function docker(index: number, args: string[]): Promise<Outcome> {
  return runDocker({ host: socketOf(index), home: dir }, args);
}

function socketOf(index: number): string {
  return `unix://${served.nodes[index - 1]!.daemon.socketPath}`;
}

async function ok(index: number, args: string[]): Promise<string> {
  const outcome = await docker(index, args);
  expect(outcome.code, `docker ${args.join(" ")}: ${outcome.stderr}`).toBe(0);
  return outcome.stdout;
}

/** Asks again (at most `tries` times, a second apart) until `check` holds for the answer; returns the last answer. */
async function until<T>(ask: () => Promise<T>, check: (value: T) => boolean, tries = 60): Promise<T> {
  let value = await ask();
  for (let i = 1; i < tries && !check(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    value = await ask();
  }
  return value;
}

const lines = (text: string) => text.split("\n").filter(Boolean);

/** `service ps` rows of the tasks meant to run: "node state image". */
async function runningTasks(service: string): Promise<string[]> {
  const out = await ok(1, [
    "service",
    "ps",
    service,
    "--filter",
    "desired-state=running",
    "--format",
    "{{.Node}} {{.CurrentState}} {{.Image}}",
  ]);
  return lines(out);
}

/** A page fetched with wget from a throwaway container on node `from`, retried while the mesh comes up. */
async function fetchFrom(from: number, url: string): Promise<Outcome> {
  return docker(from, [
    "run",
    "--rm",
    busybox.reference,
    "sh",
    "-c",
    `for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- ${url} && exit 0; sleep 1; done; exit 1`,
  ]);
}

/** The bytes node `index`'s VXLAN device `device` has received and sent (its counters, read in the guest). */
async function tunnelBytes(index: number, device: string): Promise<{ rx: number; tx: number }> {
  const agent = served.nodes[index - 1]!.supervisor.containers.drydock.agent;
  const statistics = `/sys/class/net/${device}/statistics`;
  const { code, stdout, stderr } = await agent.run(["cat", `${statistics}/rx_bytes`, `${statistics}/tx_bytes`]);
  expect(code, stderr).toBe(0);
  const [rx, tx] = stdout.trim().split("\n").map(Number);
  return { rx: rx!, tx: tx! };
}

const WEB = ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"];

describe("a swarm of three nodes, with the real docker CLI", () => {
  it("swarm init on node 1, two joins with its token; node ls shows three Ready nodes", async () => {
    const early = await docker(1, ["node", "ls"]);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join"');

    const init = await ok(1, ["swarm", "init"]);
    expect(init).toMatch(/Swarm initialized: current node \([a-z0-9]{25}\) is now a manager\./);
    expect(init).toMatch(/docker swarm join --token SWMTKN-1-[a-z0-9]{50}-[a-z0-9]{25} 192\.168\.86\.101:2377/);
    const token = (await ok(1, ["swarm", "join-token", "-q", "worker"])).trim();
    expect(init).toContain(token);

    const again = await docker(1, ["swarm", "init"]);
    expect(again.stderr).toContain("This node is already part of a swarm.");
    const wrong = await docker(2, ["swarm", "join", "--token", `${token.slice(0, -3)}xyz`, "192.168.86.101:2377"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("A valid join token is necessary to join this cluster");
    const nowhere = await docker(2, ["swarm", "join", "--token", token, "192.168.86.102:2377"]);
    expect(nowhere.stderr).toContain("could not reach a swarm manager at 192.168.86.102:2377");

    for (const index of [2, 3]) {
      expect(await ok(index, ["swarm", "join", "--token", token, "192.168.86.101:2377"])).toBe(
        "This node joined a swarm as a worker.\n",
      );
    }
    const worker = await docker(2, ["node", "ls"]);
    expect(worker.stderr).toContain("Worker nodes can't be used to view or modify cluster state.");

    // A worker leaves (down, until removed) and joins again.
    expect(await ok(3, ["swarm", "leave"])).toBe("Node left the swarm.\n");
    expect(lines(await ok(1, ["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]))).toContain("node3 Down");
    await ok(1, ["node", "rm", "node3"]);
    await ok(3, ["swarm", "join", "--token", token, "192.168.86.101:2377"]);
    const lastManager = await docker(1, ["swarm", "leave"]);
    expect(lastManager.stderr).toContain("Removing the last manager erases all current state of the swarm.");

    const nodes = await ok(1, [
      "node",
      "ls",
      "--format",
      "{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}{{if .Self}} *{{end}}",
    ]);
    expect(lines(nodes).sort()).toEqual(["node1 Ready Active Leader *", "node2 Ready Active ", "node3 Ready Active "]);
    const info = await ok(1, [
      "info",
      "--format",
      "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}} {{.Swarm.Managers}}",
    ]);
    expect(info.trim()).toBe("active true 3 1");
    const workerInfo = await ok(2, [
      "info",
      "--format",
      "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}}",
    ]);
    expect(workerInfo.trim()).toBe("active false 192.168.86.102");

    await ok(1, ["node", "update", "--label-add", "zone=b", "node3"]);
    expect(
      (await ok(1, ["node", "inspect", "node3", "--format", "{{.Spec.Labels.zone}} {{.Status.Addr}}"])).trim(),
    ).toBe("b 192.168.86.103");
  }, 120_000);

  it("service create --replicas 3 -p 8080:80 puts one task on each node; port 8080 answers on every node", async () => {
    const created = await docker(1, [
      "service",
      "create",
      "--name",
      "web",
      "--replicas",
      "3",
      "-p",
      "8080:80",
      "--hostname",
      "{{.Node.Hostname}}",
      "--stop-grace-period",
      "1s",
      busybox.reference,
      ...WEB,
    ]);
    expect(created.code, created.stderr).toBe(0);
    // Without --detach the CLI follows the tasks until they converge.
    expect(created.stdout).toContain("overall progress: 3 out of 3 tasks");
    expect(created.stdout).toContain("verify: Service converged");

    const tasks = await runningTasks("web");
    expect(tasks.map((row) => row.split(" ")[0]).sort()).toEqual(["node1", "node2", "node3"]);
    for (const row of tasks) expect(row).toMatch(/ Running /);
    // Each task is a real container on its node's guest, named and labelled as swarm names them.
    for (const index of [1, 2, 3]) {
      const names = lines(
        await ok(index, [
          "ps",
          "--filter",
          "label=com.docker.swarm.service.name=web",
          "--format",
          '{{.Names}} {{.Label "com.docker.swarm.task.name"}}',
        ]),
      );
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^(web\.[123]\.[a-z0-9]{25}) \1$/);
    }
    const listed = await ok(1, ["service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}} {{.Ports}}"]);
    expect(listed.trim()).toBe("web replicated 3/3 *:8080->80/tcp");

    // From a container on each node, the node's own address: the task there answers.
    for (const index of [1, 2, 3]) {
      const page = await fetchFrom(index, `http://192.168.86.10${index}:8080/`);
      expect(page.code, page.stderr).toBe(0);
      expect(page.stdout).toBe(`node${index}\n`);
    }
  }, 180_000);

  it("the routing mesh: a node without a task forwards its published port to a task on another node", async () => {
    await ok(1, [
      "service",
      "create",
      "--detach",
      "--name",
      "solo",
      "--constraint",
      "node.labels.zone==b",
      "-p",
      "18481:80",
      "--hostname",
      "{{.Node.Hostname}}",
      "--stop-grace-period",
      "1s",
      busybox.reference,
      ...WEB,
    ]);
    const tasks = await until(
      () => runningTasks("solo"),
      (rows) => rows.length === 1 && / Running /.test(rows[0]!),
    );
    expect(tasks[0]!.split(" ")[0]).toBe("node3");
    for (const index of [1, 2]) {
      const page = await fetchFrom(index, `http://192.168.86.10${index}:18481/`);
      expect(page.code, page.stderr).toBe(0);
      expect(page.stdout).toBe("node3\n");
    }
    // And on the host's loopback, as Docker Desktop publishes: into node 1's guest, through its mesh to node 3.
    const fromHost = await fetch("http://127.0.0.1:18481/");
    expect(await fromHost.text()).toBe("node3\n");
    await ok(1, ["service", "rm", "solo"]);
    const gone = await until(
      () => docker(3, ["ps", "-aq", "--filter", "label=com.docker.swarm.service.name=solo"]),
      (outcome) => outcome.stdout === "",
    );
    expect(gone.stdout).toBe("");
  }, 180_000);

  it("service scale to 5 spreads the new tasks, and back to 3 removes two containers", async () => {
    await ok(1, ["service", "scale", "--detach", "web=5"]);
    const five = await until(
      () => runningTasks("web"),
      (rows) => rows.length === 5 && rows.every((row) => / Running /.test(row)),
    );
    const perNode = (rows: string[]) =>
      [1, 2, 3].map((index) => rows.filter((row) => row.startsWith(`node${index} `)).length).sort();
    expect(perNode(five)).toEqual([1, 2, 2]);

    await ok(1, ["service", "scale", "--detach", "web=3"]);
    const containers = async () => {
      let count = 0;
      for (const index of [1, 2, 3]) {
        count += lines(await ok(index, ["ps", "-aq", "--filter", "label=com.docker.swarm.service.name=web"])).length;
      }
      return count;
    };
    expect(await until(containers, (count) => count === 3)).toBe(3);
    expect(await runningTasks("web")).toHaveLength(3);
  }, 180_000);

  it("service update --image rolls the tasks one at a time, and service rollback rolls them back", async () => {
    await ok(1, ["tag", busybox.reference, "swarm-web:v2"]);
    const updated = await docker(1, [
      "service",
      "update",
      "--image",
      "swarm-web:v2",
      "--update-parallelism",
      "1",
      "--update-delay",
      "1s",
      "web",
    ]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toContain("verify: Service converged");
    expect((await ok(1, ["service", "inspect", "web", "--format", "{{.UpdateStatus.State}}"])).trim()).toBe(
      "completed",
    );
    const rows = await runningTasks("web");
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toMatch(/ Running .* swarm-web:v2$/);
    // The old tasks are the history of their slots, shut down: one in each of slots 1 to 3.
    const history = lines(
      await ok(1, [
        "service",
        "ps",
        "web",
        "--filter",
        "desired-state=shutdown",
        "--format",
        "{{.Name}} {{.Image}} {{.CurrentState}}",
      ]),
    );
    for (const slot of [1, 2, 3]) {
      const old = history.filter((row) => row.startsWith(`web.${slot} ${busybox.reference} Shutdown`));
      expect(old, history.join("\n")).toHaveLength(1);
    }
    // One at a time: each new task was made after the one before it ran and the update delay (1s) went by.
    const ids = lines(await ok(1, ["service", "ps", "web", "-q", "--filter", "desired-state=running"]));
    const created = lines(await ok(1, ["inspect", "--type", "task", "--format", "{{.CreatedAt.UnixNano}}", ...ids]))
      .map((nanos) => Number(BigInt(nanos) / 1_000_000n))
      .sort((a, b) => a - b);
    expect(created[1]! - created[0]!).toBeGreaterThanOrEqual(1000);
    expect(created[2]! - created[1]!).toBeGreaterThanOrEqual(1000);

    for (const index of [1, 2, 3]) {
      expect(
        await ok(index, ["ps", "--filter", "label=com.docker.swarm.service.name=web", "--format", "{{.Image}}"]),
      ).toBe("swarm-web:v2\n");
    }

    // docker service rollback: the spec before the update comes back, rolled the same way.
    const rolledBack = await docker(1, ["service", "rollback", "web"]);
    expect(rolledBack.code, rolledBack.stderr).toBe(0);
    expect(rolledBack.stdout).toContain("rollback: manually requested rollback");
    expect((await ok(1, ["service", "inspect", "web", "--format", "{{.UpdateStatus.State}}"])).trim()).toBe(
      "rollback_completed",
    );
    for (const index of [1, 2, 3]) {
      expect(
        await ok(index, ["ps", "--filter", "label=com.docker.swarm.service.name=web", "--format", "{{.Image}}"]),
      ).toBe(`${busybox.reference}\n`);
    }
  }, 240_000);

  it("two services on an overlay network find each other by name, in turn, through the VXLAN tunnel", async () => {
    const worker = await docker(2, ["network", "create", "-d", "overlay", "appnet"]);
    expect(worker.stderr).toContain("Worker nodes can't be used to view or modify cluster state.");
    const subnet = await docker(1, ["network", "create", "-d", "overlay", "--subnet", "10.9.0.0/24", "appnet"]);
    expect(subnet.stderr).toContain("leave out --subnet");
    await ok(1, ["network", "create", "-d", "overlay", "appnet"]);
    expect(
      await ok(1, ["network", "ls", "--filter", "name=appnet", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]),
    ).toBe("appnet overlay swarm\n");
    // One VXLAN segment and one subnet across the swarm, as Docker shows them.
    const inspected = JSON.parse(await ok(1, ["network", "inspect", "appnet", "--format", "{{json .}}"]));
    const vni = inspected.Options["com.docker.network.driver.overlay.vxlanid_list"];
    expect(vni).toMatch(/^\d+$/);
    expect(Number(vni)).toBeGreaterThanOrEqual(4097);
    expect(inspected.IPAM.Config).toEqual([{ Subnet: "10.0.1.0/24", Gateway: "10.0.1.1" }]);
    const device = `vxlan${vni}`;
    await ok(1, [
      "service",
      "create",
      "--detach",
      "--name",
      "api",
      "--replicas",
      "2",
      "--network",
      "appnet",
      "--hostname",
      "api-on-{{.Node.Hostname}}",
      "--stop-grace-period",
      "1s",
      busybox.reference,
      ...WEB,
    ]);
    await ok(1, [
      "service",
      "create",
      "--detach",
      "--name",
      "client",
      "--network",
      "appnet",
      "-e",
      "WHERE={{.Node.Hostname}}",
      "--stop-grace-period",
      "1s",
      busybox.reference,
      "sh",
      "-c",
      "echo client up on $WHERE; while true; do sleep 1; echo tick; done",
    ]);
    await until(
      async () => [...(await runningTasks("api")), ...(await runningTasks("client"))],
      (rows) => rows.length === 3 && rows.every((row) => / Running /.test(row)),
    );
    const clientNode = Number((await runningTasks("client"))[0]!.slice("node".length, "node".length + 1));
    const clientId = (
      await ok(clientNode, ["ps", "-q", "--filter", "label=com.docker.swarm.service.name=client"])
    ).trim();
    const looked = await ok(clientNode, ["exec", clientId, "sh", "-c", "nslookup api"]);
    // Both tasks' addresses are in the network's one subnet, whichever node each runs on.
    expect(looked.match(/Address: 10\.0\.1\.\d+/g)).toHaveLength(2);
    // The container's interface leaves room for VXLAN's 50 bytes.
    expect((await ok(clientNode, ["exec", clientId, "cat", "/sys/class/net/eth0/mtu"])).trim()).toBe("1450");
    const apiRows = await runningTasks("api");
    const apiNodes = apiRows.map((row) => `api-on-${row.split(" ")[0]}`);
    const remote = apiRows
      .map((row) => Number(row.slice("node".length, "node".length + 1)))
      .find((n) => n !== clientNode)!;
    // The answers of a task on another node come through the tunnel: both ends' VXLAN counters rise.
    const counted = { client: await tunnelBytes(clientNode, device), api: await tunnelBytes(remote, device) };
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++)
      seen.add((await ok(clientNode, ["exec", clientId, "sh", "-c", "wget -qO- http://api/"])).trim());
    expect([...seen].sort()).toEqual(apiNodes.sort());
    const after = { client: await tunnelBytes(clientNode, device), api: await tunnelBytes(remote, device) };
    expect(after.client.tx).toBeGreaterThan(counted.client.tx);
    expect(after.client.rx).toBeGreaterThan(counted.client.rx);
    expect(after.api.rx).toBeGreaterThan(counted.api.rx);
    expect(after.api.tx).toBeGreaterThan(counted.api.tx);

    const logs = await ok(1, ["service", "logs", "client"]);
    // --follow stays and shows the lines that come after it started.
    const follower = spawn(DEBIAN_DOCKER, ["-H", socketOf(1), "service", "logs", "--follow", "client"], {
      env: dockerClientEnv(dir),
    });
    let followed = "";
    follower.stdout.on("data", (chunk: Buffer) => {
      followed += chunk.toString();
    });
    const ticks = (text: string) => (text.match(/\| tick$/gm) ?? []).length;
    const before = ticks(await ok(1, ["service", "logs", "client"]));
    await until(
      async () => followed,
      (text) => ticks(text) >= before + 2,
      30,
    );
    expect(ticks(followed)).toBeGreaterThanOrEqual(before + 2);
    expect(follower.exitCode).toBeNull();
    follower.kill();
    expect(logs).toMatch(
      new RegExp(`^client\\.1\\.[a-z0-9]{12}@node${clientNode} +\\| client up on node${clientNode}$`, "m"),
    );
    // --raw: the lines as the task wrote them, with nothing of the swarm's before them.
    const raw = await ok(1, ["service", "logs", "--raw", "client"]);
    expect(raw).toMatch(new RegExp(`^client up on node${clientNode}$`, "m"));
    expect(raw).not.toContain("com.docker.swarm");
    await ok(1, ["service", "rm", "api", "client"]);
    await until(
      () => docker(1, ["network", "rm", "appnet"]),
      (outcome) => outcome.code === 0,
      20,
    );
  }, 180_000);

  it("a task whose container dies is replaced; --mode global runs one task per node, and a drained node gives its task up", async () => {
    // Killed behind the swarm's back, on its node: the manager sees the guest's container exited and replaces it.
    const victim = (await ok(2, ["ps", "-q", "--filter", "label=com.docker.swarm.service.name=web"])).trim();
    await ok(2, ["kill", victim]);
    const replaced = await until(
      () => ok(1, ["service", "ps", "web", "--format", "{{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}"]),
      (out) =>
        /Shutdown Failed .*task: non-zero exit \(137\)/.test(out) &&
        lines(out).filter((row) => / Running Running /.test(row)).length === 3,
    );
    expect(replaced).toMatch(/Shutdown Failed .*task: non-zero exit \(137\)/);
    expect(lines(replaced).filter((row) => / Running Running /.test(row))).toHaveLength(3);

    await ok(1, [
      "service",
      "create",
      "--detach",
      "--name",
      "everywhere",
      "--mode",
      "global",
      "--stop-grace-period",
      "1s",
      busybox.reference,
      "sleep",
      "600",
    ]);
    const global = await until(
      () => runningTasks("everywhere"),
      (rows) => rows.length === 3 && rows.every((row) => / Running /.test(row)),
    );
    expect(global.map((row) => row.split(" ")[0]).sort()).toEqual(["node1", "node2", "node3"]);
    expect(
      (await ok(1, ["service", "ls", "--filter", "name=everywhere", "--format", "{{.Mode}} {{.Replicas}}"])).trim(),
    ).toBe("global 3/3");

    await ok(1, ["node", "update", "--availability", "drain", "node2"]);
    const drained = await until(
      () => runningTasks("everywhere"),
      (rows) => rows.length === 2 && rows.every((row) => / Running /.test(row)),
    );
    expect(drained.map((row) => row.split(" ")[0]).sort()).toEqual(["node1", "node3"]);
    const web = await until(
      () => runningTasks("web"),
      (rows) => rows.length === 3 && rows.every((row) => / Running /.test(row) && !row.startsWith("node2")),
    );
    expect(web.map((row) => row.split(" ")[0])).not.toContain("node2");
    expect(
      await until(
        () => ok(2, ["ps", "-q"]),
        (out) => out === "",
      ),
    ).toBe("");
    await ok(1, ["node", "update", "--availability", "active", "node2"]);
    await ok(1, ["service", "rm", "everywhere"]);
  }, 180_000);

  it("stopping a node's guest reschedules its task on the others", async () => {
    await served.stop(3);
    const nodes = await until(
      () => ok(1, ["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]),
      (out) => out.includes("node3 Down"),
    );
    expect(lines(nodes).sort()).toEqual(["node1 Ready", "node2 Ready", "node3 Down"]);
    const rows = await until(
      () => runningTasks("web"),
      (found) => found.length === 3 && found.every((row) => / Running /.test(row) && !row.startsWith("node3")),
    );
    const where = rows.map((row) => row.split(" ")[0]);
    expect(new Set(where)).toEqual(new Set(["node1", "node2"]));
    const containers =
      lines(await ok(1, ["ps", "-q", "--filter", "label=com.docker.swarm.service.name=web"])).length +
      lines(await ok(2, ["ps", "-q", "--filter", "label=com.docker.swarm.service.name=web"])).length;
    expect(containers).toBe(3);
    // The mesh still answers on the nodes that are up.
    const page = await fetchFrom(1, "http://192.168.86.101:8080/");
    expect(page.stdout).toBe("node1\n");
  }, 180_000);

  it("a restarted daemon keeps its swarm: the same swarm and tokens, and the service's tasks running again", async () => {
    const before = await ok(1, ["info", "--format", "{{.Swarm.Cluster.ID}} {{.Swarm.NodeID}}"]);
    const token = (await ok(1, ["swarm", "join-token", "-q", "worker"])).trim();
    await served.close();
    served = await startNodeDaemons({
      count: 3,
      host: `unix://${join(dir, "docker.sock")}`,
      images,
      root: join(dir, "root"),
    });
    expect(await ok(1, ["info", "--format", "{{.Swarm.Cluster.ID}} {{.Swarm.NodeID}}"])).toBe(before);
    expect((await ok(1, ["swarm", "join-token", "-q", "worker"])).trim()).toBe(token);
    // node3, stopped before the restart, is a member again: its guest answers.
    const nodes = await until(
      () => ok(1, ["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]),
      (out) => lines(out).filter((line) => line.endsWith(" Ready")).length === 3,
    );
    expect(lines(nodes).sort()).toEqual(["node1 Ready", "node2 Ready", "node3 Ready"]);
    // The guests came back without the tasks' containers running: the swarm sees that and runs new tasks.
    const rows = await until(
      () => runningTasks("web"),
      (found) => found.length === 3 && found.every((row) => / Running /.test(row)),
    );
    expect(rows).toHaveLength(3);
    const page = await fetchFrom(2, "http://192.168.86.102:8080/");
    expect(page.stdout).toMatch(/^node[123]\n$/);
  }, 240_000);
});
