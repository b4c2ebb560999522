// A swarm in real Chromium: three nodes of the page (node2 and node3 each a guest in a worker of its own), `docker
// swarm init` on node1 and two joins typed from the other nodes' contexts with the token it prints; a 3-replica
// service with -p 8080:80 runs one task per node and answers on every node's address (from node1's guest shell, the
// terminal's); scale, a rolling image update, two services finding each other by name on an overlay network across
// nodes (and a node without a task forwarding a published port to one elsewhere), an image pushed to node1's
// localhost:5000 pulled by the others, `docker service logs`, and a node removed: its task runs on the others.
// Screenshots go to test-results/e2e/.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { screenshot, typeCommand, unwrappedTerminalText, usePageWithRegistry, waitForPrompt } from "./harness.ts";

const started = usePageWithRegistry(["busybox"]);
/** The same image under a second name, for the rolling update. */
let v2 = "";

const WEB = `sh -c 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'`;

beforeAll(async () => {
  const { busybox } = started.images;
  v2 = `${started.registry.host}/swarm-web:v2`;
  await promisify(execFile)("skopeo", [
    "--insecure-policy",
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    `docker://${busybox.reference}`,
    `docker://${v2}`,
  ]);
}, 60_000);

/** Types `command; echo done-N` and waits for the marker; returns the terminal's text after the command. */
async function run(command: string, timeoutMs = 240_000): Promise<string> {
  const { page } = started.browser;
  const marker = `done-${Math.floor(Math.random() * 1e6)}`;
  const [head, tail] = [marker.slice(0, 5), marker.slice(5)];
  await typeCommand(page, `clear; ${command}; echo ${head}''${tail}`);
  await expect.poll(() => unwrappedTerminalText(page), { timeout: timeoutMs, interval: 1000 }).toContain(marker);
  return unwrappedTerminalText(page);
}

