// The content and metadata store conformance suites against the OPFS stores in real Chromium (Debian's, through
// playwright-core). A Vite dev server serves test/e2e/opfs/, whose worker imports engine/content and the very case
// lists of test/conformance/ (with vitest's `expect` standing in for `vitest`); each case's result is asserted here
// as its own test, so a failure names the case.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type ViteDevServer } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentStoreCases } from "../conformance/content-store.ts";
import { metadataStoreCases } from "../conformance/metadata-store.ts";
import { type Browser, launchBrowser, ROOT } from "./harness.ts";
import { type CaseResult, RESULTS_GLOBAL } from "./opfs/results.ts";

const HERE = join(ROOT, "test/e2e/opfs");

let cacheDir: string;
let server: ViteDevServer;
let browser: Browser;
const results = new Map<string, CaseResult>();
const key = (suite: string, name: string) => `${suite}: ${name}`;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), "drydock-opfs-vite-"));
  server = await createServer({
    configFile: false,
    root: HERE,
    cacheDir,
    logLevel: "error",
    clearScreen: false,
    resolve: { alias: [{ find: /^vitest$/, replacement: join(HERE, "vitest-expect.ts") }] },
    // Every dependency is ESM already; discovering them would optimise them mid-run and reload the page.
    optimizeDeps: { noDiscovery: true, include: [] },
    server: { host: "127.0.0.1", port: 0, strictPort: false, hmr: false, fs: { allow: [ROOT] } },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error("the Vite dev server did not say where it listens");

  browser = await launchBrowser();
  const { page } = browser;
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(url);
  await page.waitForFunction((name) => name in globalThis, RESULTS_GLOBAL);
  const reported = await page
    .evaluate((name) => (globalThis as unknown as Record<string, Promise<CaseResult[]>>)[name]!, RESULTS_GLOBAL)
    .catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)} ${pageErrors.join("; ")}`);
    });
  for (const result of reported) results.set(key(result.suite, result.name), result);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

/**
 * Cases the OPFS store fails today, with the reason. `it.fails` keeps each one listed in the run and turns red once
 * the store is fixed, so the entry is removed with the fix.
 */
const KNOWN_FAILURES: Readonly<Record<string, string>> = {};

function assertCase(suite: string, name: string): void {
  const result = results.get(key(suite, name));
  expect(result, "the case did not report from the browser").toBeDefined();
  if (!result!.ok) throw new Error(`failed in Chromium (OPFS): ${result!.error}`);
}

function itCase(suite: string, name: string): void {
  const known = KNOWN_FAILURES[key(suite, name)];
  if (known) it.fails(`${name} (known failure: ${known})`, () => assertCase(suite, name));
  else it(name, () => assertCase(suite, name));
}

describe("content store conformance: OPFS in Chromium", () => {
  for (const { name } of contentStoreCases) itCase("content store", name);
});

describe("content store conformance: OPFS in Chromium, writing through writable streams (as off a worker)", () => {
  for (const { name } of contentStoreCases) itCase("content store, writable streams", name);
});

describe("content store conformance: OPFS in Chromium, hashing in the page's hashing worker", () => {
  for (const { name } of contentStoreCases) itCase("content store, hashing worker", name);
});

describe("metadata store conformance: OPFS in Chromium", () => {
  for (const { name } of metadataStoreCases) itCase("metadata store", name);
});

it("runs every case of both suites, and nothing else", () => {
  expect([...results.keys()].sort()).toEqual(
    [
      ...contentStoreCases.map(({ name }) => key("content store", name)),
      ...contentStoreCases.map(({ name }) => key("content store, writable streams", name)),
      ...contentStoreCases.map(({ name }) => key("content store, hashing worker", name)),
      ...metadataStoreCases.map(({ name }) => key("metadata store", name)),
    ].sort(),
  );
});
