// Nodes in the real page (issue #21): a production build under `vite preview`, in real Chromium.
//
// 1. Time to add a node: the "Add node" button's click → the node's chip in the bar (page clock, polled every frame),
//    and the engine's own figure (the first worker's `addMs`: a worker of its own, the guest restored from the first
//    guest's state, its card on the switch, its identity and routes, its engine and Engine API), with where that
//    time went as the node's trace line says. NODES nodes one after the other, then removed, then added again.
// 2. Memory per node: `performance.measureUserAgentSpecificMemory()` where the page is cross-origin isolated; else
//    the main thread's JS heap (performance.memory; the workers' heaps are not in it) and each node's v86 wasm memory
//    (the guest's RAM is inside it: the chips' data-wasm-bytes). And, from outside, the resident memory (RSS, from
//    /proc) of the Chromium processes this benchmark started, before and after the nodes: growth per node.
// 3. What the switch carries between workers: ping node1 → node2 guest to guest (the terminal's shell, average of 10).
// 4. The page's swarm over node1…node3: `docker swarm init`, two joins, then a 3-replica service typed in the terminal
//    (Enter → docker's "verify: Service converged", page clock): the first one pulls its image on every node; the
//    second, another service of the same image, does not.
import { readdir, readFile } from "node:fs/promises";
import type { Page } from "playwright-core";
import { startPageWithRegistry, waitForPrompt } from "../e2e/harness.ts";
import type { BenchSuite } from "./harness.ts";

const NODES = 3;
const MiB = 1024 * 1024;

