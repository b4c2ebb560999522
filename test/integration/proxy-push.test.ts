// Pushing from a page through the registry proxy (web/proxy): only to an upstream its operator allowed with
// --allow-push, with the client's own credentials (a docker-registry behind basic auth), which the proxy keeps
// nowhere; skopeo reads the pushed image back with the same digest. A read-only upstream refuses and says why, and
// CORS names the upload methods only where pushes are allowed.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../../engine/index.ts";
import { createProxy } from "../../web/proxy/app.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

const run = promisify(execFile);
const PROXY = "http://proxy.test/registry";

let source: Registry;
let target: Registry;
let busybox: SeededImage;

beforeAll(async () => {
  [source, target] = await Promise.all([startRegistry(), startRegistry({ auth: "basic" })]);
  ({ busybox } = await seedRegistry(source, ["busybox"]));
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});

function proxyFor(allowPush: boolean) {
  return createProxy({
    basePath: "/registry",
    cache: false,
    upstreams: {
      [source.host]: { url: source.url, allowPrivate: true },
      [target.host]: { url: target.url, allowPrivate: true, allowPush },
    },
  });
}

/** An image service in "the page": every registry request goes to the proxy, in process. */
async function pageImages(proxy: ReturnType<typeof createProxy>): Promise<ImageService> {
  return ImageService.open({ proxy: PROXY, fetch: async (input, init) => proxy.fetch(new Request(input, init)) });
}

describe("pushing through the registry proxy", () => {
  it("to an upstream allowed with --allow-push, with the client's credentials; skopeo reads the same digest", async () => {
    const proxy = proxyFor(true);
    const images = await pageImages(proxy);
    await images.pull(busybox.reference);
    const name = `${target.host}/from-page:1`;
    await images.tag(busybox.reference, name);

    await expect(images.push(name)).rejects.toThrow(/username and password/);

    const [pushed] = await images.push(name, { credentials: target.credentials!, chunkSize: 256 * 1024 });
    expect(pushed?.digest).toBe(busybox.digest);
    const { stdout } = await run("skopeo", [
      "inspect",
      "--tls-verify=false",
      "--creds",
      `${target.credentials!.username}:${target.credentials!.password}`,
      "--format",
      "{{.Digest}}",
      `docker://${name}`,
    ]);
    expect(stdout.trim()).toBe(busybox.digest);

    // Nothing of the credentials stayed behind: the same push without them is refused again.
    await expect(images.push(name)).rejects.toThrow(/username and password/);

    const preflight = await proxy.fetch(
      new Request(`${PROXY}/v2/${target.host}/from-page/blobs/uploads/`, {
        method: "OPTIONS",
        headers: { origin: "http://page.test", "access-control-request-method": "PATCH" },
      }),
    );
    expect(preflight.headers.get("access-control-allow-methods")).toMatch(/PATCH/);
    expect(preflight.headers.get("access-control-expose-headers")).toMatch(/Location/);
  });

  it("a read-only upstream (the default) refuses a push and says how an operator allows it", async () => {
    const proxy = proxyFor(true);
    const images = await pageImages(proxy);
    await images.pull(busybox.reference);
    const name = `${source.host}/not-here:1`;
    await images.tag(busybox.reference, name);
    await expect(images.push(name)).rejects.toThrow(`--allow-push ${source.host}`);

    const readOnly = proxyFor(false);
    const post = await readOnly.fetch(new Request(`${PROXY}/v2/${target.host}/x/blobs/uploads/`, { method: "POST" }));
    expect(post.status).toBe(405);
    const preflight = await readOnly.fetch(
      new Request(`${PROXY}/v2/${target.host}/x/blobs/uploads/`, {
        method: "OPTIONS",
        headers: { origin: "http://page.test", "access-control-request-method": "PUT" },
      }),
    );
    expect(preflight.headers.get("access-control-allow-methods")).not.toMatch(/PUT/);
  });
});
