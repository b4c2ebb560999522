// Volumes in real Chromium keep their files in the page's OPFS: a file written into a volume by one container is
// read by another after the page is reloaded (a fresh guest, a fresh engine), and `docker volume rm` deletes it.
// Containers are kept too: after a reload they are listed, exited, and a --restart always one runs again.
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

  it("keeps containers across a reload: exited ones listed with their files, an --restart always one running again", {
    timeout: 400_000,
  }, async () => {
    const { page } = started.browser;
    const busybox = started.images.busybox.reference;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    await typeCommand(
      page,
      `docker run -d --name keeper --restart always -v work:/work ${busybox} sh -c 'echo started >> /work/log; sleep 600' >/dev/null; until docker exec keeper cat /work/log 2>/dev/null | grep -q started; do sleep 1; done; docker stop -t 0 keeper >/dev/null; docker run --name done ${busybox} sh -c 'exit 3'; docker run --name scribe ${busybox} sh -c 'if [ -f /mine.txt ]; then echo found-$(cat /mine.txt); else echo made > /mine.txt; fi'; echo ran-$((40+2))`,
    );
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("ran-42");

    // keeper was stopped by hand: `always` brings it back when the engine starts again all the same.
    await page.reload();
    await waitForPrompt(page);
    await typeCommand(page, "clear; docker ps -a --format 'kept:{{.Names}} {{.Status}}'");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toContain("kept:done Exited (3)");
    // The policy started keeper again in the fresh guest: it runs, from its image, with its volume, and its command
    // ran a second time into the same file.
    await typeCommand(
      page,
      "for i in $(seq 30); do n=$(docker exec keeper cat /work/log 2>/dev/null | wc -l); [ $n -ge 2 ] && break; sleep 1; done; echo runs:$n; docker inspect -f 'again:{{.State.Status}} {{.HostConfig.RestartPolicy.Name}} {{range .Mounts}}{{.Name}}{{end}}' keeper",
    );
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("again:running always work");
    expect(await unwrappedTerminalText(page)).toContain("runs:2again");
    // scribe's own file (its writable layer, kept at its exit) is there when it starts again.
    await typeCommand(page, "docker start -a scribe");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("found-made");
    await screenshot(page, "volumes-02-containers-after-reload");
    await typeCommand(
      page,
      "docker rm -f keeper done scribe >/dev/null && docker volume rm work && echo cleaned-$((40+2))",
    );
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toContain("cleaned-42");
  });

  it("saves a running container's own files when the tab is hidden, so a reload finds them", {
    timeout: 400_000,
  }, async () => {
    const { page } = started.browser;
    const busybox = started.images.busybox.reference;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    await typeCommand(
      page,
      `docker run -d --name writer ${busybox} sleep 600 >/dev/null && docker exec writer sh -c 'echo written-while-running > /inside.txt' && echo wrote-$((40+2))`,
    );
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("wrote-42");
    // The learner switches to another tab (or closes this one): the page is told it is hidden.
    await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: EventTarget }).document;
      Object.defineProperty(doc, "visibilityState", { configurable: true, get: () => "hidden" });
      doc.dispatchEvent(new Event("visibilitychange"));
    });
    await page.waitForSelector("html[data-containers-saved]", { timeout: 60_000 });

    await page.reload();
    await waitForPrompt(page);
    await typeCommand(page, "clear; docker start writer >/dev/null && docker exec writer cat /inside.txt");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("written-while-running");
    await screenshot(page, "volumes-03-running-container-after-reload");
    await typeCommand(page, "docker rm -f writer >/dev/null && echo cleaned-$((40+2))");
    await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toContain("cleaned-42");
  });
});
