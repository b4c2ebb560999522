// A classroom's set-up, all on loopback: the Drydock proxy (`npm run proxy`, as a school runs it) in front of Debian's
// docker-registry in proxy mode (a pull-through cache), whose own upstream is another docker-registry standing in for
// Docker Hub. Pulls go learner → proxy → cache → origin once; after that the cache answers, even with the origin gone.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageService, proxyEndpoint } from "../../engine/index.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { blobPath, type Registry, startRegistry } from "../fixtures/registry.ts";

const root = join(import.meta.dirname, "../..");

let origin: Registry;
let cache: Registry;
let busybox: SeededImage;
const proxies: ChildProcess[] = [];

/** `npm run proxy` (web/proxy/cli.ts under tsx) with the school's cache as its only upstream, on a free port. */
async function startProxy(): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "web/proxy/cli.ts",
      "--port",
      "0",
      "--no-default-upstreams",
      `--upstream=${cache.host}=${cache.url}`,
    ],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  proxies.push(child);
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the proxy did not start:\n${output}`)), 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const listening = /listening on (http:\/\/\S+?)\/?$/m.exec(output);
      if (listening) {
        clearTimeout(timer);
        resolve(listening[1]!);
      }
    });
    child.once("exit", (code) => reject(new Error(`the proxy exited with ${code}:\n${output}`)));
  });
}

/** A learner's browser: a fresh image store pulling through `proxy`. */
async function learnerPull(proxy: string) {
  const images = await ImageService.open({ storage: "memory", endpoint: proxyEndpoint(proxy) });
  return images.pull(`${cache.host}/busybox:latest`);
}

beforeAll(async () => {
  origin = await startRegistry();
  ({ busybox } = await seedRegistry(origin, ["busybox"]));
  cache = await startRegistry({ pullThrough: origin.url });
});

afterAll(async () => {
  for (const child of proxies) child.kill("SIGTERM");
  await Promise.all([cache?.stop(), origin?.stop()]);
});

describe("the proxy in front of a docker-registry pull-through cache", () => {
  it("pulls through the cache (same digests as the origin), which keeps the blobs and serves them with the origin gone", async () => {
    const proxy = await startProxy();
    const first = await learnerPull(proxy);
    expect(first.upToDate).toBe(false);
    // The origin's image, byte for byte: the manifest digest the origin serves.
    expect(first.digest).toBe(busybox.digest);
    // The cache stored every blob on its way through.
    for (const layer of first.details.layers)
      expect(existsSync(blobPath(cache, layer.blob.digest)), layer.blob.digest).toBe(true);
    expect(existsSync(blobPath(cache, first.id))).toBe(true);
    // The origin goes away (the school's line to the internet is down); a second classroom machine runs its own
    // proxy (its memory cache empty), and another learner still pulls: the pull-through cache answers.
    await origin.stop();
    const second = await learnerPull(await startProxy());
    expect(second.digest).toBe(busybox.digest);
    expect(second.id).toBe(first.id);
  });
});
