// Volumes in real Chromium keep their files in the page's OPFS: a file written into a volume by one container is
// read by another after the page is reloaded (a fresh guest, a fresh engine), and `docker volume rm` deletes it.
// Screenshots go to test-results/e2e/.
import { describe, expect, it } from "vitest";
import { screenshot, typeCommand, unwrappedTerminalText, usePageWithRegistry, waitForPrompt } from "./harness.ts";

const started = usePageWithRegistry(["busybox"]);

describe("a volume in the page", () => {
  it("keeps its files across a page reload, and docker volume rm deletes them", { timeout: 400_000 }, async () => {
    const { page } = started.browser;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    await typeCommand(
      page,
      `docker run --rm -v notes:/notes ${started.images.busybox.reference} sh -c 'seq 1 $((3000*7)) > /notes/n && echo wrote-$(wc -l < /notes/n)'; echo exited-$((40+2))`,
    );
    // The reload comes once `docker run` has returned (its container exited and was removed), as a learner's would.
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("exited-42");
    expect(await unwrappedTerminalText(page)).toContain("wrote-21000");

    await page.reload();
    await waitForPrompt(page);
    await typeCommand(page, "docker volume ls");
    await typeCommand(
      page,
      `docker run --rm -v notes:/notes:ro ${started.images.busybox.reference} sh -c 'echo kept-$(tail -n1 /notes/n)-$(wc -c < /notes/n)'`,
    );
    // seq 1 21000 is 114 894 bytes.
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("kept-21000-114894");
    expect(await unwrappedTerminalText(page)).toMatch(/local\s+notes/);
    await screenshot(page, "volumes-01-after-reload");

    await typeCommand(page, "docker volume rm notes && echo removed-$((40+2))");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toContain("removed-42");
    // The page's own view of its storage: no directory is left for the volume.
    const stored = await page.evaluate(async () => {
      type Directory = { getDirectoryHandle(name: string): Promise<Directory>; keys(): AsyncIterable<string> };
      const storage = (globalThis as unknown as { navigator: { storage: { getDirectory(): Promise<Directory> } } })
        .navigator.storage;
      const volumes = await (await (await storage.getDirectory()).getDirectoryHandle("drydock")).getDirectoryHandle(
        "volumes",
      );
      const names: string[] = [];
      for await (const name of volumes.keys()) names.push(name);
      return names;
    });
    expect(stored).not.toContain("notes");
  });
});
