// Shipping in real Chromium: a learner pulls busybox through the pane, then in the terminal tags it for the registry
// inside the tab (localhost:5000), pushes it, sees it listed in the Images pane, removes it, pulls it back and runs
// it. Screenshots go to test-results/e2e/.
import { describe, expect, it } from "vitest";
import {
  screenshot,
  terminalText,
  typeCommand,
  unwrappedTerminalText,
  usePageWithRegistry,
  waitForPrompt,
} from "./harness.ts";

const started = usePageWithRegistry(["busybox"]);

describe("the registry in the tab", () => {
  it("push to localhost:5000 from the terminal, listed in the Images pane, rmi, pull back and run", async () => {
    const { page } = started.browser;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    await page.click("#tab-images");
    await page.fill("#pull-ref", started.images.busybox.reference);
    await page.click("#pull-form button[type=submit]");
    await expect
      .poll(() => page.locator("#image-list").innerText(), { timeout: 60_000 })
      .toContain(started.images.busybox.reference);
    await expect.poll(() => page.locator("#registry-list").innerText()).toContain("Nothing pushed yet");

    await typeCommand(
      page,
      `docker tag ${started.images.busybox.reference} localhost:5000/tools:1 && docker push localhost:5000/tools:1`,
    );
    await expect
      .poll(() => unwrappedTerminalText(page), { timeout: 60_000 })
      .toMatch(/1: digest: sha256:[0-9a-f]{64} size: \d+/);
    const digest = /1: digest: (sha256:[0-9a-f]{64})/.exec(await unwrappedTerminalText(page))![1]!;
    // The push notified the pane, which lists the repository, its tag, digest and size.
    await expect.poll(() => page.locator("#registry-list").innerText()).toContain("localhost:5000/tools:1");
    expect(await page.locator("#registry-list li .meta").first().getAttribute("title")).toBe(digest);
    await screenshot(page, "ship-01-pushed");

    await typeCommand(
      page,
      `docker rmi localhost:5000/tools:1 ${started.images.busybox.reference} >/dev/null && docker images -q | wc -l && docker pull localhost:5000/tools:1 && docker run --rm localhost:5000/tools:1 echo shipped-$((6*7))`,
    );
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("shipped-42");
    const text = await terminalText(page);
    expect(text).toMatch(/^0$/m);
    expect(await unwrappedTerminalText(page)).toContain(`Digest: ${digest}`);
    // The registry kept what was pushed while the image store let it go.
    expect(await page.locator("#registry-list").innerText()).toContain("localhost:5000/tools:1");
    await screenshot(page, "ship-02-pulled-back");
  });
});
