// A guest that fails under the page, as a learner can make it fail: root in the guest's shell crashes the kernel
// through /proc/sysrq-trigger. The page says what happened (the kernel's words), offers a fresh guest, and after one
// click the terminal has a shell again, the engine answers, the pulled image is still there and the old guest's
// container is kept, exited with Docker's code for a task lost with its host.
import { describe, expect, it } from "vitest";
import { screenshot, terminalText, typeCommand, usePageWithRegistry, waitForPrompt } from "./harness.ts";

const started = usePageWithRegistry(["busybox"]);

describe("a guest that fails in the page", () => {
  it("says the kernel crashed, and one click brings a fresh guest with the images kept", async () => {
    const { page } = started.browser;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    await expect.poll(() => page.locator("html").getAttribute("data-proxy"), { timeout: 30_000 }).toBe("up");
    await typeCommand(
      page,
      `docker pull -q ${started.images.busybox.reference} && docker run -d --name doomed ${started.images.busybox.reference} sleep 600 && echo ready-$((6*7))`,
    );
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("ready-42");

    await typeCommand(page, "echo c > /proc/sysrq-trigger");
    const banner = page.locator("#banner");
    await expect.poll(() => banner.isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await banner.innerText()).toMatch(/The guest machine failed: the guest crashed \(Kernel panic.*\)\./);
    expect(await page.locator("#status").innerText()).toBe("The guest failed");
    await expect.poll(() => terminalText(page)).toContain("[the guest failed:");
    await screenshot(page, "fault-01-crashed");

    await page.click("#restart-guest");
    await expect.poll(() => banner.isHidden(), { timeout: 60_000 }).toBe(true);
    await expect.poll(() => page.locator("#status").innerText(), { timeout: 30_000 }).toMatch(/^Running · Linux 6\.1/);
    await page.locator("#terminal .xterm").click();
    await typeCommand(
      page,
      "docker images --format '{{.Repository}}' | sed 's/^/img:/'; docker ps -a --format 'kept:{{.Names}} {{.Status}}'",
    );
    await expect.poll(() => terminalText(page), { timeout: 30_000 }).toMatch(/^img:\S*busybox$/m);
    await expect.poll(() => terminalText(page)).toMatch(/^kept:doomed Exited \(255\)/m);
    await screenshot(page, "fault-02-fresh-guest");
  });
});
