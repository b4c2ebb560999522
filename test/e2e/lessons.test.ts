// The lessons panel in real Chromium: the course list, lesson 1 opened, a command block clicked into the terminal, and
// the step's check (run in the page's own guest) turning green; progress survives a reload. The page's registry proxy
// serves Docker Hub's `busybox` from a local registry, so the lesson's pre-pull works offline. Last, the WebAssembly
// lesson done as a learner does it, its solutions typed into the terminal: a WASI container run by the page. The
// teacher's index lists every step with its solution and presents one from its link; and Keeping data is clicked
// through to its finish page, the tab reloaded where the lesson asks, its volume and container there after.
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCourseFromDisk } from "../../scripts/lessons.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";
import {
  type Browser,
  buildPage,
  launchBrowser,
  mirrorAsOfficialImage,
  type PageServer,
  screenshot,
  servePage,
  terminalText,
  typeCommand,
  unwrappedTerminalText,
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
  await mirrorAsOfficialImage(registry, busybox, "busybox");
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
    await expect.poll(() => course.count()).toBe(14);
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

  it("opens a step from a link with the steps before it done, in the presenter's mode", async () => {
    const { page } = browser;
    // A link from the teacher: Start over, the three steps before it done for the class, this step ready to do.
    await page.goto(`${server.url}#lesson=01-images-and-containers&step=see-that-the-image-did-not-change&present`);
    await page.reload();
    await waitForPrompt(page);
    const step = page.locator("#lessons article.step");
    await expect
      .poll(() => step.getAttribute("data-step"), { timeout: 90_000 })
      .toBe("see-that-the-image-did-not-change");
    await expect.poll(() => step.getAttribute("data-state"), { timeout: 60_000 }).toBe("pending");
    const dots = page.locator("#lessons .step-dots button");
    expect(await dots.evaluateAll((all) => all.map((d) => d.getAttribute("data-state")))).toEqual([
      "done",
      "done",
      "done",
      null,
      null,
    ]);
    // What the earlier steps made is really there: the container `box` runs, with the file written into its layer.
    await typeCommand(page, "docker exec box cat /note.txt");
    await expect.poll(() => terminalText(page), { timeout: 30_000 }).toMatch(/^mine$/m);
    // The presenter's mode: the solution shown, the terminal in large type, the file pane out of the way.
    expect(await page.locator("html").getAttribute("data-present")).toBe("on");
    expect(await page.locator("#lessons details.solution").getAttribute("open")).not.toBeNull();
    expect(await page.locator("#files-pane").isHidden()).toBe(true);
    // A row of 22 px type is about 25 px high (15 px type: about 17 px).
    const row = await page.locator("#terminal .xterm-rows > div").first().boundingBox();
    expect(row?.height).toBeGreaterThanOrEqual(24);
    await screenshot(page, "lessons-04-presenter");

    // A clicker's PageDown moves to the next step (from anywhere but the terminal).
    await page.locator("#lessons .lesson-title").click();
    await page.keyboard.press("PageDown");
    await expect.poll(() => step.getAttribute("data-step")).toBe("remove-a-container-and-its-layer-with-it");
    await page.keyboard.press("PageUp");
    await expect.poll(() => step.getAttribute("data-step")).toBe("see-that-the-image-did-not-change");
    await page.click("#lessons .present-toggle");
    expect(await page.locator("html").getAttribute("data-present")).toBe("off");
  });

  it("ends the lesson on its finish page, with the next lesson one click away", async () => {
    const { page } = browser;
    const step = page.locator("#lessons article.step");
    for (const id of ["see-that-the-image-did-not-change", "remove-a-container-and-its-layer-with-it"]) {
      await expect.poll(() => step.getAttribute("data-step")).toBe(id);
      await expect.poll(() => step.getAttribute("data-state"), { timeout: 60_000 }).toBe("pending");
      await page.click("#lessons details.solution summary");
      await page.click("#lessons details.solution button.command");
      await expect.poll(() => step.getAttribute("data-state"), { timeout: 60_000 }).toBe("done");
      await page.click("#lessons .step-actions button:last-child");
    }
    const finish = page.locator("#lessons article.finish");
    await expect.poll(() => finish.count()).toBe(1);
    expect(await finish.locator(".finish-verdict").innerText()).toBe("✓ Lesson done: all 5 steps");
    expect(await finish.innerText()).toContain("Registries, repositories and tags");
    await screenshot(page, "lessons-05-finish");
    await finish.locator("button", { hasText: "Next lesson" }).click();
    await expect
      .poll(() => page.locator("#lessons .lesson-title").innerText())
      .toBe("Registries, repositories and tags");
  });

  it("clicks through the WebAssembly lesson: Start, each solution typed in the terminal, each check green, done", async () => {
    const { page } = browser;
    const { lessons } = await loadCourseFromDisk();
    const lesson = lessons.find((l) => l.id === "12-webassembly-containers")!;
    await page.click("#lessons .lesson-head button:first-child");
    await page.click('#lessons [data-lesson="12-webassembly-containers"]');
    const step = page.locator("#lessons article.step");
    await expect.poll(() => step.getAttribute("data-step")).toBe("package-the-linux-build");
    // The step's setup has written both builds into the guest (checked against their digests); no image yet.
    await expect.poll(() => step.getAttribute("data-state"), { timeout: 90_000 }).toBe("pending");
    await typeCommand(page, "/root/primes/primes 1000; echo ran-$?");
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("ran-0");
    expect(await terminalText(page)).toMatch(/primes below 1000: 168\s+counted in \d+ ms, built for linux\/386/);
    for (const [index, expected] of lesson.steps.entries()) {
      await expect.poll(() => step.getAttribute("data-step")).toBe(expected.id);
      await expect.poll(() => step.getAttribute("data-state"), { timeout: 60_000 }).toBe("pending");
      // What a learner would type: the step's solution, a line at a time, into the page's terminal.
      for (const line of expected.solution.script.trim().split("\n")) await typeCommand(page, line);
      await expect.poll(() => step.getAttribute("data-state"), { timeout: 120_000 }).toBe("done");
      if (expected.id === "run-both") {
        // Both runs are on the screen: the same count, one from the emulated i386, one from the browser's WebAssembly.
        const text = await unwrappedTerminalText(page);
        expect(text).toMatch(/primes below 1000000: 78498counted in \d+ ms, built for linux\/386/);
        expect(text).toMatch(/primes below 1000000: 78498counted in \d+ ms, built for wasi\/wasm/);
        await expect.poll(() => page.locator("#terminal .xterm-rows").innerText()).toContain("built for wasi/wasm");
        await screenshot(page, "lessons-06-wasm-run-both");
      }
      expect(
        await page.locator(`#lessons .step-dots li:nth-child(${index + 1}) button`).getAttribute("data-state"),
      ).toBe("done");
      await page.click("#lessons .step-actions button:last-child");
    }
    const finish = page.locator("#lessons article.finish");
    await expect.poll(() => finish.count()).toBe(1);
    expect(await finish.locator(".finish-verdict").innerText()).toBe("✓ Lesson done: all 4 steps");
    await screenshot(page, "lessons-07-wasm-finish");
  });

  it("shows the teacher's index: every lesson's steps with their solutions, and a step presented from its link", async () => {
    const { page } = browser;
    const { lessons } = await loadCourseFromDisk();
    await toCourse(page);
    await page.click("#lessons .teacher-index-open");
    const index = page.locator("#lessons article.teacher-index");
    await expect.poll(() => index.locator("section.index-lesson").count()).toBe(lessons.length);
    // Every step of every lesson, in order, each with its solution written out.
    const listed = await index
      .locator("section.index-lesson")
      .evaluateAll((sections) =>
        sections.map((section) => [
          section.getAttribute("data-lesson"),
          [...section.querySelectorAll("li")].map((li) => li.getAttribute("data-step")),
        ]),
      );
    expect(listed).toEqual(lessons.map((l) => [l.id, l.steps.map((s) => s.id)]));
    const restart = index.locator('[data-lesson="10-keeping-data"] li[data-step="restart-on-failure"]');
    expect(await restart.locator("pre.index-solution").innerText()).toContain(
      "docker run -d --name flaky --restart on-failure:3",
    );
    expect(
      await index.locator('[data-lesson="10-keeping-data"] li[data-step="a-volume-in-memory"]').innerText(),
    ).toContain("(stands alone)");
    await index.locator('[data-lesson="10-keeping-data"] h4').scrollIntoViewIfNeeded();
    await screenshot(page, "lessons-08-teacher-index");

    // The index has an address of its own, for a teacher's bookmark.
    await page.click("#tab-trace");
    await page.goto(`${server.url}#teacher`);
    await expect.poll(() => page.locator("#lessons-pane").isVisible()).toBe(true);
    await expect.poll(() => index.count()).toBe(1);

    // Present: the step opened with Start over done, in the presenter's mode, its solution shown.
    await index.locator('[data-lesson="03-client-and-daemon"] li').first().getByText("Present").click();
    const step = page.locator("#lessons article.step");
    await expect.poll(() => step.getAttribute("data-step"), { timeout: 90_000 }).toBe("ask-the-daemon-for-its-version");
    await expect.poll(() => step.getAttribute("data-state"), { timeout: 60_000 }).toBe("pending");
    expect(await page.locator("html").getAttribute("data-present")).toBe("on");
    expect(await page.locator("#lessons details.solution").getAttribute("open")).not.toBeNull();
    await page.click("#lessons .present-toggle");
    expect(await page.locator("html").getAttribute("data-present")).toBe("off");
  });

  it("clicks through Keeping data to its finish page, reloading the tab where the lesson asks", {
    timeout: 900_000,
  }, async () => {
    const { page } = browser;
    const { lessons } = await loadCourseFromDisk();
    const lesson = lessons.find((l) => l.id === "10-keeping-data")!;
    await toCourse(page);
    await page.click('#lessons [data-lesson="10-keeping-data"]');
    const step = page.locator("#lessons article.step");
    for (const [index, expected] of lesson.steps.entries()) {
      await expect.poll(() => step.getAttribute("data-step")).toBe(expected.id);
      await expect.poll(() => step.getAttribute("data-state"), { timeout: 90_000 }).toBe("pending");
      for (const line of expected.solution.script.trim().split("\n")) await typeCommand(page, line);
      await expect.poll(() => step.getAttribute("data-state"), { timeout: 180_000 }).toBe("done");
      if (expected.id === "keep-your-work-across-a-reload") {
        // What the step asks of the learner, which the lesson checker cannot do: reload the tab (after its sync, and
        // a learner's moment to read on).
        await typeCommand(page, "sync; sleep 1; echo synced-$((40+2))");
        await expect.poll(() => unwrappedTerminalText(page), { timeout: 60_000 }).toContain("synced-42");
        await page.reload();
        await waitForPrompt(page);
        // The lesson comes back at this step, done; keeper runs again and has noted its second start in the volume.
        await expect.poll(() => step.getAttribute("data-step"), { timeout: 60_000 }).toBe(expected.id);
        await expect.poll(() => step.getAttribute("data-state"), { timeout: 60_000 }).toBe("done");
        await typeCommand(
          page,
          "for i in $(seq 60); do n=$(wc -l < /var/lib/drydock/volumes/notes/_data/keeper.txt); [ $n -ge 2 ] && break; sleep 1; done; echo starts-$n; docker ps --format 'up:{{.Names}}'",
        );
        await expect.poll(() => unwrappedTerminalText(page), { timeout: 120_000 }).toContain("up:keeper");
        expect(await unwrappedTerminalText(page)).toContain("starts-2");
        await expect.poll(() => page.locator("#terminal .xterm-rows").innerText()).toContain("up:keeper");
        await screenshot(page, "lessons-09-keeping-data-after-reload");
      }
      expect(
        await page.locator(`#lessons .step-dots li:nth-child(${index + 1}) button`).getAttribute("data-state"),
      ).toBe("done");
      await page.click("#lessons .step-actions button:last-child");
    }
    const finish = page.locator("#lessons article.finish");
    await expect.poll(() => finish.count()).toBe(1);
    expect(await finish.locator(".finish-verdict").innerText()).toBe(`✓ Lesson done: all ${lesson.steps.length} steps`);
    expect(await finish.innerText()).toContain("Next lesson: Networks and ports");
    await screenshot(page, "lessons-10-keeping-data-finish");
  });
});

/** The page at its address without a fragment, the lessons pane showing the course list. */
async function toCourse(page: Browser["page"]): Promise<void> {
  await page.goto(server.url);
  await waitForPrompt(page);
  await page.click("#tab-lessons");
  await expect.poll(() => page.locator("#lessons .course-lesson, #lessons .lesson-head").count()).toBeGreaterThan(0);
  const back = page.locator("#lessons .lesson-head button", { hasText: "All lessons" });
  if (await back.count()) await back.click();
  await expect.poll(() => page.locator("#lessons .course-lesson").count()).toBeGreaterThan(0);
}
