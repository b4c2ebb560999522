// The playground in real Chromium: a production build served by `vite preview`, the registry proxy pointed at
// Debian's docker-registry seeded with fixture images. Screenshots of each stage go to test-results/e2e/.
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
let images: Record<"busybox" | "layers", SeededImage>;
let outDir: string;
let server: PageServer;
let browser: Browser;

beforeAll(async () => {
  registry = await startRegistry();
  [images, outDir] = await Promise.all([seedRegistry(registry, ["busybox", "layers"]), buildPage()]);
  server = await servePage(outDir, { [registry.host]: registry.url });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await registry?.stop();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe("the playground", () => {
  it("restores the guest and shows a shell prompt that runs commands", async () => {
    const { page } = browser;
    await page.goto(server.url);
    await waitForPrompt(page);
    await expect.poll(() => terminalText(page)).toContain("drydock:~#");
    await screenshot(page, "01-prompt");
    await typeCommand(page, "uname -a");
    await expect.poll(() => terminalText(page)).toMatch(/Linux drydock 6\.1\.\d+ .* i686 GNU\/Linux/);
    // The trace shows the start-up steps.
    const trace = await page.locator("#trace").innerText();
    expect(trace).toContain("restore_state");
    expect(trace).toContain("hello from drydockd");
    // A first visit hashes what it downloads before v86 sees it.
    expect(trace).toContain("downloads verified (sha256)");
    // The state's URL names its content, so it may be cached for good.
    const statePath = /GET (\/guest\/state-128m-[0-9a-f]{12}\.v86state\.zst)/.exec(trace)?.[1];
    expect(statePath).toBeDefined();
    const state = await fetch(new URL(statePath!, server.url));
    expect(state.headers.get("cache-control")).toContain("immutable");
    expect(new Uint8Array(await state.arrayBuffer()).subarray(0, 4)).toEqual(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd));
    await screenshot(page, "02-uname");
  });

  it("forwards the terminal's size to the guest's pty when the window changes", async () => {
    const { page } = browser;
    const size = async () => {
      await typeCommand(page, "clear; stty size");
      let text = "";
      await expect.poll(async () => (text = await terminalText(page))).toMatch(/^\s*\d+ \d+\s*$/m);
      return /^\s*(\d+ \d+)\s*$/m.exec(text)![1];
    };
    const before = await size();
    await page.setViewportSize({ width: 1024, height: 640 });
    await expect.poll(size).not.toBe(before);
    await page.setViewportSize({ width: 1280, height: 720 });
    await expect.poll(size).toBe(before);
  });

  it("opens and saves a guest file through the agent", async () => {
    const { page } = browser;
    // Monaco replaces the plain text area when the pane is first used, and takes the focus.
    expect(await page.locator("#file-editor .monaco-editor").count()).toBe(0);
    await page.click("#file-text");
    await page.waitForSelector("#files-pane[data-editor=monaco] .monaco-editor");
    await expect.poll(() => page.locator("#file-editor :focus").count()).toBe(1);
    expect(await page.locator("#file-text").isHidden()).toBe(true);
    // Monaco draws spaces as no-break spaces.
    const editorText = async () => (await page.locator("#file-editor .view-lines").innerText()).replace(/\u00a0/g, " ");
    // Open: a Dockerfile made in the guest, shown with its language's highlighting.
    await typeCommand(page, "printf 'FROM busybox\\nRUN echo hi\\n' > /root/Dockerfile");
    await page.fill("#file-path", "/root/Dockerfile");
    await page.click("#file-form button[type=submit]");
    await expect.poll(() => page.locator("#file-status").textContent()).toContain("Opened /root/Dockerfile");
    await expect.poll(editorText).toContain("RUN echo hi");
    expect(await page.locator("#file-editor").getAttribute("data-mode-id")).toBe("dockerfile");
    // Edit in Monaco, save with the button.
    await page.click("#file-editor .view-lines");
    await page.keyboard.press("ControlOrMeta+End");
    await page.keyboard.type("ENV A=1");
    await screenshot(page, "02b-file-open");
    await page.click("#file-save");
    await expect.poll(() => page.locator("#file-status").textContent()).toContain("Saved /root/Dockerfile");
    await typeCommand(page, "cat /root/Dockerfile");
    await expect.poll(() => terminalText(page)).toContain("ENV A=1");
    // A new file, typed into Monaco and saved with Ctrl+S.
    await page.fill("#file-path", "/root/notes.txt");
    await page.click("#file-editor .view-lines");
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type("written from the page\n");
    await page.keyboard.press("ControlOrMeta+S");
    await expect.poll(() => page.locator("#file-status").textContent()).toContain("Saved /root/notes.txt");
    await typeCommand(page, "cat /root/notes.txt");
    await expect.poll(() => terminalText(page)).toContain("written from the page");
  });

  it("pulls images through the proxy into OPFS with a progress bar per layer", async () => {
    const { page } = browser;
    await expect.poll(() => page.locator("html").getAttribute("data-proxy")).toBe("up");
    await page.click("#tab-images");
    // Hold each layer's response for a moment so the bars can be seen (and photographed) mid-pull.
    await page.route("**/registry/v2/**/blobs/**", async (route) => {
      const response = await route.fetch();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await route.fulfill({ response });
    });
    await page.fill("#pull-ref", images.layers.reference);
    await page.click("#pull-form button[type=submit]");
    await page.waitForSelector("#layers li");
    await screenshot(page, "03-pulling");
    await expect.poll(() => page.locator("#layers li[data-status=complete]").count(), { timeout: 30_000 }).toBe(3);
    await page.unroute("**/registry/v2/**/blobs/**");
    await page.fill("#pull-ref", images.busybox.reference);
    await page.click("#pull-form button[type=submit]");
    await expect.poll(() => page.locator("#proxy-status").textContent(), { timeout: 30_000 }).toContain("Pulled");
    await expect.poll(() => page.locator("#layers li").count()).toBe(1);
    expect(await page.locator("#layers li").getAttribute("data-status")).toBe("complete");
    // The list is refreshed after the pull's last line: wait for it rather than read it once.
    await expect.poll(() => page.locator("#image-list").innerText()).toContain(`${registry.host}/busybox:latest`);
    expect(await page.locator("#image-list").innerText()).toContain(`${registry.host}/layers:latest`);
    const trace = await page.locator("#trace").innerText();
    expect(trace).toContain(`GET /registry/v2/${registry.host}/busybox/manifests/latest`);
    await screenshot(page, "04-pulled");
    // The guest's docker and curl reach the same engine: the images pulled from the pane are its images.
    await typeCommand(page, "docker images --format '{{.Repository}}:{{.Tag}}' | sort");
    await expect.poll(() => terminalText(page)).toContain(`${registry.host}/layers:latest`);
    await typeCommand(page, "curl -s --unix-socket /var/run/docker.sock http://localhost/_ping; echo");
    await expect.poll(() => terminalText(page)).toMatch(/^OK$/m);
    await page.click("#tab-trace");
    await expect.poll(() => page.locator("#trace").innerText()).toContain("GET /_ping → 200");
    await screenshot(page, "04b-docker-in-terminal");
    // An interactive exec in the browser: the exec's start config must not leak into the shell's input (a browser
    // drops Content-Length from the in-process request), and the terminal must be the container's.
    await typeCommand(page, `docker run -d --name e2e ${registry.host}/busybox sleep 300 >/dev/null`);
    await typeCommand(page, "docker exec -it e2e sh");
    await expect.poll(() => terminalText(page)).toMatch(/^\/ # $/m);
    await typeCommand(page, "echo inside-$((6*7)) $(hostname | wc -c)");
    // Wait for the container shell's next prompt: busybox sh asks the terminal where the cursor is after each one,
    // and an answer that arrives after `exit` would be typed into the guest's own shell instead.
    await expect.poll(() => terminalText(page)).toMatch(/inside-42 13\n\/ # /);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await typeCommand(page, "exit");
    // Keys typed before the guest's prompt is back would still go to the ending exec session, as with real docker.
    await expect.poll(() => terminalText(page)).toMatch(/\/ # exit\s*\ndrydock:~# \s*$/);
    await typeCommand(page, "docker rm -f e2e");
    await expect.poll(() => terminalText(page)).toMatch(/^e2e$/m);
    expect(await terminalText(page)).not.toContain('"Detach"');
    await page.click("#tab-images");
  });

  it("keeps pulled images across a reload, and shows the dark theme", async () => {
    const { page } = browser;
    await page.emulateMedia({ colorScheme: "dark" });
    await page.reload();
    await waitForPrompt(page);
    // The guest's files come back from the page's own store, as they were verified on the first visit.
    const reloadTrace = await page.locator("#trace").innerText();
    expect(reloadTrace).toContain("guest files read from the verified store");
    // …and the trace says no request for them went out.
    expect(reloadTrace).not.toMatch(/GET \/guest\//);
    await expect.poll(() => page.locator("#image-list").innerText()).toContain(`${registry.host}/busybox:latest`);
    // What is used and what is free; the page asked for persistent storage and says what it got.
    expect(await page.locator("#storage-used").textContent()).toMatch(/^\d.* \(\d.* free\)$/);
    expect(await page.locator("#storage-kind").getAttribute("data-persisted")).toMatch(/^(true|false)$/);
    await typeCommand(page, "echo again-$((20+22))");
    await expect.poll(() => terminalText(page)).toContain("again-42");
    await screenshot(page, "05-reloaded-dark");
    await page.emulateMedia({ colorScheme: "light" });
  });

  it("says when the registry proxy is unreachable, and the shell keeps working", async () => {
    const { page } = browser;
    await page.goto(`${server.url}?proxy=${encodeURIComponent("http://127.0.0.1:9/registry")}`);
    await waitForPrompt(page);
    await page.click("#tab-images");
    await expect.poll(() => page.locator("#proxy-status").textContent()).toContain("unreachable");
    expect(await page.locator("#pull-form button[type=submit]").isDisabled()).toBe(true);
    await typeCommand(page, "echo still-$((6*7))");
    await expect.poll(() => terminalText(page)).toContain("still-42");
    await screenshot(page, "06-proxy-down");
  });

  it("downloads the guest's files again when the stored copy of the state was damaged since it was checked", async () => {
    const { page } = browser;
    // Overwrite the stored state (the one large file in the store) with bytes of the same size.
    const damaged = await page.evaluate(`navigator.storage.getDirectory().then(async (root) => {
      const dir = await root.getDirectoryHandle("drydock-guest-verified");
      for await (const [name, handle] of dir.entries()) {
        const file = await handle.getFile();
        if (file.size < 1e6) continue;
        const writable = await handle.createWritable();
        await writable.write(new Uint8Array(file.size).fill(7));
        await writable.close();
        return name;
      }
    })`);
    expect(damaged).toMatch(/^[0-9a-f]{64}$/);
    await page.reload();
    await waitForPrompt(page);
    const trace = await page.locator("#trace").innerText();
    expect(trace).toContain("downloading the guest's files again");
    expect(trace).toContain("downloads verified (sha256)");
    await typeCommand(page, "echo again-$((6*7))");
    await expect.poll(() => terminalText(page)).toContain("again-42");
    // The good copy is stored again, for the next visit.
    await page.reload();
    await waitForPrompt(page);
    expect(await page.locator("#trace").innerText()).toContain("guest files read from the verified store");
  });

  it("says what failed when the saved state cannot be loaded", async () => {
    const { page } = browser;
    // A visit that must download the state: the earlier visits stored it (verified) in the page's OPFS.
    await page.evaluate(
      `navigator.storage.getDirectory().then((root) => root.removeEntry("drydock-guest-verified", { recursive: true }))`,
    );
    // Without the page's preview service worker: a request it passes on to the network is not seen by page.route.
    await page.evaluate(
      `navigator.serviceWorker.getRegistrations().then((all) => Promise.all(all.map((r) => r.unregister())))`,
    );
    await page.route("**/guest/state-*", (route) => route.fulfill({ status: 404, body: "gone" }));
    await page.goto(server.url);
    await page.waitForSelector("html[data-state=error]");
    const banner = await page.locator("#banner").textContent();
    expect(banner).toContain("saved machine state");
    expect(banner).toContain("HTTP 404");
    await screenshot(page, "07-state-failed");
    await page.unroute("**/guest/state-*");
  });
});
