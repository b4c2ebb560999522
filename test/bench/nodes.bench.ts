// Nodes (issue #21): the time to add a node (restore a guest from the saved state, put its card on the engine's
// switch, give it its MAC, address and hostname), the daemon's resident memory per node, and what the switch carries
// between two guests: ping round trip and TCP throughput (busybox wget ← httpd, guest to guest, 192.168.86.0/24).
import { Cluster, nodeIdentity } from "../../engine/cluster/index.ts";
import type { Drydock } from "../../engine/index.ts";
import { bootDrydock, ensureSavedState } from "../../engine/node/index.ts";
import type { BenchSuite } from "./harness.ts";

const NODES = 3;
const MiB = 1024 * 1024;
const BLOB_MiB = 8;

async function sh(drydock: Drydock, script: string): Promise<string> {
  const { code, stdout, stderr } = await drydock.agent.run(["sh", "-c", script]);
  if (code !== 0) throw new Error(`\`${script}\` failed (${code}): ${stderr.trim() || stdout.trim()}`);
  return stdout;
}

const suite: BenchSuite = {
  name: "nodes",
  async run(ctx) {
    await ensureSavedState();
    const cluster = new Cluster();
    const nodes: Drydock[] = [];
    try {
      const addTimes: number[] = [];
      const rssGrowth: number[] = [];
      for (let index = 1; index <= NODES; index++) {
        globalThis.gc?.();
        const before = process.memoryUsage().rss;
        const started = performance.now();
        const drydock = await bootDrydock();
        nodes.push(drydock);
        await cluster.join(drydock, nodeIdentity(index));
        await drydock.agent.run(["true"]);
        addTimes.push(performance.now() - started);
        // Let the guest settle (its first seconds touch most of its memory) before reading the process's RSS.
        await sh(drydock, "ping -c 1 -W 5 192.168.86.101 >/dev/null");
        rssGrowth.push((process.memoryUsage().rss - before) / MiB);
      }
      ctx.samples(`add a node: restore + switch + identity, to its first command (${NODES} nodes)`, addTimes, "ms");
      ctx.samples("daemon RSS growth per node (128 MiB guest)", rssGrowth, "MiB");

      const [one, two] = nodes as [Drydock, Drydock];
      const ping = await sh(one, "ping -c 20 -i 0.2 -q 192.168.86.102");
      const rtt = /= [\d.]+\/([\d.]+)\/[\d.]+ ms/.exec(ping);
      if (!rtt || !ping.includes("20 packets received")) throw new Error(`node1 → node2 ping: ${ping}`);
      ctx.record("ping node1 → node2 over the switch, average of 20", Number(rtt[1]), "ms");

      await sh(
        two,
        `mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/blob bs=1M count=${BLOB_MiB} 2>/dev/null && httpd -p 8000 -h /tmp/www`,
      );
      const throughput: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await sh(one, "wget -q -O /dev/null http://192.168.86.102:8000/blob");
        throughput.push(BLOB_MiB / ((performance.now() - started) / 1000));
      }
      ctx.samples(`TCP node1 ← node2 over the switch: ${BLOB_MiB} MiB, busybox wget ← httpd`, throughput, "MiB/s");
      const { forwarded, flooded } = cluster.ethernet.counters;
      // A switch, not a hub: nearly every frame goes to one port only.
      ctx.record("frames the switch sent to one port, whole run", forwarded, "frames");
      ctx.record("frames the switch flooded (broadcast, multicast, unknown), whole run", flooded, "frames");
    } finally {
      for (const drydock of nodes) await drydock.dispose();
    }
  },
};

export default suite;
