// A workspace in real Chromium: the Images pane's Export downloads the page's images, volumes and containers as one
// tar (workspace.json first, the format `drydock workspace export` writes in Node); with the container and its volume
// removed, Import… of that file brings both back (the page starts again and imports before its engine does); and a
// browser with empty storage opens the same file from `#workspace=<url>`. The terminal's `drydock workspace export`
// offers the same file as a download, and `drydock workspace import` refuses a damaged one (picked in the page) at
// once, writing nothing, and imports a whole one from a URL. Screenshots go to test-results/e2e/.
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  launchBrowser,
  screenshot,
  typeCommand,
  unwrappedTerminalText,
  usePageWithRegistry,
  waitForPrompt,
} from "./harness.ts";

const started = usePageWithRegistry(["busybox"]);
let dir: string;
let fileServer: Server | undefined;
let terminalServer: Server | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "drydock-e2e-workspace-"));
});

afterAll(async () => {
  await new Promise((resolve) => (fileServer ? fileServer.close(resolve) : resolve(undefined)));
  await new Promise((resolve) => (terminalServer ? terminalServer.close(resolve) : resolve(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Waits for the page to say what came of the workspace it imported at its start, then for its prompt. */
async function imported(page: Page): Promise<string> {
  await page.waitForSelector("html[data-workspace]", { timeout: 240_000 });
  const outcome = await page.locator("html").getAttribute("data-workspace");
  const said = (await page.locator("#workspace-status").textContent()) ?? "";
  expect(outcome, said).toBe("imported");
  await waitForPrompt(page, 120_000);
  return said;
}

/** The container's command: its own file is found when it runs again, and each run adds a line to the volume. */
const COMMAND = `sh -c '[ -f /own.txt ] && echo found-$(cat /own.txt); echo made > /own.txt; echo run >> /data/note; echo notes-$(wc -l < /data/note)'`;

describe("a workspace in the page", () => {
  it("exports to a file, imports it back after the container and volume are gone, and opens it from a URL", {
    timeout: 900_000,
  }, async () => {
    const { page } = started.browser;
    const busybox = started.images.busybox.reference;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    await typeCommand(page, `docker run --name ws-keeper -v ws-data:/data ${busybox} ${COMMAND}; echo ran-$((40+2))`);
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("ran-42");
    expect(await unwrappedTerminalText(page)).toContain("notes-1");

    await page.locator("#tab-images").click();
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#workspace-export").click()]);
    const file = join(dir, "work.tar");
    await download.saveAs(file);
    expect(download.suggestedFilename()).toMatch(/^drydock-workspace-.*\.tar$/);
    const tar = await readFile(file);
    // A tar whose first member is the manifest, holding the volume, the container and busybox's blobs.
    expect(tar.subarray(0, 100).toString("latin1").replace(/\0+$/, "")).toBe("workspace.json");
    const manifest = tar.subarray(512, 512 + Number.parseInt(tar.subarray(124, 136).toString("latin1"), 8));
    const listed = JSON.parse(manifest.toString("utf8")) as Record<string, unknown>;
    expect(JSON.stringify(listed)).toContain("ws-data");
    expect(JSON.stringify(listed)).toContain("ws-keeper");
    await expect.poll(() => page.locator("#workspace-status").textContent()).toMatch(/Exported/);

    // The storage loses both; the file brings them back.
    await typeCommand(page, "clear; docker rm ws-keeper && docker volume rm ws-data && echo gone-$((40+2))");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toContain("gone-42");
    await page.locator("#workspace-import").setInputFiles(file);
    expect(await imported(page)).toMatch(/1 volume\(s\) \(ws-data\), 1 container\(s\) \(ws-keeper\)/);
    await typeCommand(page, "clear; docker volume ls; docker start -a ws-keeper");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("notes-2");
    expect(await unwrappedTerminalText(page)).toContain("found-made");
    expect(await unwrappedTerminalText(page)).toMatch(/local\s+ws-data/);
    await screenshot(page, "workspace-01-imported-from-file");

    // Another browser, its storage empty, opens the file from a URL (a teacher's link).
    fileServer = createServer((request, response) => {
      if (request.url !== "/work.tar") {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { "content-type": "application/x-tar", "access-control-allow-origin": "*" });
      createReadStream(file).pipe(response);
    });
    await new Promise<void>((resolve) => fileServer!.listen(0, "127.0.0.1", resolve));
    const port = (fileServer.address() as AddressInfo).port;
    const fresh = await launchBrowser();
    try {
      const other = fresh.page;
      await other.goto(`${started.server.url}#workspace=http://127.0.0.1:${port}/work.tar`);
      await imported(other);
      expect(other.url()).not.toContain("#workspace=");
      await typeCommand(other, "clear; docker images --format 'img:{{.Repository}}'; docker start -a ws-keeper");
      await expect.poll(() => unwrappedTerminalText(other), { timeout: 120_000 }).toContain("notes-2");
      expect(await unwrappedTerminalText(other)).toContain("found-made");
      expect(await unwrappedTerminalText(other)).toContain("img:");
      await other.locator("#tab-images").click();
      await screenshot(other, "workspace-02-opened-from-url");
    } finally {
      await fresh.close();
    }
  });

  it("the terminal's drydock workspace export downloads it; import refuses a damaged file and takes a URL", {
    timeout: 900_000,
  }, async () => {
    const { page } = started.browser;
    await page.goto(started.server.url);
    await waitForPrompt(page, 240_000);
    await typeCommand(page, "clear; docker start -a ws-keeper");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toMatch(/notes-\d/);
    const notes = Number(/notes-(\d+)/.exec(await unwrappedTerminalText(page))![1]);

    const [download] = await Promise.all([
      page.waitForEvent("download", { timeout: 240_000 }),
      typeCommand(page, "clear; drydock workspace export"),
    ]);
    const file = join(dir, "terminal.tar");
    await download.saveAs(file);
    expect(download.suggestedFilename()).toMatch(/^drydock-workspace-.*\.tar$/);
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toMatch(/bytes, offered as a download/);
    const tar = await readFile(file);
    expect(tar.subarray(0, 100).toString("latin1").replace(/\0+$/, "")).toBe("workspace.json");

    // One byte of a blob changed: refused in the terminal, before anything is kept; the page does not start again.
    const damaged = Buffer.from(tar);
    for (let at = 0; at + 512 <= damaged.length; ) {
      const name = damaged
        .subarray(at, at + 100)
        .toString("latin1")
        .replace(/\0.*$/s, "");
      const size = Number.parseInt(damaged.subarray(at + 124, at + 136).toString("latin1"), 8) || 0;
      if (name.startsWith("blobs/") && size > 0) {
        damaged[at + 512 + Math.floor(size / 2)]! ^= 0xff;
        break;
      }
      at += 512 + Math.ceil(size / 512) * 512;
    }
    const damagedFile = join(dir, "damaged.tar");
    await writeFile(damagedFile, damaged);
    page.on("filechooser", (chooser) => void chooser.setFiles(damagedFile));
    await page.evaluate(() => {
      (globalThis as { stayed?: boolean }).stayed = true;
    });
    await typeCommand(page, "clear; drydock workspace import; echo import-exit-$?");
    await expect
      .poll(
        async () => {
          // Past the keypress's moment the page asks in a dialog, whose button opens the picker.
          if (await page.locator("#workspace-pick").isVisible()) await page.locator("#workspace-pick-choose").click();
          return unwrappedTerminalText(page);
        },
        { timeout: 120_000 },
      )
      .toContain("import-exit-1");
    const said = await unwrappedTerminalText(page);
    expect(said).toMatch(/Error: the workspace's blob sha256:[0-9a-f]{64} is damaged .*nothing was imported/);
    expect(await page.evaluate(() => (globalThis as { stayed?: boolean }).stayed)).toBe(true);
    await screenshot(page, "workspace-03-terminal-refuses-damaged");

    // The whole file from a URL: checked, kept, and imported when the page starts again.
    terminalServer = createServer((request, response) => {
      if (request.url !== "/terminal.tar") {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { "content-type": "application/x-tar", "access-control-allow-origin": "*" });
      createReadStream(file).pipe(response);
    });
    await new Promise<void>((resolve) => terminalServer!.listen(0, "127.0.0.1", resolve));
    const port = (terminalServer.address() as AddressInfo).port;
    await typeCommand(page, "clear; docker rm ws-keeper && docker volume rm ws-data && echo gone-$((40+2))");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toContain("gone-42");
    await typeCommand(page, `clear; drydock workspace import http://127.0.0.1:${port}/terminal.tar`);
    expect(await imported(page)).toMatch(/1 volume\(s\) \(ws-data\), 1 container\(s\) \(ws-keeper\)/);
    await typeCommand(page, "clear; docker start -a ws-keeper");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain(`notes-${notes + 1}`);
    expect(await unwrappedTerminalText(page)).toContain("found-made");
    await screenshot(page, "workspace-04-terminal-imported-from-url");
  });
});
