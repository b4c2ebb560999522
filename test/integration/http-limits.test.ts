// The engine's doors under abuse: the Node daemon's unix socket and the guest's /var/run/docker.sock (one HTTP server,
// engine/http, behind both) hold against a slowloris and an oversized body, as a user would see it: a 408 or 413
// answer and a closed connection, never a connection held forever or a body read whole. Both run with a short
// header timeout (the default is 30 s) so the test does not wait that long. The daemon's body limit is the API's own
// (4 MiB of JSON); the guest's is lowered to 512 KiB, because bytes cross the emulated guest's link at a few hundred
// KiB per second.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_JSON_BODY_BYTES } from "../../engine/api/index.ts";
import type { HttpExchange } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { type GuestDockerFixture, startGuestDocker } from "../fixtures/guest-docker.ts";

const HEADER_TIMEOUT_MS = 3000;
const MiB = 1024 * 1024;
const GUEST_BODY_LIMIT = 512 * 1024;

let guest: GuestDockerFixture;
let daemon: Daemon;
let dir: string;
const exchanges: HttpExchange[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "drydock-http-limits-"));
  guest = await startGuestDocker({
    onExchange: (exchange) => exchanges.push(exchange),
    httpLimits: { headerTimeoutMs: HEADER_TIMEOUT_MS, maxBodyBytes: GUEST_BODY_LIMIT },
  });
  daemon = await startDaemon({
    host: `unix://${join(dir, "docker.sock")}`,
    images: guest.images,
    containers: guest.containers,
    httpLimits: { headerTimeoutMs: HEADER_TIMEOUT_MS },
  });
});

afterAll(async () => {
  await daemon?.close();
  await guest?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A raw client of the daemon's socket: what it wrote, what it heard, and when the server hung up. */
function rawClient(): { socket: Socket; heard: () => string; accepted: () => number; closed: Promise<void> } {
  const socket = createConnection(daemon.socketPath);
  let heard = "";
  let accepted = 0;
  socket.on("data", (data: Buffer) => {
    heard += data.toString("latin1");
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const write = socket.write.bind(socket);
  socket.write = ((chunk: Buffer | string) =>
    write(chunk, (error) => {
      if (!error) accepted += Buffer.byteLength(chunk);
    })) as typeof socket.write;
  return { socket, heard: () => heard, accepted: () => accepted, closed };
}

/** Writes `chunk` until `total` bytes are out or the server hangs up, waiting for the socket to drain as it goes. */
async function flood(socket: Socket, chunk: Buffer, total: number, closed: Promise<void>): Promise<void> {
  let gone = false;
  void closed.then(() => {
    gone = true;
  });
  for (let sent = 0; sent < total && !gone && !socket.destroyed; sent += chunk.length) {
    if (!socket.write(chunk)) {
      await Promise.race([new Promise((resolve) => socket.once("drain", resolve)), closed]);
    }
  }
}

describe("the Node daemon's socket", () => {
  it("answers 408 and hangs up on a request head that never ends (slowloris)", async () => {
    const client = rawClient();
    client.socket.write("GET /v1.43/_ping HTTP/1.1\r\nHost: docker\r\n");
    const dribble = setInterval(() => client.socket.write("X"), 200);
    await client.closed;
    clearInterval(dribble);
    expect(client.heard()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it("refuses a 200 MB container config with 413, having read no more than the limit", async () => {
    const framed = rawClient();
    framed.socket.write(
      `POST /v1.43/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${200 * MiB}\r\n\r\n`,
    );
    await flood(framed.socket, Buffer.alloc(64 * 1024, 0x20), 200 * MiB, framed.closed);
    await framed.closed;
    expect(framed.heard()).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(framed.accepted()).toBeLessThan(4 * MiB);

    // Chunked, the length is not known up front: the server stops at the limit, not at the end.
    const chunked = rawClient();
    chunked.socket.write(
      "POST /v1.43/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    const piece = Buffer.concat([Buffer.from("4000\r\n"), Buffer.alloc(0x4000, 0x20), Buffer.from("\r\n")]);
    await flood(chunked.socket, piece, 200 * MiB, chunked.closed);
    await chunked.closed;
    expect(chunked.heard()).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(chunked.accepted()).toBeLessThan(MAX_JSON_BODY_BYTES + 4 * MiB);
  });

  it("answers curl's Expect: 100-continue at once, and a bad %-escape with 400", async () => {
    const config = join(dir, "config.json");
    await writeFile(config, JSON.stringify({ Image: guest.busybox, Cmd: ["true"] }));
    const { stderr } = await promisify(execFile)("curl", [
      "-sv",
      "--unix-socket",
      daemon.socketPath,
      "-H",
      "Expect: 100-continue",
      "-H",
      "Content-Type: application/json",
      "--data-binary",
      `@${config}`,
      "http://docker/v1.43/containers/create?name=continued",
    ]);
    expect(stderr).toMatch(/< HTTP\/1\.1 100 Continue/);
    expect(stderr).toMatch(/< HTTP\/1\.1 201 Created/);
    await guest.containers.remove("continued", { force: true });

    const client = rawClient();
    client.socket.write("GET /v1.43/containers/%zz/json HTTP/1.1\r\nHost: docker\r\n\r\n");
    await client.closed;
    expect(client.heard()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(client.heard()).toContain("malformed %-escape");
  });
});

describe("the guest's /var/run/docker.sock", () => {
  function sh(script: string) {
    return guest.drydock.agent.run(["sh", "-c", script], { env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] });
  }

  it("answers 408 and hangs up on a request head that never ends (slowloris)", async () => {
    // The shell keeps the connection's input open (fd 3 on a fifo): only the server can end it.
    const { stdout } = await sh(
      [
        "rm -f /tmp/slow.in; mkfifo /tmp/slow.in",
        "drydockd connect /var/run/docker.sock < /tmp/slow.in > /tmp/slow.out & pid=$!",
        "exec 3>/tmp/slow.in",
        "printf 'GET /_ping HTTP/1.1\\r\\nHost: docker\\r\\nX-Slow: ' >&3",
        "wait $pid; echo ended; cat /tmp/slow.out; exec 3>&-",
      ].join("\n"),
    );
    expect(stdout).toMatch(/^ended\nHTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it("refuses an oversized container config with 413, by its Content-Length or as its chunks come", async () => {
    const byLength = await sh(
      `printf 'POST /v1.43/containers/create HTTP/1.1\\r\\nHost: docker\\r\\nContent-Length: ${200 * MiB}\\r\\n\\r\\n' | drydockd connect /var/run/docker.sock`,
    );
    expect(byLength.stdout).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    const chunks = Math.ceil((GUEST_BODY_LIMIT + 256 * 1024) / 65536);
    const chunked = await sh(
      [
        "{ printf 'POST /v1.43/containers/create HTTP/1.1\\r\\nHost: docker\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n'",
        `  i=0; while [ $i -lt ${chunks} ]; do printf '10000\\r\\n'; head -c 65536 /dev/zero; printf '\\r\\n'; i=$((i+1)); done`,
        "  printf '0\\r\\n\\r\\n'; } 2>/dev/null | drydockd connect /var/run/docker.sock",
      ].join("\n"),
    );
    expect(chunked.stdout).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(exchanges.filter((e) => e.target === "/v1.43/containers/create").map((e) => e.status)).toEqual([413, 413]);
  });
});
