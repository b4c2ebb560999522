// Real Chromium (Debian's, driven by playwright-core) against a real build of the page served by `vite preview`, with
// the registry proxy pointed at a local registry. Shared by the end-to-end tests and the page benchmark.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { build, type PreviewServer, preview } from "vite";
import { afterAll, beforeAll } from "vitest";
import type { UpstreamConfig } from "../../web/proxy/names.ts";
import { registryProxy } from "../../web/proxy/vite-plugin.ts";
import { type ImageName, type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

export const ROOT = join(import.meta.dirname, "../..");
export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = join(ROOT, "test-results/e2e");
const CONFIG = join(ROOT, "vite.config.ts");

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Builds the page (and, if needed, the saved state) into a temporary directory; returns it. */
export async function buildPage(): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), "drydock-page-"));
  await build({ configFile: CONFIG, logLevel: "error", build: { outDir, emptyOutDir: true } });
  return outDir;
}

export interface PageServer {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves a build with `vite preview` and vite.config.ts, plus a registry proxy whose upstreams are `upstreams`
 * (registry host → URL). Plugins given inline come after the config file's, and each proxy plugin puts itself first
 * in the middleware stack, so this proxy answers `/registry` ahead of the default one.
 */
export async function servePage(outDir: string, upstreams: Record<string, string> = {}): Promise<PageServer> {
  const configured: Record<string, UpstreamConfig> = {};
  for (const [alias, url] of Object.entries(upstreams)) configured[alias] = { url, allowPrivate: true };
  const server: PreviewServer = await preview({
    configFile: CONFIG,
    logLevel: "error",
    build: { outDir },
    preview: { port: 0, host: "127.0.0.1", strictPort: false },
    plugins: [registryProxy({ upstreams: configured })],
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error("vite preview did not say where it listens");
  return { url, close: () => server.close() };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Chromium with a fresh profile (its own --user-data-dir), one page at 1280×720. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run bash scripts/system-deps.sh (installs Debian's chromium)`);
  }
  const profile = await mkdtemp(join(tmpdir(), "drydock-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 720 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until the page shows a shell prompt (or fails with what the page says went wrong). */
export async function waitForPrompt(page: Page, timeoutMs = 30_000): Promise<void> {
  await page.waitForSelector("html[data-state=ready], html[data-state=error]", { timeout: timeoutMs });
  const state = await page.locator("html").getAttribute("data-state");
  if (state !== "ready") {
    throw new Error(`the page did not start: ${await page.locator("#banner").textContent()}`);
  }
}

/** The terminal's text as a screen reader gets it (xterm's accessibility tree). */
export function terminalText(page: Page): Promise<string> {
  return page.locator(".xterm-accessibility-tree").innerText();
}

/** Types a command into the terminal and presses Enter. */
export async function typeCommand(page: Page, command: string): Promise<void> {
  await page.locator("#terminal").click();
  await page.keyboard.type(command);
  await page.keyboard.press("Enter");
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** The terminal's text with its rows joined: a digest or a long command is wider than the terminal and wraps. */
export async function unwrappedTerminalText(page: Page): Promise<string> {
  return (await terminalText(page)).replace(/\n/g, "");
}

/**
 * Copies a seeded image to `library/<name>:latest` in the local registry, where Docker Hub keeps official images, so
 * a page whose proxy maps docker.io to that registry pulls `<name>` (as a lesson's `images:` does) offline.
 * @example
 * await mirrorAsOfficialImage(registry, busybox, "busybox");
 */
export async function mirrorAsOfficialImage(registry: Registry, image: SeededImage, name: string): Promise<void> {
  await promisify(execFile)("skopeo", [
    "--insecure-policy",
    "copy",
    "--quiet",
    "--all",
    "--preserve-digests",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    `docker://${image.reference}`,
    `docker://${registry.host}/library/${name}:latest`,
  ]);
}

export interface PageWithRegistry<N extends ImageName> {
  /** The fixture images, as the local registry serves them. */
  images: Record<N, SeededImage>;
  registry: Registry;
  server: PageServer;
  browser: Browser;
  /** Closes the browser, the server and the registry, and removes the build. */
  close(): Promise<void>;
}

/**
 * What most end-to-end suites start from: a local registry seeded with `names`, a production build of the page served
 * with its proxy reaching that registry under its own host, and Chromium.
 * @example
 * const { images, server, browser, close } = await startPageWithRegistry(["busybox"]);
 */
export async function startPageWithRegistry<N extends ImageName>(names: readonly N[]): Promise<PageWithRegistry<N>> {
  const registry = await startRegistry();
  let outDir: string | undefined;
  let server: PageServer | undefined;
  const close = async () => {
    await server?.close();
    await registry.stop();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  };
  try {
    let images: Record<N, SeededImage>;
    [images, outDir] = await Promise.all([seedRegistry(registry, names), buildPage()]);
    server = await servePage(outDir, { [registry.host]: registry.url });
    const browser = await launchBrowser();
    return {
      images,
      registry,
      server,
      browser,
      close: async () => {
        await browser.close();
        await close();
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The usual start of an end-to-end suite: `startPageWithRegistry(names)` in the suite's `beforeAll`, closed in its
 * `afterAll`. The parts are read through the returned object, inside tests and hooks (after the start).
 * @example
 * const suite = usePageWithRegistry(["busybox"]);
 * it("loads", async () => { await suite.browser.page.goto(suite.server.url); });
 */
export function usePageWithRegistry<N extends ImageName>(names: readonly N[]): PageWithRegistry<N> {
  let started: PageWithRegistry<N> | undefined;
  beforeAll(async () => {
    started = await startPageWithRegistry(names);
  });
  afterAll(async () => {
    await started?.close();
  });
  const current = () => {
    if (!started) throw new Error("the page and its registry start in beforeAll: use them inside a test or hook");
    return started;
  };
  return {
    get images() {
      return current().images;
    },
    get registry() {
      return current().registry;
    },
    get server() {
      return current().server;
    },
    get browser() {
      return current().browser;
    },
    close: () => current().close(),
  };
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core's run over the whole page: the serious and critical violations, named for a failure message. */
export async function seriousViolations(page: Page): Promise<string[]> {
  const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
  if (!(await page.evaluate<boolean>('"axe" in window'))) await page.addScriptTag({ path: axePath });
  const violations = await page.evaluate<AxeViolation[]>("axe.run().then((result) => result.violations)");
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((node) => node.target.join(" ")).join(", ")})`);
}