describe("a swarm of the page's three nodes", () => {
  it("swarm init on node1; node2 and node3 join with its token from their contexts", { timeout: 600_000 }, async () => {
    const { page } = started.browser;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    await expect.poll(() => page.locator("#node-add").isEnabled(), { timeout: 120_000 }).toBe(true);
    const added = await run("drydock node add >/dev/null && drydock node add >/dev/null && drydock node ls", 300_000);
    expect(added).toMatch(/node3\s+192\.168\.86\.103/);
    await expect.poll(() => page.locator("#node-list li").count()).toBe(3);

    const init = await run("docker swarm init");
    expect(init).toMatch(/Swarm initialized: current node \([a-z0-9]{25}\) is now a manager\./);
    expect(init).toMatch(/docker swarm join --token SWMTKN-1-[a-z0-9]{50}-[a-z0-9]{25} 192\.168\.86\.101:2377/);
    const joined = await run(
      "TOKEN=$(docker swarm join-token -q worker); docker --context node2 swarm join --token $TOKEN 192.168.86.101:2377; docker context use node3 >/dev/null; docker swarm join --token $TOKEN 192.168.86.101:2377; docker node ls; docker context use default >/dev/null; docker node ls",
    );
    expect(joined.match(/This node joined a swarm as a worker\./g)).toHaveLength(2);
    // node3's docker is a worker's: it may not list the swarm's nodes; node1's lists all three.
    expect(joined).toContain("Worker nodes can't be used to view or modify cluster state.");
    expect(joined).toMatch(/[a-z0-9]{25} \*\s+node1\s+Ready\s+Active\s+Leader/);
    expect(joined).toMatch(/node2\s+Ready\s+Active/);
    expect(joined).toMatch(/node3\s+Ready\s+Active/);
    await screenshot(page, "swarm-01-init-and-joins");
  });

  it("service create --replicas 3 -p 8080:80 runs a task on each node; port 8080 answers on every node", {
    timeout: 600_000,
  }, async () => {
    const { page } = started.browser;
    const busybox = started.images.busybox.reference;
    const created = await run(
      `docker service create --name web --replicas 3 -p 8080:80 --hostname '{{.Node.Hostname}}' --stop-grace-period 1s ${busybox} ${WEB}`,
      420_000,
    );
    expect(created).toContain("overall progress: 3 out of 3 tasks");
    expect(created).toContain("verify: Service converged");
    const tasks = await run(
      "docker service ps web --format 'task:{{.Node}}:{{.CurrentState}}'; docker service ls --format 'svc:{{.Name}} {{.Replicas}} {{.Ports}}'",
    );
    for (const node of ["node1", "node2", "node3"]) expect(tasks).toMatch(new RegExp(`task:${node}:Running `));
    expect(tasks).toContain("svc:web 3/3 *:8080->80/tcp");
    await screenshot(page, "swarm-02-service-on-three-nodes");

    // From node1's guest shell, each node's address: the task on that node answers.
    const answered = await run('for n in 1 2 3; do echo "at-10$n:$(wget -qO- 192.168.86.10$n:8080)"; done');
    for (const n of [1, 2, 3]) expect(answered).toContain(`at-10${n}:node${n}`);
  });

  it("service scale to 5 and back; a rolling service update --image replaces every task", {
    timeout: 600_000,
  }, async () => {
    const { page } = started.browser;
    const scaled = await run(
      "docker service scale web=5; docker service ls --format 'five:{{.Replicas}}'; docker service scale web=3 >/dev/null; docker service ls --format 'three:{{.Replicas}}'",
      420_000,
    );
    expect(scaled).toContain("web scaled to 5");
    expect(scaled).toContain("overall progress: 5 out of 5 tasks");
    expect(scaled).toContain("five:5/5");
    expect(scaled).toContain("three:3/3");

    const rolled = await run(
      `docker service update --update-parallelism 1 --update-delay 1s --image ${v2} web; docker service ps web --filter desired-state=running --format 'now:{{.Image}}:{{.CurrentState}}'; docker service ps web --filter desired-state=shutdown --format 'was:{{.Image}}' | sort | uniq -c`,
      420_000,
    );
    expect(rolled).toContain("verify: Service converged");
    expect(rolled.match(/now:\S+\/swarm-web:v2:Running /g)).toHaveLength(3);
    // The scale down removed its two tasks (desired state Remove, then gone, as swarmkit does): only the three the
    // update replaced are left in the history.
    expect(rolled).toMatch(/3 was:\S+\/busybox:/);
    await screenshot(page, "swarm-03-rolled");
  });

  it("two services on an overlay network find each other by name across nodes", { timeout: 600_000 }, async () => {
    const busybox = started.images.busybox.reference;
    const found = await run(
      `docker network create -d overlay appnet >/dev/null; docker service create --name api --network appnet --replicas 2 -p 8081:80 --constraint node.hostname!=node2 --hostname 'api-on-{{.Node.Hostname}}' ${busybox} ${WEB} >/dev/null; docker service create --name client --network appnet --constraint node.hostname==node2 ${busybox} sleep 600 >/dev/null; C=$(docker --context node2 ps -q --filter label=com.docker.swarm.service.name=client); for i in 1 2; do echo "got:$(docker --context node2 exec $C wget -qO- http://api/)"; done; echo "mesh:$(wget -qO- 192.168.86.102:8081)"; echo "cross:$(docker --context node2 exec $C wget -qO- 192.168.86.101:8080)"`,
      420_000,
    );
    // The name answers each of api's tasks in turn (DNS round robin), from node2, where api has none.
    expect(found).toContain("got:api-on-node1");
    expect(found).toContain("got:api-on-node3");
    // node2 has no task of api: its published port still answers, forwarded by its mesh to a task on another node.
    expect(found).toMatch(/mesh:api-on-node[13]/);
    // A task's container on node2 reaches another node's published port, as a container reaches any host's.
    expect(found).toMatch(/cross:node[123]/);
  });

  it("an image pushed to node1's localhost:5000 is pulled by node2 and node3; service logs names each line's task", {
    timeout: 600_000,
  }, async () => {
    const busybox = started.images.busybox.reference;
    // node2 and node3 have no registry of their own: their localhost:5000 is node1's, as a swarm's registry service.
    const pulled = await run(
      `docker tag ${busybox} localhost:5000/swarm-web:v3 && docker push localhost:5000/swarm-web:v3 >/dev/null && docker service update --update-parallelism 3 --image localhost:5000/swarm-web:v3 web >/dev/null; for n in node2 node3; do echo "$n-has:$(docker --context $n image ls -q localhost:5000/swarm-web:v3)"; done; docker service ps web --filter desired-state=running --format 'v3:{{.Image}}:{{.CurrentState}}'`,
      420_000,
    );
    expect(pulled).toMatch(/node2-has:[0-9a-f]{12}/);
    expect(pulled).toMatch(/node3-has:[0-9a-f]{12}/);
    expect(pulled.match(/v3:localhost:5000\/swarm-web:v3:Running /g)).toHaveLength(3);

    const logs = await run(
      `docker service create --name talker --replicas 2 --constraint node.hostname!=node1 --hostname '{{.Node.Hostname}}' ${busybox} sh -c 'echo hello from $(hostname); exec sleep 600' >/dev/null; sleep 2; docker service logs talker; docker service logs --raw talker | sed 's/^/raw:/'`,
      420_000,
    );
    expect(logs).toMatch(/talker\.[12]\.[a-z0-9]{12}@node2 +\| hello from node2/);
    expect(logs).toMatch(/talker\.[12]\.[a-z0-9]{12}@node3 +\| hello from node3/);
    expect(logs).toContain("raw:hello from node2");
  });

  it("a node removed: its task runs on the others, and the swarm shows it down", { timeout: 600_000 }, async () => {
    const { page } = started.browser;
    const moved = await run(
      "drydock node rm node3 >/dev/null; for i in $(seq 90); do [ $(docker service ps web --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' | grep -c '^node[12] Running') = 3 ] && break; sleep 1; done; docker service ps web --filter desired-state=running --format 'after:{{.Node}}:{{.CurrentState}}'; docker node ls --format 'node:{{.Hostname}} {{.Status}}'",
      300_000,
    );
    expect(moved.match(/after:node[12]:Running /g)).toHaveLength(3);
    expect(moved).not.toContain("after:node3");
    expect(moved).toContain("node:node3 Down");
    await expect.poll(() => page.locator("#node-list li").count()).toBe(2);
    await screenshot(page, "swarm-04-node3-removed");
  });
});
