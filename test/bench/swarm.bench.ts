// Swarm (issue #21) over `drydock daemon --nodes 3`, driven through the cluster's swarm manager in process: the time
// for a 3-replica service to have every task running (one container per node), to scale it to 5 and back to 3, to
// roll its image one task at a time (no delay), and for a stopped node's task to run again on another node.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureSavedState, openNodeImageService } from "../../engine/node/index.ts";
import { startNodeDaemons } from "../../engine/node/nodes.ts";
import type { SwarmManager } from "../../engine/swarm/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { startRegistry } from "../fixtures/registry.ts";
import type { BenchSuite } from "./harness.ts";

/** Waits until `check` holds (asked every 50 ms) and returns the milliseconds it took from `started`. */
async function until(check: () => boolean, started: number, what: string): Promise<number> {
  for (let i = 0; i < 2400; i++) {
    if (check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function running(swarm: SwarmManager, service: string, template?: number): number {
  const id = swarm.service(service).id;
  return swarm
    .tasks()
    .filter(
      (task) =>
        task.serviceId === id &&
        task.desired === "running" &&
        task.state === "running" &&
        (template === undefined || task.template === template),
    ).length;
}

const suite: BenchSuite = {
  name: "swarm",
  async run(ctx) {
    await ensureSavedState();
    const registry = await startRegistry();
    const dir = await mkdtemp(join(tmpdir(), "drydock-bench-swarm-"));
    try {
      const { busybox } = await seedRegistry(registry, ["busybox"]);
      const images = await openNodeImageService(join(dir, "root"));
      const served = await startNodeDaemons({
        count: 3,
        host: `unix://${join(dir, "docker.sock")}`,
        images,
        root: join(dir, "root"),
        onPublishError: () => {},
      });
      try {
        await images.pull(busybox.reference);
        const { swarm } = served;
        swarm.init("node1");
        const token = swarm.swarm!.tokens.worker;
        for (const member of ["node2", "node3"]) swarm.join(member, { token, remoteAddrs: ["192.168.86.101:2377"] });
        const spec = (replicas: number, image: string) => ({
          Name: "web",
          TaskTemplate: {
            ContainerSpec: {
              Image: image,
              Args: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"],
              StopGracePeriod: 1_000_000_000,
            },
          },
          Mode: { Replicated: { Replicas: replicas } },
          UpdateConfig: { Parallelism: 1, Delay: 0 },
          EndpointSpec: { Ports: [{ Protocol: "tcp", TargetPort: 80, PublishedPort: 18580, PublishMode: "ingress" }] },
        });

        let started = performance.now();
        swarm.createService(spec(3, busybox.reference));
        ctx.record(
          "service create --replicas 3 -p: every task running, one container per node",
          await until(() => running(swarm, "web") === 3, started, "3 running tasks"),
          "ms",
        );

        started = performance.now();
        swarm.updateService("web", swarm.service("web").version, spec(5, busybox.reference));
        const scaleUp = await until(() => running(swarm, "web") === 5, started, "5 running tasks");
        started = performance.now();
        swarm.updateService("web", swarm.service("web").version, spec(3, busybox.reference));
        const containers = () =>
          served.nodes.reduce(
            (sum, node) =>
              sum +
              node.supervisor.containers
                .list({ all: true })
                .filter((c) => c.labels["com.docker.swarm.service.name"] === "web").length,
            0,
          );
        const scaleDown = await until(() => containers() === 3, started, "3 containers");
        ctx.record("service scale web=5: the two new tasks running", scaleUp, "ms");
        ctx.record("service scale web=3: two containers stopped and removed (1 s grace)", scaleDown, "ms");

        await images.tag(busybox.reference, "swarm-bench:v2");
        started = performance.now();
        swarm.updateService("web", swarm.service("web").version, spec(3, "swarm-bench:v2"));
        const template = swarm.service("web").template;
        ctx.record(
          "service update --image, parallelism 1, no delay: 3 tasks rolled",
          await until(
            () => swarm.service("web").update?.state === "completed" && running(swarm, "web", template) === 3,
            started,
            "the rolling update",
          ),
          "ms",
        );

        started = performance.now();
        await served.stop(3);
        ctx.record(
          "a node's guest stopped: its task running again on another node",
          await until(
            () =>
              running(swarm, "web") === 3 &&
              swarm
                .tasks()
                .filter((task) => task.desired === "running")
                .every((task) => swarm.node(task.nodeId).hostname !== "node3"),
            started,
            "the rescheduled task",
          ),
          "ms",
        );
      } finally {
        await served.close();
      }
    } finally {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

export default suite;
