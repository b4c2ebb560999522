// The inspector in real Chromium: a running container's layers (from the image store and its overlay mount), its PID
// namespace from both sides (NSpid from the guest's /proc), and a memory graph that rises as the container allocates
// and marks the OOM kill (memory.events). Screenshots go to test-results/e2e/ (inspector-*.png).
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";
import {
  type Browser,
  buildPage,
  launchBrowser,
  type PageServer,
  screenshot,
  servePage,
  terminalText,
  typeCommand,
  waitForPrompt,
} from "./harness.ts";

let registry: Registry;
let images: Record<"busybox" | "multi" | "layers", SeededImage>;
let outDir: string;
let server: PageServer;
let browser: Browser;

beforeAll(async () => {
  registry = await startRegistry();
  [images, outDir] = await Promise.all([seedRegistry(registry, ["busybox", "multi", "layers"]), buildPage()]);
  server = await servePage(outDir, { [registry.host]: registry.url });
  browser = await launchBrowser();
  await browser.page.setViewportSize({ width: 1280, height: 900 });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await registry?.stop();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe("the inspector", () => {
  it("is not loaded until used, then shows a running container's layers and its PID namespace from both sides", async () => {
    const { page } = browser;
    const scripts: string[] = [];
    page.on("request", (request) => {
      if (request.resourceType() === "script") scripts.push(request.url());
    });
    await page.goto(server.url);
    await waitForPrompt(page);
    expect(scripts.some((url) => /inspector/.test(url))).toBe(false);
    await expect.poll(() => page.locator("html").getAttribute("data-proxy")).toBe("up");
    const { busybox, multi } = images;
    // The busybox layer, as the registry names it.
    const manifest = (await (
      await fetch(`${registry.url}/v2/busybox/manifests/latest`, {
        headers: {
          accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        },
      })
    ).json()) as { layers: { digest: string; size: number }[] };
    const layerDigest = manifest.layers[0]!.digest;
    await typeCommand(
      page,
      `docker pull -q ${multi.reference} && docker pull -q ${busybox.reference} && echo pulled-$((40+2))`,
    );
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("pulled-42");
    await typeCommand(
      page,
      `docker run -d --name web --hostname inspected ${busybox.reference} sh -c 'echo hi > /made; sleep 600 & sleep 600; true'`,
    );
    await typeCommand(page, "clear; docker ps --no-trunc");
    await expect.poll(() => terminalText(page)).toMatch(/^[0-9a-f]{64} /m);
    const id = /^([0-9a-f]{64}) /m.exec(await terminalText(page))![1]!;
    // The ID in docker ps's output is a link to the inspector, with Ctrl+click: a plain click only focuses the terminal.
    const row = page.locator(".xterm-rows > div", { hasText: id.slice(0, 20) }).first();
    const box = (await row.boundingBox())!;
    await page.mouse.move(box.x + 30, box.y + box.height / 2);
    await expect.poll(() => page.locator("#terminal .xterm").getAttribute("title")).toContain("Ctrl+click");
    await page.mouse.click(box.x + 30, box.y + box.height / 2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await page.locator("#inspect-pane").isVisible()).toBe(false);
    await page.keyboard.down("Control");
    await page.mouse.click(box.x + 30, box.y + box.height / 2);
    await page.keyboard.up("Control");
    await expect.poll(() => page.locator("#inspect-pane").isVisible()).toBe(true);
    expect(scripts.some((url) => /inspector/.test(url))).toBe(true);
    await expect.poll(() => page.locator("#inspector").getAttribute("data-container")).toBe(id);
    // Layers: busybox's one, with its digest, size and the step that made it, shared with the multi image; the
    // writable layer on top with the file the container made.
    const stack = page.locator("#inspector [data-section=layers] .layer");
    await expect
      .poll(async () => (await stack.count()) || (await page.locator("#inspector").innerText()), { timeout: 60_000 })
      .toBe(2);
    const lower = page.locator("#inspector [data-section=layers] .layer:not(.upper)");
    expect(await lower.getAttribute("data-layer")).toBe(layerDigest);
    const lowerText = await lower.innerText();
    expect(lowerText).toContain(layerDigest.replace("sha256:", "").slice(0, 12));
    expect(lowerText).toMatch(/\d+(\.\d)? (B|KB|MB) unpacked/);
    expect(lowerText).toContain(`shared with ${registry.host}/multi:latest`);
    expect(lowerText).toMatch(/\/var\/lib\/drydock|\/layers?\//);
    await expect.poll(() => page.locator("#inspector .layer.upper").innerText()).toContain("A /made");
    expect(await page.locator("#inspector [data-section=layers]").innerText()).toMatch(
      /Mounted as:\s+overlay .*lowerdir=/,
    );
    // The PID namespace from both sides: the container's PID 1 is a guest pid much larger than 1, and both sleeps are
    // there with their two numbers.
    const rows = page.locator("#inspector .proc-table tbody tr");
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(3);
    const init = page.locator("#inspector .proc-table tr[data-container-pid='1']");
    expect(Number(await init.getAttribute("data-guest-pid"))).toBeGreaterThan(1);
    expect(await init.innerText()).toContain("sh -c");
    const pidNs = page.locator("#inspector .ns-table tr[data-ns=pid]");
    expect(await pidNs.getAttribute("data-shared")).toBe("false");
    expect(await page.locator("#inspector .ns-table tr[data-ns=uts]").getAttribute("data-shared")).toBe("false");
    expect(await page.locator("#inspector [data-section=namespaces]").innerText()).toContain("inspected");
    // The same numbers the guest's own ps shows.
    const guestPid = await init.getAttribute("data-guest-pid");
    await typeCommand(page, `clear; grep NSpid /proc/${guestPid}/status`);
    await expect.poll(() => terminalText(page)).toMatch(new RegExp(`NSpid:\\s+${guestPid}\\s+1`));
    await page.locator("#inspector [data-section=namespaces]").scrollIntoViewIfNeeded();
    await screenshot(page, "inspector-01-layers-and-pids");
    await page.locator("#inspector [data-section=layers]").scrollIntoViewIfNeeded();
    await screenshot(page, "inspector-02-layers");
    // The last pull's waterfall: one row per layer with its download, unpack and verify (the three-layer image, none
    // of whose layers is stored yet).
    await typeCommand(page, `clear; docker pull -q ${images.layers.reference} && echo pulled-layers`);
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toMatch(/^pulled-layers$/m);
    await page.click("#inspect-refresh");
    await expect.poll(() => page.locator("#inspector [data-section=pull] h3").innerText()).toContain("layers");
    const waterfall = page.locator("#inspector [data-section=pull] .waterfall-layers li");
    expect(await waterfall.count()).toBe(3);
    for (const row of await waterfall.allInnerTexts())
      expect(row).toMatch(/download \d+ ms · unpack \d+ ms · verify \d+ ms/);
    expect(await page.locator("#inspector .waterfall rect.download").count()).toBe(3);
    await page.locator("#inspector [data-section=pull]").scrollIntoViewIfNeeded();
    await screenshot(page, "inspector-04-pull-waterfall");
    await typeCommand(page, "docker rm -f web");
  });

  it("draws memory.current rising as the container allocates, against memory.max, and marks the OOM kill", async () => {
    const { page } = browser;
    await typeCommand(
      page,
      `clear; docker run -d --name hog -m 24m ${images.busybox.reference} sh -c 'sleep 4; tail /dev/zero; sleep 600'`,
    );
    await typeCommand(page, "clear; docker inspect -f '{{.Id}}' hog");
    await expect.poll(() => terminalText(page)).toMatch(/^[0-9a-f]{64}$/m);
    const id = /^([0-9a-f]{64})$/m.exec(await terminalText(page))![1]!;
    await page.click("#tab-inspect");
    await page.click("#inspect-refresh");
    await expect.poll(() => page.locator(`#inspect-container option[value="${id}"]`).count()).toBe(1);
    await page.selectOption("#inspect-container", id);
    await expect.poll(() => page.locator("#inspect-container option:checked").innerText()).toContain("hog");
    const memory = page.locator("#inspector figure:has([data-graph=memory])");
    // Before the allocation: well under the limit; the limit itself is the cgroup's memory.max.
    await expect.poll(() => memory.innerText(), { timeout: 20_000 }).toMatch(/\/ 25\.2 MB/);
    const first = Number(await memory.getAttribute("data-last"));
    expect(first).toBeLessThan(8_000_000);
    // tail of /dev/zero keeps every byte (no newline ever comes): memory climbs to the limit and the OOM killer ends
    // tail, not the container. The climb can fall between two readings; memory.peak, shown beside, keeps it.
    await expect
      .poll(() => page.locator("#inspector .oom-note[data-oom-kills]").count(), { timeout: 60_000, interval: 500 })
      .toBe(1);
    expect(Number(await memory.getAttribute("data-peak"))).toBeGreaterThan(first + 8_000_000);
    expect(await memory.innerText()).toMatch(/peak 2\d\.\d MB/);
    await expect.poll(() => page.locator("#inspector .oom-mark").count()).toBeGreaterThan(0);
    expect(await page.locator("#inspector .oom-note[data-oom-kills]").innerText()).toContain("OOM killer killed 1");
    await page.locator("#inspector [data-section=cgroup]").scrollIntoViewIfNeeded();
    await screenshot(page, "inspector-03-memory-oom");
    // The container itself lives on (its pid 1 was not the one killed).
    await typeCommand(page, "clear; docker inspect -f '{{.State.Status}}' hog");
    await expect.poll(() => terminalText(page)).toMatch(/^running$/m);
    await typeCommand(page, "docker rm -f hog");
  });
});
