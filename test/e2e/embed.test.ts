// The embed in real Chromium: the example article (web/examples/embed.html) with two <drydock-terminal> elements on
// one guest, each its own shell; the first pre-pulls busybox and runs its command. Then another origin loads the
// published module (embed/drydock.js) and drives the guest with boot() and docker().

import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";
import { type Browser, buildPage, launchBrowser, type PageServer, screenshot, servePage } from "./harness.ts";

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
  server = await servePage(outDir, { [registry.host]: registry.url });
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