/** The resident memory (bytes) of every process descending from this one: the Chromium playwright started. */
async function descendantsRss(): Promise<number> {
  const parents = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  const ours = (pid: number): boolean => {
    for (let at = parents.get(pid); at !== undefined; at = parents.get(at)) if (at === process.pid) return true;
    return false;
  };
  let total = 0;
  for (const pid of parents.keys()) {
    if (!ours(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    if (rss) total += Number(rss[1]) * 1024;
  }
  return total;
}

/** Types `command` in the terminal and waits for `marker` in its text; returns Enter → marker (page clock). */
async function timeCommand(page: Page, command: string, marker: string): Promise<number> {
  await page.locator("#terminal").click();
  await page.keyboard.type(`clear; ${command}`);
  const typedAt = (await page.evaluate("performance.now()")) as number;
  await page.keyboard.press("Enter");
  const handle = await page.waitForFunction(
    `(document.querySelector(".xterm-rows")?.textContent ?? "").includes(${JSON.stringify(marker)}) ? performance.now() : false`,
    undefined,
    { polling: "raf", timeout: 600_000 },
  );
  return ((await handle.jsonValue()) as number) - typedAt;
}

/** Clicks Add node and waits for the chip; returns click → chip (page clock) and the engine's figure. */
async function addByButton(page: Page, count: number): Promise<{ pageMs: number; engineMs: number }> {
  await page.evaluate(
    `document.getElementById("node-add").addEventListener("click", (e) => { window.addClickedAt = e.timeStamp; }, { once: true, capture: true })`,
  );
  await page.locator("#node-add").click();
  const handle = await page.waitForFunction(
    `document.querySelectorAll("#node-list li").length === ${count} ? performance.now() : false`,
    undefined,
    { polling: "raf", timeout: 300_000 },
  );
  const shown = (await handle.jsonValue()) as number;
  const clicked = (await page.evaluate("window.addClickedAt")) as number;
  const status = (await page.locator("#node-status").textContent()) ?? "";
  const engine = /added in (\d+) ms/.exec(status);
  if (!engine) throw new Error(`the node was not added: ${status}`);
  return { pageMs: shown - clicked, engineMs: Number(engine[1]) };
}

async function removeByButton(page: Page, name: string, count: number): Promise<void> {
  await page.getByRole("button", { name: `Remove ${name}` }).click();
  await page.waitForFunction(`document.querySelectorAll("#node-list li").length === ${count}`, undefined, {
    timeout: 120_000,
  });
}

interface PageMemory {
  measured?: number;
  heap?: number;
  wasm: number[];
}

async function pageMemory(page: Page): Promise<PageMemory> {
  return (await page.evaluate(`(async () => {
    const wasm = [...document.querySelectorAll("#node-list li[data-wasm-bytes]")].map((li) => Number(li.dataset.wasmBytes));
    if (self.crossOriginIsolated && performance.measureUserAgentSpecificMemory) {
      const result = await performance.measureUserAgentSpecificMemory();
      return { measured: result.bytes, wasm };
    }
    return { heap: performance.memory ? performance.memory.usedJSHeapSize : undefined, wasm };
  })()`)) as PageMemory;
}

const suite: BenchSuite = {
  name: "page-nodes",
  async run(ctx) {
    const started = await startPageWithRegistry(["busybox"]);
    try {
      const { page } = started.browser;
      await page.goto(started.server.url);
      await waitForPrompt(page, 60_000);
      await page.waitForFunction(`!document.getElementById("node-add").disabled`, undefined, { timeout: 120_000 });
      // The first guest's warm-up (a few dozen `true`s after the prompt) is left to finish first.
      await new Promise((resolve) => setTimeout(resolve, 15_000));

      const rssBefore = await descendantsRss();
      const memoryBefore = await pageMemory(page);
      const pageTimes: number[] = [];
      const engineTimes: number[] = [];
      for (let n = 2; n <= NODES + 1; n++) {
        const { pageMs, engineMs } = await addByButton(page, n);
        pageTimes.push(pageMs);
        engineTimes.push(engineMs);
      }
      // Let the guests settle, then read the memory with NODES more nodes.
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      const rssAfter = await descendantsRss();
      const memoryAfter = await pageMemory(page);
      const lastSteps = (await page.locator("#trace li").allInnerTexts())
        .map((text) => text.replace(/\s+/g, " "))
        .filter((text) => /node\d+: added: /.test(text));
      console.log(`page-nodes: where an add's time went (the node's worker), per node:\n  ${lastSteps.join("\n  ")}`);

      // node1 → node2, guest to guest across two workers.
      await page.locator("#terminal").click();
      await page.keyboard.type("clear; ping -c 10 -i 0.2 -q 192.168.86.102; echo pinged-$((40+2))");
      await page.keyboard.press("Enter");
      await page.waitForFunction(
        `(document.querySelector(".xterm-rows")?.textContent ?? "").includes("pinged-42")`,
        undefined,
        { timeout: 120_000 },
      );
      const ping = (await page.locator(".xterm-rows").textContent()) ?? "";
      const rtt = /= [\d.]+\/([\d.]+)\/[\d.]+ ms/.exec(ping);
      if (!rtt || !ping.includes("10 packets received")) throw new Error(`node1 → node2 ping: ${ping}`);

      // Removed and added again: more samples of the add, now with the engine's code in the browser's caches.
      for (let n = NODES + 1; n >= 2; n--) await removeByButton(page, `node${n}`, n - 1);
      for (let n = 2; n <= 3; n++) {
        const { pageMs, engineMs } = await addByButton(page, n);
        pageTimes.push(pageMs);
        engineTimes.push(engineMs);
      }

      // The swarm over node1…node3: init, two joins, then a 3-replica service, cold (each node pulls) and warm.
      const busybox = started.images.busybox.reference;
      await timeCommand(
        page,
        "docker swarm init >/dev/null; T=$(docker swarm join-token -q worker); for n in node2 node3; do docker --context $n swarm join --token $T 192.168.86.101:2377; done; echo joined-$((40+2))",
        "joined-42",
      );
      const web = `sh -c 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'`;
      const cold = await timeCommand(
        page,
        `docker service create --name web --replicas 3 -p 8080:80 ${busybox} ${web} && echo web-up-$((40+2))`,
        "web-up-42",
      );
      // Each command echoes its own marker: the terminal still shows the previous command's "Service converged"
      // until its `clear` arrives, so a shared marker would stop the clock at once.
      const warm = await timeCommand(
        page,
        `docker service create --name web2 --replicas 3 ${busybox} ${web} && echo web2-up-$((40+2))`,
        "web2-up-42",
      );
      const spread = await timeCommand(
        page,
        "docker service ps web web2 --format 'on:{{.Node}}' | sort | uniq -c | tr '\\n' ' '; echo spread-$((40+2))",
        "spread-42",
      );
      const rows = (await page.locator(".xterm-rows").textContent()) ?? "";
      if (!/2 on:node1\s+2 on:node2\s+2 on:node3/.test(rows))
        throw new Error(`the tasks are not one per node: ${rows}`);
      console.log(`page-nodes: ${spread.toFixed(0)} ms for service ps`);
      ctx.record(
        "swarm: docker service create --replicas 3 → converged, each node pulling its image (page clock)",
        cold,
        "ms",
      );
      ctx.record("swarm: docker service create --replicas 3 → converged, image already on the nodes", warm, "ms");

      ctx.samples("add a node: Add node click → its chip in the bar (page clock)", pageTimes, "ms");
      ctx.samples(
        "add a node: the engine's figure (worker, restore, switch, identity, routes, engine)",
        engineTimes,
        "ms",
      );
      ctx.record(
        `Chromium's RSS growth per node (${NODES} nodes, ${memoryAfter.wasm[0] ? Math.round(memoryAfter.wasm[0] / MiB) : "?"} MiB v86 memory each)`,
        (rssAfter - rssBefore) / NODES / MiB,
        "MiB",
      );
      if (memoryAfter.measured !== undefined && memoryBefore.measured !== undefined) {
        ctx.record(
          "measureUserAgentSpecificMemory growth per node",
          (memoryAfter.measured - memoryBefore.measured) / NODES / MiB,
          "MiB",
        );
      } else {
        console.log("page-nodes: the page is not cross-origin isolated: no measureUserAgentSpecificMemory");
        if (memoryAfter.heap !== undefined && memoryBefore.heap !== undefined) {
          ctx.record(
            "main thread's JS heap growth per node",
            (memoryAfter.heap - memoryBefore.heap) / NODES / MiB,
            "MiB",
          );
        }
      }
      const wasm = memoryAfter.wasm.slice(1);
      if (wasm.length > 0)
        ctx.samples(
          "v86 wasm memory per added node (the guest's RAM inside)",
          wasm.map((b) => b / MiB),
          "MiB",
        );
      ctx.record("ping node1 → node2 guest to guest across workers, average of 10", Number(rtt[1]), "ms");
    } finally {
      await started.close();
    }
  },
};

export default suite;
