// The embed in real Chromium: the example article (web/examples/embed.html) with two <drydock-terminal> elements on
// one guest, each its own shell; the first pre-pulls busybox and runs its command. Then another origin loads the
// published module (embed/drydock.js) and drives the guest with boot() and docker(). A guest that crashes under the
// article offers a fresh one in each terminal.

import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";
import {
  type Browser,
  buildPage,
  launchBrowser,
  mirrorAsOfficialImage,
  type PageServer,
  screenshot,
  servePage,
} from "./harness.ts";

let registry: Registry;
let busybox: SeededImage;
let outDir: string;
let server: PageServer;
let browser: Browser;
let other: Server;

beforeAll(async () => {
  registry = await startRegistry();
  let images: Record<"busybox", SeededImage>;
  [images, outDir] = await Promise.all([seedRegistry(registry, ["busybox"]), buildPage()]);
  busybox = images.busybox;
  // Docker Hub keeps official images under `library/`: a lesson's `images: [busybox]` pulls it from there.
  await mirrorAsOfficialImage(registry, busybox, "busybox");
  server = await servePage(outDir, { [registry.host]: registry.url, "docker.io": registry.url });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (other ? other.close(resolve) : resolve(undefined)));
  await server?.close();
  await registry?.stop();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

/** The text a screen reader gets from one embedded terminal. */
function embeddedText(id: string) {
  return () => browser.page.locator(`#${id} .xterm-accessibility-tree`).innerText();
}

describe("the embed", () => {
  it("the example article embeds two working terminals on one guest", async () => {
    const { page } = browser;
    // The page's own attributes name images by their short name; here they come from the local registry.
    await page.route("**/examples/embed.html", async (route) => {
      const response = await route.fetch();
      const html = (await response.text()).replaceAll("busybox", busybox.reference.replace(/:latest$/, ""));
      await route.fulfill({ response, body: html });
    });
    await page.goto(new URL("examples/embed.html", server.url).href);
    await page.waitForSelector("#first[data-state=ready]", { timeout: 60_000 });
    await page.waitForSelector("#second[data-state=ready]", { timeout: 60_000 });
    // The first ran its command in a container after pulling its image: the container's own host name and pid.
    await expect.poll(embeddedText("first"), { timeout: 60_000 }).toMatch(/^box$/m);
    await expect.poll(embeddedText("first")).toMatch(/^my pid is 1$/m);
    await expect.poll(embeddedText("second")).toMatch(/^Linux 6\.1\.\d+/m);
    // Each is a shell of its own; a container started in one is seen from the other (one guest, one engine).
    await page.locator("#second .xterm").click();
    await page.keyboard.type(`docker run -d --name shared ${busybox.reference} sleep 600 >/dev/null; echo started\n`);
    await expect.poll(embeddedText("second"), { timeout: 30_000 }).toMatch(/^started$/m);
    await page.locator("#first .xterm").click();
    await page.keyboard.type("docker ps --format '{{.Names}}'\n");
    await expect.poll(embeddedText("first")).toMatch(/^shared$/m);
    await screenshot(page, "embed-01-article");
  });

  it("a terminal with a lesson attribute (a name as the README writes it) shows that lesson, and its check turns green in the embedding page; a name that is no lesson says so", {
    timeout: 240_000,
  }, async () => {
    const { page } = browser;
    const moduleUrl = new URL("embed/drydock.js", server.url).href;
    // Lesson 1 pre-pulls Docker Hub's `busybox`; the page's proxy maps docker.io to the local registry.
    const lessonPage = createServer((_, response) => {
      response.setHeader("content-type", "text/html");
      response.end(`<!doctype html><html lang="en"><title>A course page</title><body><main><h1>Try it</h1>
<script type="module" src=${JSON.stringify(moduleUrl)}></script>
<drydock-terminal id="lesson" rows="10" lesson="images-and-containers"></drydock-terminal>
<drydock-terminal id="typo" rows="4" lesson="namespace"></drydock-terminal></main></body></html>`);
    });
    await new Promise<void>((resolve) => lessonPage.listen(0, "127.0.0.1", resolve));
    try {
      await page.goto(`http://localhost:${(lessonPage.address() as AddressInfo).port}/`);
      const step = page.locator("#lesson .drydock-lesson article.step");
      await expect.poll(() => step.getAttribute("data-step"), { timeout: 90_000 }).toBe("run-your-first-container");
      await expect.poll(() => step.getAttribute("data-state"), { timeout: 60_000 }).toBe("pending");
      // The lesson's command button types into this terminal's shell; the check runs in the same guest.
      await step.locator("button.command").first().click();
      await expect.poll(embeddedText("lesson"), { timeout: 60_000 }).toMatch(/^Hello from a container$/m);
      await expect.poll(() => step.getAttribute("data-state"), { timeout: 30_000 }).toBe("done");
      // A misspelt name: no course list in its place, but what went wrong and the names that work.
      const typo = page.locator("#typo .drydock-lesson [role=alert]");
      await expect.poll(() => typo.count()).toBe(1);
      expect(await typo.innerText()).toMatch(
        /^There is no lesson "namespace" in the course: use one of .*\bnamespaces\b/,
      );
      expect(await page.locator("#typo .drydock-lesson .course-lesson").count()).toBe(0);
      await screenshot(page, "embed-02-lesson");
      await typo.scrollIntoViewIfNeeded();
      await screenshot(page, "embed-02-lesson-unknown");
    } finally {
      await new Promise((resolve) => lessonPage.close(resolve));
    }
  });

  it("a guest that crashes under the article says so in both terminals, and one click gives both a fresh shell", async () => {
    const { page } = browser;
    await page.goto(new URL("examples/embed.html", server.url).href);
    await page.waitForSelector("#first[data-state=ready]", { timeout: 60_000 });
    await page.waitForSelector("#second[data-state=ready]", { timeout: 60_000 });
    await expect.poll(embeddedText("first"), { timeout: 60_000 }).toMatch(/^box$/m);
    await page.locator("#second .xterm").click();
    await page.keyboard.type(`docker run -d --name doomed ${busybox.reference} sleep 600 >/dev/null; echo up\n`);
    await expect.poll(embeddedText("second"), { timeout: 30_000 }).toMatch(/^up$/m);
    await page.keyboard.type("echo c > /proc/sysrq-trigger\n");
    for (const id of ["first", "second"]) {
      const fault = page.locator(`#${id} .drydock-fault[role=alert]`);
      await expect.poll(() => fault.count(), { timeout: 30_000 }).toBe(1);
      expect(await fault.innerText()).toMatch(/The guest machine failed: the guest crashed \(Kernel panic/);
      await expect.poll(embeddedText(id)).toContain("[the guest failed:");
    }
    await screenshot(page, "embed-03-crashed");
    await page.locator("#first .drydock-fault button").click();
    for (const id of ["first", "second"]) {
      await expect.poll(() => page.locator(`#${id} .drydock-fault`).count(), { timeout: 60_000 }).toBe(0);
      await page.waitForSelector(`#${id}[data-state=ready]`, { timeout: 30_000 });
    }
    // The fresh guest: the image pulled before the crash is still there, and the old guest's container, exited.
    await page.locator("#second .xterm").click();
    await page.keyboard.type(
      "docker ps -a --format 'kept:{{.Names}} {{.Status}}'; docker images -q | wc -l | sed 's/^/images: /'\n",
    );
    await expect.poll(embeddedText("second"), { timeout: 30_000 }).toMatch(/^images: [1-9]/m);
    expect(await embeddedText("second")()).toMatch(/^kept:doomed Exited \(255\)/m);
    await screenshot(page, "embed-04-fresh-guest");
  });

  it("another site loads the published module and drives the guest with boot() and docker()", async () => {
    const { page } = browser;
    const moduleUrl = new URL("embed/drydock.js", server.url).href;
    // A page of another origin (another loopback port), as a tutorial site would be.
    other = createServer((_, response) => {
      response.setHeader("content-type", "text/html");
      response.end(`<!doctype html><html lang="en"><title>A tutorial</title><body><p id="out">…</p>
<script type="module">
  import { boot } from ${JSON.stringify(moduleUrl)};
  const drydock = await boot();
  const { code, output } = await drydock.docker(["run", "--rm", ${JSON.stringify(busybox.reference)}, "sh", "-c", "echo from-$((6*7))"]);
  const sh = await drydock.spawn("sh", ["-c", "uname -m"]);
  // docker() gives what the command printed on both streams: the pull's progress (stderr), then the output.
  document.getElementById("out").textContent = code + ":" + output.trim().split("\\n").pop() + ":" + (await new Response(sh.output).text()).trim();
</script></body></html>`);
    });
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    const origin = `http://localhost:${(other.address() as AddressInfo).port}/`;
    await page.goto(origin);
    await expect.poll(() => page.locator("#out").textContent(), { timeout: 90_000 }).toBe("0:from-42:i686");
  });
});
