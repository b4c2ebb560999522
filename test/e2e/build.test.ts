// Build and ship in real Chromium, as a learner does it: a Dockerfile written in the page's editor and saved into the
// guest, `docker build` typed in the terminal, the image pushed to the registry inside the tab (listed in the Images
// pane), removed, pulled back and run. Screenshots go to test-results/e2e/.
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

describe("building in the page", () => {
  // The first build pulls its base image into the page's storage and runs a container in the emulator: allow for it.
  it("a Dockerfile edited in the editor builds in the terminal, pushes to the tab's registry, and comes back", {
    timeout: 400_000,
  }, async () => {
    const { page } = started.browser;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    // The context: one file, whose text the typed command itself does not contain.
    await typeCommand(page, "mkdir -p /root/app && echo built-in-the-page-$((6*7)) > /root/app/message.txt");

    // The Dockerfile, typed into Monaco and saved into the guest with Ctrl+S.
    await page.click("#file-text");
    await page.waitForSelector("#files-pane[data-editor=monaco] .monaco-editor");
    await page.fill("#file-path", "/root/app/Dockerfile");
    await page.click("#file-editor .view-lines");
    await page.keyboard.press("ControlOrMeta+A");
    for (const line of [
      `FROM ${started.images.busybox.reference}`,
      "COPY message.txt /message.txt",
      "RUN wc -c /message.txt > /size.txt",
      "CMD cat /message.txt /size.txt",
    ]) {
      await page.keyboard.type(line);
      await page.keyboard.press("Enter");
    }
    await page.keyboard.press("ControlOrMeta+S");
    await expect.poll(() => page.locator("#file-status").textContent()).toContain("Saved /root/app/Dockerfile");
    await screenshot(page, "build-01-dockerfile");

    await typeCommand(page, "cd /root/app && docker build -t localhost:5000/app:1 .");
    await expect
      .poll(() => unwrappedTerminalText(page), { timeout: 120_000 })
      .toContain("Successfully tagged localhost:5000/app:1");
    expect(await unwrappedTerminalText(page)).toMatch(/Step 4\/4 : CMD cat \/message.txt \/size.txt/);

    await page.click("#tab-images");
    await typeCommand(page, "docker push localhost:5000/app:1");
    await expect
      .poll(() => unwrappedTerminalText(page), { timeout: 60_000 })
      .toMatch(/1: digest: sha256:[0-9a-f]{64} size: \d+/);
    await expect.poll(() => page.locator("#registry-list").innerText()).toContain("localhost:5000/app:1");
    await screenshot(page, "build-03-pushed");

    // Gone from the image store, kept by the registry: pulled back, it runs what was built.
    await typeCommand(
      page,
      "docker rmi localhost:5000/app:1 >/dev/null && docker pull localhost:5000/app:1 >/dev/null && docker run --rm localhost:5000/app:1",
    );
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("built-in-the-page-42");
    // The second line of the container's output can trail the first: wait for it too.
    await expect.poll(() => terminalText(page)).toMatch(/^21 \/message\.txt$/m);
    await screenshot(page, "build-04-pulled-back");
  });
});
