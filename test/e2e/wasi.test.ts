// WASI containers in real Chromium: the page's engine runs the wasi/wasm build of test/fixtures/programs/twoways.c
// in a Web Worker of its own, beside the i386 build in the emulated guest. Through the guest's docker (the page's
// terminal): the same output, exit codes, piped stdin and written file both ways; the Trace marks the WASI runtime's
// steps; the Images pane's "One program, two runtimes" runs both and shows both times.
import { describe, expect, it } from "vitest";
import { TWOWAYS_MESSAGE } from "../fixtures/images.ts";
import { screenshot, terminalText, typeCommand, usePageWithRegistry, waitForPrompt } from "./harness.ts";

const started = usePageWithRegistry(["twoways"]);

describe("WASI containers in the page", () => {
  it("runs one program as a Linux container and as a WASI container, with the same behaviour", async () => {
    const { page } = started.browser;
    await page.goto(started.server.url);
    await waitForPrompt(page);
    await expect.poll(() => page.locator("html").getAttribute("data-proxy"), { timeout: 30_000 }).toBe("up");
    const reference = started.images.twoways.reference;
    await typeCommand(
      page,
      `docker pull -q --platform wasi/wasm ${reference} && docker tag ${reference} tw:wasm && ` +
        `docker pull -q --platform linux/386 ${reference} && docker tag ${reference} tw:386; echo pulled-$?`,
    );
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("pulled-0");
    // The same four runs both ways, each followed by its exit code; then the two transcripts are compared.
    await typeCommand(
      page,
      "for t in wasm 386; do ( docker run --rm -e GREETING=hi tw:$t greet a b; echo x$?; " +
        "echo piped in | docker run --rm -i tw:$t upper; echo x$?; docker run --rm tw:$t exit 7; echo x$?; " +
        "docker run --rm tw:$t file /tmp/n.txt written; echo x$? ) > /tmp/out-$t 2>&1; done; " +
        "cmp /tmp/out-wasm /tmp/out-386 && echo SAME-BOTH-$((20+22)); cat /tmp/out-wasm",
    );
    await expect.poll(() => terminalText(page), { timeout: 120_000 }).toContain("SAME-BOTH-42");
    await expect.poll(() => terminalText(page)).toMatch(/\/tmp\/n\.txt: written\s+x3/);
    const text = await terminalText(page);
    expect(text).toContain("GREETING=hi");
    expect(text).toContain(`message: ${TWOWAYS_MESSAGE.trim()}`);
    expect(text).toContain("PIPED IN");
    expect(text).toContain("read 9 bytes");
    expect(text).toContain("x7");
    expect(text).toContain("/tmp/n.txt: written");
    expect(text).toContain("x3");
    await screenshot(page, "wasi-01-both-ways");
    // The Trace marks which runtime ran what: WASI steps have their own kind; Linux containers clone() in the guest.
    const trace = await page.locator("#trace").innerText();
    expect(trace).toMatch(/wasi\s*new WASI\(\["\/twoways\.wasm", "greet", "a", "b"\]\)\.start\(instance\)/);
    expect(trace).toMatch(/wasi\s*WebAssembly\.compile\(\/twoways\.wasm\)/);
    expect(trace).toMatch(/engine\s*clone\(/);
  });

  it("a WASI module in a loop is stopped by docker stop, and -m past its limit says so", async () => {
    const { page } = started.browser;
    await typeCommand(
      page,
      "docker run -d --name spin tw:wasm spin >/dev/null && docker ps --format '{{.Names}} {{.Status}}' && " +
        "docker stop -t 2 spin && docker inspect -f 'stopped-{{.State.ExitCode}}' spin && docker rm spin",
    );
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("stopped-143");
    await typeCommand(page, "docker run --rm -m 16m tw:wasm alloc 64; echo oom-$?");
    await expect.poll(() => terminalText(page), { timeout: 60_000 }).toContain("oom-1");
    expect(await terminalText(page)).toContain("the module ran out of memory");
  });

  it("the Images pane runs one program both ways and shows both times", async () => {
    const { page } = started.browser;
    await page.locator("#tab-images").click();
    await page.locator("#runtimes summary").click();
    await page.locator("#runtimes-ref").fill(started.images.twoways.reference);
    await page.locator("#runtimes-args").fill("primes 20000");
    await page.locator("#runtimes-form button").click();
    await expect
      .poll(() => page.locator("#runtimes-status").textContent(), { timeout: 120_000 })
      .toMatch(/WebAssembly run took/);
    const rows = page.locator("#runtimes-result tbody tr");
    expect(await rows.count()).toBe(2);
    const linux = await rows.nth(0).innerText();
    const wasi = await rows.nth(1).innerText();
    expect(linux).toMatch(/^Linux \(i386, in the emulator\)\s+\d+ ms\s+0\s+2262 primes below 20000/);
    expect(wasi).toMatch(/^WASI \(WebAssembly, native\)\s+\d+ ms\s+0\s+2262 primes below 20000/);
    await screenshot(page, "wasi-02-two-runtimes");
  });
});
