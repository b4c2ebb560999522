// The lessons panel in real Chromium: the course list, lesson 1 opened, a command block clicked into the terminal, and
// the step's check (run in the page's own guest) turning green; progress survives a reload. The page's registry proxy
// serves Docker Hub's `busybox` from a local registry, so the lesson's pre-pull works offline.
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";
import {
  type Browser,
  buildPage,
  launchBrowser,
  type PageServer,
  screenshot,
  servePage,
  terminalText,
  waitForPrompt,
} from "./harness.ts";

let registry: Registry;
let outDir: string;
let server: PageServer;
let browser: Browser;

beforeAll(async () => {
  registry = await startRegistry();
  const [{ busybox }, built] = await Promise.all([seedRegistry(registry, ["busybox"]), buildPage()]);
  outDir = built;
  // Docker Hub keeps official images under `library/`: copy the fixture there, and let the proxy's docker.io be it.
  await promisify(execFile)("skopeo", [
    "--insecure-policy",
    "copy",
    "--quiet",
    "--all",
    "--preserve-digests",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    `docker://${busybox.reference}`,
    `docker://${registry.host}/library/busybox:latest`,
  ]);
  server = await servePage(outDir, { "docker.io": registry.url });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await registry?.stop();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe("the lessons panel", () => {
  it("lists the course, opens lesson 1, and turns a step green once its clicked command has run", async () => {
    const { page } = browser;
    await page.goto(server.url);
    await waitForPrompt(page);
    const course = page.locator("#lessons .course-lesson");
    await expect.poll(() => course.count()).toBe(7);
    expect(await course.first().innerText()).toContain("Images and containers");
    await screenshot(page, "lessons-01-course");

    await page.click('#lessons [data-lesson="01-images-and-containers"]');
    const step = page.locator("#lessons article.step");
    expect(await step.getAttribute("data-step")).toBe("run-your-first-container");
    // The check runs once the image is pulled, and fails: nothing has been done yet.
    await expect.poll(() => step.getAttribute("data-state"), { timeout: 60_000 }).toBe("pending");
    expect(await page.locator("#lessons .check-status").innerText()).toBe("Not done yet");

    // Hints come one at a time.
    await page.click("#lessons .hint-box button");
    expect(await page.locator("#lessons .hint").count()).toBe(1);
    await screenshot(page, "lessons-02-step-open");

    await step.locator("button.command").first().click();
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("Hello from a container");
    await expect.poll(() => step.getAttribute("data-state"), { timeout: 30_000 }).toBe("done");
    expect(await page.locator("#lessons .check-status").innerText()).toContain("Done");
    expect(await page.locator("#lessons .step-dots li:first-child button").getAttribute("data-state")).toBe("done");
    // The screenshot waits for the terminal's painted rows, which can trail its accessibility tree by a frame.
    await expect.poll(() => page.locator("#terminal .xterm-rows").innerText()).toContain("Hello from a container");
    await screenshot(page, "lessons-03-step-done");
  });

  it("keeps progress across a reload", async () => {
    const { page } = browser;
    await page.click("#lessons .step-actions button:last-child");
    expect(await page.locator("#lessons article.step").getAttribute("data-step")).toBe("keep-a-container-running");
    // The tab beside the terminal is remembered too.
    await page.click("#tab-trace");
    expect(await page.locator("#lessons-pane").isHidden()).toBe(true);
    await page.reload();
    await waitForPrompt(page);
    expect(await page.locator("#trace-pane").isVisible()).toBe(true);
    await page.click("#tab-lessons");
    const step = page.locator("#lessons article.step");
    await expect.poll(() => step.getAttribute("data-step")).toBe("keep-a-container-running");
    expect(await page.locator("#lessons .step-dots li:first-child button").getAttribute("data-state")).toBe("done");
    await page.click("#lessons .lesson-head button:first-child");
    await expect
      .poll(() => page.locator('#lessons [data-lesson="01-images-and-containers"]').innerText())
      .toContain("1 of 5 steps");
  });
});
