// Nodes in real Chromium: the page adds guests, each in a worker of its own, restored from the first guest's saved
// state and joined to it by the page's Ethernet switch (frames crossing workers over MessagePorts). A container on
// node 2 answers ping and wget from a container on node 1; `docker context use node2` sends the terminal's docker to
// node 2's engine; removing a node takes it off the switch and its context away. Screenshots go to test-results/e2e/.
import { describe, expect, it } from "vitest";
import { screenshot, typeCommand, unwrappedTerminalText, usePageWithRegistry, waitForPrompt } from "./harness.ts";

const started = usePageWithRegistry(["busybox"]);

describe("nodes in the page", () => {
  it("adds two nodes whose containers reach each other through the switch; contexts pick the node; a node is removed", {
    timeout: 600_000,
  }, async () => {
    const { page } = started.browser;
    const busybox = started.images.busybox.reference;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    const add = page.locator("#node-add");
    await expect.poll(() => add.isEnabled(), { timeout: 120_000 }).toBe(true);
    await expect(page.locator("#node-list li").count()).resolves.toBe(1);

    // One node by the button, one by the terminal's command.
    await add.click();
    await expect.poll(() => page.locator("#node-list li").count(), { timeout: 120_000 }).toBe(2);
    await expect(page.locator("#node-status").textContent()).resolves.toMatch(/node2 added in \d+ ms/);
    await typeCommand(page, "clear; drydock node add && echo added-$((40+2))");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("added-42");
    expect(await unwrappedTerminalText(page)).toMatch(/node3\s+192\.168\.86\.103\s+containers 10\.3\.0\.0\/16/);
    await expect.poll(() => page.locator("#node-list li").count()).toBe(3);

    // A web server on node 2, a container of node 1's own: node 1's container reaches node 2's by its address.
    await typeCommand(
      page,
      `clear; docker run -d --name mine ${busybox} sleep 600 >/dev/null; docker --context node2 run -d --name web ${busybox} sh -c 'mkdir -p /www && echo served-by-$(hostname)-on-node2 > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null; IP=$(docker --context node2 inspect -f '{{.NetworkSettings.IPAddress}}' web); echo web-at-$IP; docker run --rm ${busybox} sh -c "ping -c 2 -W 5 $IP && wget -qO- http://$IP/"; echo reached-$((40+2))`,
    );
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 240_000 }).toContain("reached-42");
    const reached = await unwrappedTerminalText(page);
    expect(reached).toMatch(/web-at-10\.2\.0\.\d+/);
    expect(reached).toMatch(/2 packets transmitted, 2 packets received/);
    expect(reached).toMatch(/served-by-[0-9a-f]{12}-on-node2/);

    // DOCKER_HOST names node 2 for one command; then the terminal's docker follows the context: node 2's containers
    // only, and the bar says so.
    await typeCommand(
      page,
      "clear; DOCKER_HOST=tcp://192.168.86.102:2375 docker ps --format 'host:{{.Names}}'; docker context use node2; docker ps --format 'ps:{{.Names}}'; docker context ls; echo listed-$((40+2))",
    );
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toContain("listed-42");
    const listed = await unwrappedTerminalText(page);
    expect(listed).toContain('Current context is now "node2"');
    expect(listed).toContain("host:web");
    expect(listed).not.toContain("host:mine");
    expect(listed).toContain("ps:web");
    expect(listed).not.toContain("ps:mine");
    expect(listed).toMatch(/node2 \*\s+Drydock node 2 \(192\.168\.86\.102\)\s+tcp:\/\/192\.168\.86\.102:2375/);
    await expect.poll(() => page.locator("#node-list li[data-target=true]").getAttribute("data-node")).toBe("node2");
    await expect(page.locator("#node-context").textContent()).resolves.toBe("context node2 → node2");
    await screenshot(page, "nodes-01-three-nodes-context-node2");

    // node3 by its button; node2 (the current context) by the command: the context goes back to default, node1.
    await page.getByRole("button", { name: "Remove node3" }).click();
    await expect.poll(() => page.locator("#node-list li").count(), { timeout: 60_000 }).toBe(2);
    await typeCommand(
      page,
      "clear; drydock node rm node2; echo contexts:$(docker context ls -q | tr '\\n' ,); docker ps --format 'after:{{.Names}}'; docker --context node2 ps; echo removed-$((40+2))",
    );
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toContain("removed-42");
    const removed = await unwrappedTerminalText(page);
    expect(removed).toContain("contexts:default,node1,");
    expect(removed).toContain("after:mine");
    expect(removed).not.toContain("after:web");
    expect(removed).toContain('context "node2" does not exist');
    await expect.poll(() => page.locator("#node-list li").count()).toBe(1);
    await expect.poll(() => page.locator("#node-list li[data-target=true]").getAttribute("data-node")).toBe("node1");
    await screenshot(page, "nodes-02-after-removing");
  });
});
