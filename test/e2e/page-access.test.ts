// A page every user can work, in real Chromium: keyboard and screen-reader access checked with axe-core, Tab out of
// the terminal, the registry-proxy setting, copy and paste, the editor's height, what the page's docker refuses, and
// the terminal after an interactive exec.

import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  screenshot,
  seriousViolations,
  terminalText,
  typeCommand,
  usePageWithRegistry,
  waitForPrompt,
} from "./harness.ts";

const started = usePageWithRegistry(["busybox"]);

beforeAll(async () => {
  await started.browser.context.grantPermissions(["clipboard-read", "clipboard-write"], {
    origin: new URL(started.server.url).origin,
  });
});

/** The terminal's text on one line: a long message wraps at the terminal's width. */
async function flatText(page: Page): Promise<string> {
  return (await terminalText(page)).replace(/\n/g, "");
}

/** Whether the focus is inside `selector`. */
function inside(page: Page, selector: string): Promise<boolean> {
  return page.evaluate<boolean>(`document.activeElement?.closest(${JSON.stringify(selector)}) != null`);
}

/** What has the focus: its id, else its label, else its tag. */
function focused(page: Page): Promise<string> {
  return page.evaluate<string>(`(() => {
    const element = document.activeElement;
    if (!element) return "";
    return element.id || element.getAttribute("aria-label") || element.tagName.toLowerCase();
  })()`);
}

