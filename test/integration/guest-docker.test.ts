// Docker inside the real guest: /var/run/docker.sock answers the Engine API (drydockd forwards each connection to the
// engine, whose HTTP server and API app answer it), with containers that really run.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContainerService,
  type Drydock,
  type HttpExchange,
  type ImageService,
  serveDockerInGuest,
} from "../../engine/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let drydock: Drydock;
let images: ImageService;
let containers: ContainerService;
let registry: Registry;
let dir: string;
let busybox: string;
const exchanges: HttpExchange[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  const seeded = await seedRegistry(registry, ["busybox"]);
  dir = await mkdtemp(join(tmpdir(), "drydock-guest-docker-"));
  images = await openNodeImageService(dir);
  busybox = (await images.pull(seeded.busybox.reference)).name;
  drydock = await bootDrydock();
  containers = ContainerService.open(drydock, images);
  await serveDockerInGuest(drydock, { images, containers, onExchange: (exchange) => exchanges.push(exchange) });
});

afterAll(async () => {
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs a shell command in the guest (outside containers). */
async function sh(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = await drydock.agent.spawn({ argv: ["sh", "-c", script], env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] });
  await proc.stdin.close();
  const [stdout, stderr, { code }] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exit,
  ]);
  return { code, stdout, stderr };
}

/** Splits a raw HTTP/1.0 answer into status, headers and body. */
function parseAnswer(raw: string) {
  const [head = "", ...rest] = raw.split("\r\n\r\n");
  const [statusLine = "", ...headerLines] = head.split("\r\n");
  return { status: Number(statusLine.split(" ")[1]), headers: headerLines.join("\n"), body: rest.join("\r\n\r\n") };
}

describe("the guest's /var/run/docker.sock", () => {
  it("lists a running container to a client in the guest", async () => {
    const { id } = await containers.run(busybox, { cmd: ["sleep", "30"], name: "sleeper" });
    try {
      const { code, stdout, stderr } = await sh(
        "printf 'GET /v1.43/containers/json HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n' | drydockd connect /var/run/docker.sock",
      );
      expect(stderr).toBe("");
      expect(code).toBe(0);
      const answer = parseAnswer(stdout);
      expect(answer.status).toBe(200);
      expect(answer.headers).toMatch(/api-version: 1\.43/i);
      const list = JSON.parse(answer.body) as { Id: string; Names: string[]; State: string }[];
      expect(list).toEqual([expect.objectContaining({ Id: id, Names: ["/sleeper"], State: "running" })]);
      expect(exchanges).toContainEqual({
        method: "GET",
        target: "/v1.43/containers/json",
        status: 200,
        upgraded: false,
      });
    } finally {
      await containers.remove(id, { force: true });
    }
  });

  it("answers several clients at once and keeps serving after a malformed request", async () => {
    const { stdout } = await sh(
      [
        "for i in 1 2 3; do printf 'GET /_ping HTTP/1.0\\r\\n\\r\\n' | drydockd connect /var/run/docker.sock > /tmp/ping$i & done",
        "printf 'NONSENSE\\r\\n\\r\\n' | drydockd connect /var/run/docker.sock > /tmp/bad",
        "wait",
        "cat /tmp/ping1 /tmp/ping2 /tmp/ping3 /tmp/bad",
      ].join("\n"),
    );
    expect(stdout.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
    expect(stdout.match(/\r\n\r\nOK/g)).toHaveLength(3);
    expect(stdout).toContain("HTTP/1.1 400 Bad Request");
    const after = await sh("printf 'GET /version HTTP/1.0\\r\\n\\r\\n' | drydockd connect /var/run/docker.sock");
    expect(parseAnswer(after.stdout).status).toBe(200);
    expect(JSON.parse(parseAnswer(after.stdout).body)).toMatchObject({ ApiVersion: "1.43", Os: "linux" });
  });
});
