// Previews in real Chromium: a web server in the guest (busybox httpd) opened in a tab of its own at
// `/preview/<port>/`, answered by the page's service worker through the tab's engine and a TCP connection in the
// guest. The page's absolute-path stylesheet applies, a POST body arrives intact (its sha256 computed by a CGI script
// in the guest), the app's headers and statuses come through, and the Ports view is accessible.
import { createHash } from "node:crypto";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import {
  screenshot,
  seriousViolations,
  terminalText,
  typeCommand,
  usePageWithRegistry,
  waitForPrompt,
} from "./harness.ts";

const started = usePageWithRegistry(["busybox"]);

/** The site busybox httpd serves from /tmp/site in the guest: a page, its stylesheet at an absolute path, a CGI. */
const SITE =
  "mkdir -p /tmp/site/cgi-bin && cd /tmp/site && " +
  `printf '<!doctype html><html lang="en"><head><title>Hello from the guest</title>` +
  `<link rel="stylesheet" href="/style.css"></head><body><h1>Served by busybox httpd in the guest</h1>` +
  `<p id="where">port 8080, through the preview</p></body></html>' > index.html && ` +
  "printf 'body{background:rgb(1, 120, 200);color:white;font:24px sans-serif}' > style.css && " +
  `printf '#!/bin/sh\\necho "Content-Type: text/plain"\\necho "X-Preview-Check: intact"\\necho\\nsha256sum\\n' ` +
  "> cgi-bin/sum && chmod +x cgi-bin/sum && cd / && httpd -p 8080 -h /tmp/site && echo httpd-$((40+2))";

async function openPreview(_page: Page, port: number): Promise<Page> {
  const preview = await started.browser.context.newPage();
  await preview.goto(new URL(`preview/${port}/`, started.server.url).href);
  return preview;
}

describe("previews of the guest's web servers", () => {
  let preview: Page;

  it("opens a page served in the guest in a tab of its own, its absolute-path stylesheet applied", async () => {
    const { page } = started.browser;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    // The service worker controls the page once registered (clients.claim) and has this tab's engine.
    await expect
      .poll(() => page.evaluate("navigator.serviceWorker.controller !== null"), { timeout: 60_000 })
      .toBe(true);
    await typeCommand(page, SITE);
    await expect.poll(() => terminalText(page), { timeout: 30_000 }).toContain("httpd-42");
    preview = await openPreview(page, 8080);
    await expect.poll(() => preview.title(), { timeout: 30_000 }).toBe("Hello from the guest");
    expect(await preview.locator("h1").textContent()).toBe("Served by busybox httpd in the guest");
    // /style.css is the app's, not the playground's: it came from the guest through the preview's client.
    await expect
      .poll(() => preview.evaluate("getComputedStyle(document.body).backgroundColor"))
      .toBe("rgb(1, 120, 200)");
    expect(preview.url()).toBe(new URL("preview/8080/", started.server.url).href);
    await screenshot(preview, "preview-01-page");
    // The playground's trace shows each request as the guest saw it.
    await page.click("#tab-trace");
    await expect
      .poll(() => page.locator("#trace").innerText())
      .toMatch(/GET http:\/\/127\.0\.0\.1:8080\/style\.css → 200/);
  });

  it("carries a POST body intact to the app and its answer's headers back", async () => {
    // 300 KB of bytes that are not text, so nothing on the way may decode or re-encode them.
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919 + (i >> 8)) & 0xff;
    const expected = createHash("sha256").update(body).digest("hex");
    const answer = await preview.evaluate(async (bytes: number[]) => {
      const response = await fetch("/cgi-bin/sum", { method: "POST", body: new Uint8Array(bytes) });
      return { status: response.status, check: response.headers.get("x-preview-check"), text: await response.text() };
    }, Array.from(body));
    expect(answer.status).toBe(200);
    expect(answer.check).toBe("intact");
    expect(answer.text.trim().split(/\s+/)[0]).toBe(expected);
  });

  it("passes the app's statuses through, and says clearly when nothing listens on a port", async () => {
    const missing = await preview.evaluate(async () => (await fetch("/no-such-page")).status);
    expect(missing).toBe(404);
    const nobody = await openPreview(started.browser.page, 8099);
    await expect.poll(() => nobody.locator("h1").textContent(), { timeout: 30_000 }).toBe("Drydock preview: 502");
    expect(await nobody.locator("p").textContent()).toMatch(/Nothing answered HTTP on port 8099 of the guest/);
    await nobody.close();
  });

  it("lists a container's published port (-p) in an accessible Ports view whose link opens its preview", async () => {
    const { page } = started.browser;
    await page.click("#tab-ports");
    await expect.poll(() => page.locator("#port-list").innerText()).toContain("No published ports");
    await typeCommand(
      page,
      `docker run -d --name web -p 8081:80 ${started.images.busybox.reference} sh -c ` +
        `'mkdir -p /www && echo "<title>From a container</title><h1>Served from a container, port 80</h1>" ` +
        `> /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null && echo run-$((40+2))`,
    );
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("run-42");
    // The view follows the container's start event.
    const row = page.locator('#port-list li[data-host-port="8081"]');
    await expect.poll(() => row.innerText(), { timeout: 30_000 }).toContain("0.0.0.0:8081 → 80/tcp");
    expect(await row.innerText()).toContain("web");
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, "preview-02-ports-view");
    const [tab] = await Promise.all([started.browser.context.waitForEvent("page"), row.locator("a").click()]);
    await expect.poll(() => tab.title(), { timeout: 30_000 }).toBe("From a container");
    expect(tab.url()).toBe(new URL("preview/8081/", started.server.url).href);
    expect(await tab.locator("h1").textContent()).toBe("Served from a container, port 80");
    await screenshot(tab, "preview-03-container-page");
    // Stopping the container takes its port out of the list.
    await typeCommand(page, "docker rm -f web >/dev/null && echo gone-$((40+2))");
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("gone-42");
    await expect.poll(() => page.locator("#port-list").innerText()).toContain("No published ports");
  });
});