describe("a page every user can work", () => {
  it("has no serious or critical accessibility violation (axe-core), on every tab and with the editor open", async () => {
    const { page } = started.browser;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    await expect.poll(() => page.locator("#proxy-state").getAttribute("data-proxy")).toBe("up");
    for (const tab of ["#tab-lessons", "#tab-images", "#tab-trace", "#tab-ports", "#tab-inspect"]) {
      await page.click(tab);
      expect(await seriousViolations(page), tab).toEqual([]);
    }
    await page.click("#file-text");
    await page.waitForSelector("#files-pane[data-editor=monaco] .monaco-editor");
    expect(await seriousViolations(page), "with Monaco").toEqual([]);
    await screenshot(page, "access-01-editor-open");
  });

  it("Ctrl+M lets Tab leave the terminal (and says so); every control is reached from the keyboard", async () => {
    const { page } = started.browser;
    await page.reload();
    await waitForPrompt(page);
    await page.locator("#terminal").click();
    // By default Tab is the shell's: completion.
    await page.keyboard.type("ech");
    await page.keyboard.press("Tab");
    await page.keyboard.type(" tab-$((40+2))");
    await page.keyboard.press("Enter");
    await expect.poll(() => terminalText(page)).toContain("tab-42");
    expect(await focused(page)).not.toBe("body");
    expect(await inside(page, "#terminal")).toBe(true);
    // Ctrl+M: Tab now moves on, and a screen reader hears it.
    await page.keyboard.press("Control+M");
    await expect
      .poll(() => page.locator("#announce").textContent())
      .toContain("Tab now moves focus out of the terminal");
    await page.keyboard.press("Tab");
    expect(await inside(page, "#terminal").then((yes) => !yes), await focused(page)).toBe(true);
    // Walk the whole page with Tab: every control gets the focus, each with a name.
    const seen = new Set<string>();
    let editorReleased = false;
    for (let i = 0; i < 40; i++) {
      seen.add(await focused(page));
      // Monaco keeps Tab too until Ctrl+M, the same key.
      const inEditor = await inside(page, "#file-editor");
      if (inEditor && !editorReleased) {
        await page.keyboard.press("Control+M");
        editorReleased = true;
      }
      await page.keyboard.press("Tab");
    }
    for (const control of ["file-path", "file-save", "proxy-state", "theme-toggle", "inspect-refresh"])
      expect(seen, [...seen].join(" | ")).toContain(control);
    // The tab list is one stop (its selected tab), as ARIA's tabs pattern has it.
    expect([...seen].filter((name) => name.startsWith("tab-"))).toHaveLength(1);
    // Ctrl+M again gives Tab back to the shell.
    await page.locator("#terminal").click();
    await page.keyboard.press("Control+M");
    await expect.poll(() => page.locator("#announce").textContent()).toContain("Tab now goes to the shell");
    await page.keyboard.press("Tab");
    expect(await inside(page, "#terminal")).toBe(true);
    await page.keyboard.press("Control+C");
  });

  it("the proxy setting saves, is used at once, and survives a reload; its state shows from every tab", async () => {
    const { page } = started.browser;
    await page.click("#tab-lessons");
    // A proxy that does not answer: the header says so while the Lessons tab is showing.
    await page.click("#proxy-state");
    expect(await page.locator("#images-pane").isVisible()).toBe(true);
    expect(await focused(page)).toBe("proxy-url");
    await page.fill("#proxy-url", "http://127.0.0.1:9/registry");
    await page.keyboard.press("Enter");
    await page.click("#tab-lessons");
    await expect.poll(() => page.locator("#proxy-state").getAttribute("data-proxy")).toBe("down");
    expect(await page.locator("#proxy-state").textContent()).toBe("Proxy: unreachable");
    expect(await page.locator("#proxy-state").getAttribute("aria-label")).toContain("http://127.0.0.1:9/registry");
    await screenshot(page, "access-02-proxy-down-from-lessons");
    // The page did not reload for the form (the shell's history is still there), and the setting survives a reload.
    expect(await terminalText(page)).toContain("tab-42");
    await page.reload();
    await waitForPrompt(page);
    await expect.poll(() => page.locator("#proxy-state").getAttribute("data-proxy")).toBe("down");
    expect(await page.inputValue("#proxy-url")).toBe("http://127.0.0.1:9/registry");
    // Back to the page's own proxy (an empty field), used at once: a pull works without a reload.
    await page.click("#proxy-state");
    await page.fill("#proxy-url", "");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#proxy-state").getAttribute("data-proxy")).toBe("up");
    await page.fill("#pull-ref", started.images.busybox.reference);
    await page.click("#pull-form button[type=submit]");
    await expect
      .poll(() => page.locator("#proxy-status").textContent(), { timeout: 30_000 })
      .toMatch(/Pulled|up to date/);
    await page.reload();
    await waitForPrompt(page);
    expect(await page.inputValue("#proxy-url")).toBe(new URL("registry", started.server.url).href);
  });

  it("copies a selection with Ctrl+Shift+C and pastes with Ctrl+Shift+V", async () => {
    const { page } = started.browser;
    await typeCommand(page, "clear; echo copy-$((6*7))-me");
    await expect.poll(() => terminalText(page)).toMatch(/^copy-42-me$/m);
    // Double-click selects the word under the pointer, as in any terminal.
    const row = page.locator(".xterm-rows > div", { hasText: /^copy-42-me\s*$/ }).first();
    const box = (await row.boundingBox())!;
    await page.mouse.dblclick(box.x + 20, box.y + box.height / 2);
    await page.keyboard.press("Control+Shift+C");
    await expect.poll(() => page.evaluate<string>("navigator.clipboard.readText()")).toMatch(/copy-42-me|copy/);
    const copied = await page.evaluate<string>("navigator.clipboard.readText()");
    expect("copy-42-me").toContain(copied);
    await page.evaluate('navigator.clipboard.writeText("echo pasted-$((20+22))")');
    await page.keyboard.press("Control+Shift+V");
    await page.keyboard.press("Enter");
    await expect.poll(() => terminalText(page)).toMatch(/^pasted-42$/m);
  });

  it("the editor shows enough lines for a Dockerfile at 1280×720", async () => {
    const { page } = started.browser;
    await typeCommand(page, "(echo FROM busybox; seq 1 30 | sed 's/^/RUN echo line-/') > /root/Dockerfile");
    await page.click("#file-text");
    await page.waitForSelector("#files-pane[data-editor=monaco] .monaco-editor");
    await page.fill("#file-path", "/root/Dockerfile");
    await page.click("#file-form button[type=submit]");
    await expect.poll(() => page.locator("#file-status").textContent()).toContain("Opened /root/Dockerfile");
    // Lines wholly inside the editor's box.
    const visible = () =>
      page.evaluate<number>(`(() => {
      const editor = document.querySelector("#file-editor").getBoundingClientRect();
      return [...document.querySelectorAll("#file-editor .view-line")].filter((line) => {
        const box = line.getBoundingClientRect();
        return box.top >= editor.top && box.bottom <= editor.bottom && line.textContent.trim();
      }).length;
    })()`);
    // Monaco lays itself out again once the pane has grown.
    await expect.poll(visible).toBeGreaterThanOrEqual(12);
    await screenshot(page, "access-03-dockerfile");
    // The terminal keeps a usable height too.
    await typeCommand(page, "clear; stty size");
    await expect.poll(() => terminalText(page)).toMatch(/^\s*\d+ \d+\s*$/m);
    const [rows] = (/^\s*(\d+) (\d+)\s*$/m.exec(await terminalText(page)) ?? []).slice(1).map(Number);
    expect(rows).toBeGreaterThanOrEqual(12);
  });

  it("the page's docker says what Drydock lacks or what is wrong, and prunes stopped containers", async () => {
    const { page } = started.browser;
    await typeCommand(
      page,
      `clear; docker run --network nosuch ${started.images.busybox.reference} true; echo code=$?`,
    );
    await expect.poll(() => terminalText(page)).toMatch(/code=\d+/);
    let text = await flatText(page);
    expect(text).toContain("network nosuch not found");
    expect(text).not.toContain("unknown");
    expect(text).toContain("code=125");
    await typeCommand(page, `clear; docker run -v data:relative ${started.images.busybox.reference} true`);
    await expect.poll(() => flatText(page)).toContain("invalid volume specification: 'data:relative'");
    await typeCommand(page, `clear; docker run -p 8080:web ${started.images.busybox.reference} true`);
    await expect.poll(() => flatText(page)).toContain("invalid containerPort: web");
    await typeCommand(
      page,
      `clear; docker run --name gone ${started.images.busybox.reference} true; docker container prune -f`,
    );
    await expect.poll(() => terminalText(page)).toContain("Total reclaimed space:");
    text = await terminalText(page);
    expect(text).toMatch(/^Deleted Containers:$/m);
    await typeCommand(page, "clear; docker ps -a --format '{{.Names}}' | grep -c gone");
    await expect.poll(() => terminalText(page)).toMatch(/^0$/m);
  });

  it("after an interactive exec ends, no cursor-position answer reaches the guest's shell", async () => {
    const { page } = started.browser;
    await typeCommand(page, `clear; docker run -d --name cpr ${started.images.busybox.reference} sleep 300 >/dev/null`);
    for (let round = 0; round < 3; round++) {
      // As a quick typist: exit typed ahead, before the container's prompt (and its cursor-position query) arrive.
      await typeCommand(page, "clear; docker exec -it cpr sh");
      await typeCommand(page, "exit");
      await expect.poll(() => terminalText(page)).toMatch(/drydock:~# \s*$/);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await typeCommand(page, "echo after-$((40+2))");
      await expect.poll(() => terminalText(page)).toMatch(/^after-42$/m);
      const text = await terminalText(page);
      expect(text).not.toMatch(/\^\[\[|\d+;\d+R/);
      expect(text).not.toContain("not found");
    }
    await typeCommand(page, "docker rm -f cpr");
    await screenshot(page, "access-04-after-exec");
  });
});
