import { describe, expect, it } from "vitest";
import { type FetchHandler, type HttpExchange, type ServeOptions, serveHttpConnection } from "./index.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A client end of an in-memory socket served by `handler`. */
function connect(handler: FetchHandler, options: ServeOptions = {}) {
  const toServer = new TransformStream<Uint8Array, Uint8Array>();
  const toClient = new TransformStream<Uint8Array, Uint8Array>();
  const exchanges: HttpExchange[] = [];
  // Counts what the server took off the connection: what a flood could make it hold.
  const stats = { read: 0 };
  const counted = toServer.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        stats.read += chunk.length;
        controller.enqueue(chunk);
      },
    }),
  );
  const served = serveHttpConnection({ readable: counted, writable: toClient.writable }, handler, {
    onExchange: (exchange) => exchanges.push(exchange),
    ...options,
  });
  const writer = toServer.writable.getWriter();
  const reader = toClient.readable.getReader();
  let received = "";
  return {
    exchanges,
    served,
    stats,
    /** Writes and waits until the server's side took the bytes (or the connection closed). */
    write: (bytes: Uint8Array) => writer.write(bytes),
    /** Queues bytes without waiting for the server to read them (a socket's buffer). */
    send: (text: string | Uint8Array) => {
      writer.write(typeof text === "string" ? encoder.encode(text) : text).catch(() => {});
    },
    /** Half-closes (the client sends no more), reads what is left and waits for the server to finish. */
    async finish(): Promise<string> {
      await writer.close();
      const all = await this.readAll();
      await served;
      return all;
    },
    /** Reads until `received` contains `until` (or the server closes); returns everything read so far. */
    async readUntil(until: string | RegExp): Promise<string> {
      const found = () => (typeof until === "string" ? received.includes(until) : until.test(received));
      while (!found()) {
        const { done, value } = await reader.read();
        if (done) break;
        received += decoder.decode(value, { stream: true });
      }
      return received;
    },
    /** Reads to the end of the connection. */
    async readAll(): Promise<string> {
      for (let next = await reader.read(); !next.done; next = await reader.read())
        received += decoder.decode(next.value, { stream: true });
      return received;
    },
  };
}

const echo: FetchHandler = async (request) => {
  const url = new URL(request.url);
  const body = request.body ? await request.text() : "";
  return Response.json({ method: request.method, path: url.pathname + url.search, body });
};

describe("serveHttpConnection", () => {
  it("answers requests one after another on a kept-alive connection", async () => {
    const client = connect(echo);
    client.send("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");
    const first = await client.readUntil('"body":""}');
    expect(first).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(first).toMatch(/transfer-encoding: chunked\r\n/i);
    expect(first).toContain('{"method":"GET","path":"/_ping","body":""}');
    client.send("GET /v1.43/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n\r\n");
    expect(await client.readUntil("all=1")).toContain('"path":"/v1.43/containers/json?all=1"');
    await client.finish();
    expect(client.exchanges.map((e) => e.target)).toEqual(["/_ping", "/v1.43/containers/json?all=1"]);
  });

  it("reads bodies framed by Content-Length and by chunks, and skips one the handler left unread", async () => {
    const client = connect(async (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/ignore") return new Response("ignored");
      return echo(request);
    });
    client.send('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{"Cmd":[1]}');
    expect(await client.readUntil("}")).toContain('"body":"{\\"Cmd\\":[1]}"');
    client.send("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    await client.readUntil("ignored");
    client.send(
      "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n",
    );
    expect(await client.readUntil('"/b"')).toContain('"path":"/b","body":"Wikipedia"');
    await client.finish();
  });

  it("streams an answer of unknown length in chunks as they are produced", async () => {
    let emit!: (text: string) => void;
    let finish!: () => void;
    const client = connect(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              emit = (text) => controller.enqueue(encoder.encode(text));
              finish = () => controller.close();
            },
          }),
          { headers: { "content-type": "application/json" } },
        ),
    );
    client.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    await client.readUntil("\r\n\r\n");
    emit('{"status":"start"}\n');
    // The first event arrives before the answer ends.
    expect(await client.readUntil('start"}')).toMatch(
      /transfer-encoding: chunked\r\n\r\n13\r\n\{"status":"start"\}\n\r\n$/i,
    );
    finish();
    expect(await client.readUntil("0\r\n\r\n")).toMatch(/0\r\n\r\n$/);
    await client.finish();
  });

  it("reports a streamed exchange when its head is out, not when the stream ends", async () => {
    let finish!: () => void;
    const client = connect(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              finish = () => controller.close();
            },
          }),
        ),
    );
    client.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    await client.readUntil("\r\n\r\n");
    expect(client.exchanges).toEqual([{ method: "GET", target: "/events", status: 200, upgraded: false }]);
    finish();
    await client.finish();
  });

  it("stops an idle streamed answer when its client closes the connection (docker events, then Ctrl-C)", async () => {
    let cancelled = false;
    const client = connect(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            cancel: () => {
              cancelled = true;
            },
          }),
        ),
    );
    client.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    await client.readUntil("\r\n\r\n");
    // Nothing to say, and the client leaves: the answer's stream is cancelled without waiting for a write to fail.
    await client.finish();
    expect(cancelled).toBe(true);
  });

  it("closes an HTTP/1.0 keep-alive connection after a streamed answer (its end is the connection's end)", async () => {
    const client = connect(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode("streamed"));
              controller.close();
            },
          }),
        ),
    );
    client.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const all = await client.readAll();
    expect(all).toMatch(/connection: close\r\n/i);
    expect(all.endsWith("\r\n\r\nstreamed")).toBe(true);
    await client.served;
  });

  it("hijacks a request that asks to upgrade: 101, then the client's bytes in, the answer's bytes out, raw", async () => {
    const client = connect(async (request) => {
      const stdin = request.body!;
      const upper = stdin.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform: (chunk, controller) => controller.enqueue(encoder.encode(decoder.decode(chunk).toUpperCase())),
        }),
      );
      return new Response(upper, { headers: { "content-type": "application/vnd.docker.raw-stream" } });
    });
    client.send(
      "POST /containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello ",
    );
    const head = await client.readUntil("\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 101 UPGRADED\r\n/);
    expect(head).not.toMatch(/transfer-encoding/i);
    expect(head).toMatch(/connection: Upgrade\r\n/i);
    expect(head).toMatch(/upgrade: tcp\r\n/i);
    expect(head).toContain("application/vnd.docker.raw-stream");
    client.send("world");
    expect(await client.readUntil("WORLD")).toMatch(/\r\n\r\nHELLO WORLD$/);
    // The client's half-close ends the body the handler reads, which ends its answer and the connection.
    expect(await client.finish()).toMatch(/HELLO WORLD$/);
    expect(client.exchanges).toEqual([
      { method: "POST", target: "/containers/abc/attach?stream=1&stdin=1", status: 101, upgraded: true },
    ]);
  });

  it("answers a refused upgrade normally and closes the connection", async () => {
    const client = connect(() => Response.json({ message: "No such container: nope" }, { status: 404 }));
    client.send("POST /containers/nope/attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    const answer = await client.readAll();
    expect(answer).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(answer).toContain('{"message":"No such container: nope"}');
    await client.served;
  });

  it("refuses a malformed request with 400 and closes", async () => {
    const client = connect(echo);
    client.send("HELLO THERE\r\n\r\n");
    const answer = await client.readAll();
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).toContain("malformed request line");
    await client.served;
  });

  it("sends no body for HEAD, and closes after an HTTP/1.0 request", async () => {
    const client = connect(() => new Response("OK", { headers: { "content-type": "text/plain" } }));
    client.send("HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await client.readUntil("\r\n\r\n")).not.toContain("OK\r\n\r\nOK");
    client.send("GET /_ping HTTP/1.0\r\n\r\n");
    const all = await client.readAll();
    expect(all.split("HTTP/1.1 200 OK").length).toBe(3);
    // HTTP/1.0 knows no chunks: the answer ends with the connection.
    expect(all.endsWith("\r\n\r\nOK")).toBe(true);
    await client.served;
  });

  it("answers 500 with the message when the handler throws, and keeps serving", async () => {
    let calls = 0;
    const client = connect(() => {
      calls++;
      if (calls === 1) throw new Error("boom");
      return new Response("fine");
    });
    client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await client.readUntil("boom")).toMatch(/^HTTP\/1\.1 500 /);
    client.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await client.readUntil("fine")).toContain("200 OK");
    await client.finish();
  });

  describe("limits", () => {
    const MiB = 1024 * 1024;
    /** Writes `total` bytes of body in `chunk`-sized pieces, framed as `framing`, until the server stops taking them. */
    async function flood(client: ReturnType<typeof connect>, total: number, chunk: number, chunked: boolean) {
      const piece = new Uint8Array(chunk).fill(120);
      const frame = chunked
        ? new Uint8Array([...encoder.encode(`${chunk.toString(16)}\r\n`), ...piece, 13, 10])
        : piece;
      try {
        for (let sent = 0; sent < total; sent += chunk) await client.write(frame);
      } catch {
        // The server closed the connection: the flood is over.
      }
    }

    it("answers 408 and closes a connection whose request head never finishes (slowloris)", async () => {
      let called = false;
      const client = connect(
        () => {
          called = true;
          return new Response("no");
        },
        { limits: { headerTimeoutMs: 150 } },
      );
      client.send("GET /_ping HTTP/1.1\r\nHost: x\r\n");
      // One more header byte every 50 ms keeps bytes coming, but not the head's end.
      const dribble = setInterval(() => client.send("X"), 50);
      const answer = await client.readAll();
      clearInterval(dribble);
      expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(answer).toMatch(/connection: close/);
      await client.served;
      expect(called).toBe(false);
    });

    it("closes a connection that says nothing, and a kept-alive one that goes quiet", async () => {
      const silent = connect(echo, { limits: { headerTimeoutMs: 100 } });
      expect(await silent.readAll()).toBe("");
      await silent.served;
      const idle = connect(echo, { limits: { idleTimeoutMs: 100 } });
      idle.send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
      const all = await idle.readAll();
      expect(all).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(all.endsWith("0\r\n\r\n")).toBe(true);
      await idle.served;
    });

    it("answers 431 to a head larger than allowed, however it is split", async () => {
      const client = connect(echo, { limits: { maxHeaderBytes: 4096 } });
      client.send("GET / HTTP/1.1\r\nHost: x\r\n");
      for (let i = 0; i < 100; i++) client.send(`X-Filler-${i}: ${"a".repeat(40)}\r\n`);
      const answer = await client.readAll();
      expect(answer).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
      await client.served;
      expect(client.stats.read).toBeLessThan(4096 + 2048);
    });

    it("answers 413 to a Content-Length over the limit before reading any of the body", async () => {
      let called = false;
      const client = connect(
        () => {
          called = true;
          return new Response("no");
        },
        { limits: { maxBodyBytes: MiB } },
      );
      client.send(`POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: ${200 * MiB}\r\n\r\n`);
      const flooding = flood(client, 200 * MiB, 64 * 1024, false);
      const answer = await client.readAll();
      await flooding;
      expect(answer).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
      expect(answer).toContain(`request body of ${200 * MiB} bytes is larger than the ${MiB} allowed`);
      await client.served;
      expect(called).toBe(false);
      expect(client.stats.read).toBeLessThan(512 * 1024);
    });

    it("answers 413 to a chunked body that outgrows the limit, in big chunks or small ones, having read no more", async () => {
      for (const chunk of [4 * MiB, 1024]) {
        let handlerSaw: unknown;
        const client = connect(
          async (request) => {
            try {
              await request.text();
            } catch (error) {
              handlerSaw = error;
            }
            return Response.json({ message: "handler's own answer" }, { status: 400 });
          },
          { limits: { maxBodyBytes: MiB } },
        );
        client.send("POST /containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        const flooding = flood(client, 64 * MiB, chunk, true);
        const answer = await client.readAll();
        await flooding;
        expect(answer).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
        expect(answer).not.toContain("handler's own answer");
        expect(handlerSaw).toBeDefined();
        await client.served;
        expect(client.stats.read).toBeLessThan(MiB + 2 * Math.max(chunk, 64 * 1024) + 4096);
      }
    });

    it("asks for the body with 100 Continue, and refuses an oversized one without asking", async () => {
      const client = connect(echo, { limits: { maxBodyBytes: 1024 } });
      client.send("POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
      expect(await client.readUntil("\r\n\r\n")).toBe("HTTP/1.1 100 Continue\r\n\r\n");
      client.send("hello");
      expect(await client.readUntil('"body":"hello"')).toMatch(/HTTP\/1\.1 200 OK\r\n/);
      client.send("POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
      const rest = (await client.readAll()).split('"body":"hello"}')[1];
      expect(rest).toMatch(/HTTP\/1\.1 413 Payload Too Large\r\n/);
      expect(rest).not.toContain("100 Continue");
      await client.served;
    });

    it("answers 400 and closes cleanly for malformed requests", async () => {
      const cases: Array<[string, RegExp]> = [
        ["GET /containers/%zz/json HTTP/1.1\r\nHost: x\r\n\r\n", /malformed %-escape/],
        ["GET /containers/%C3/json HTTP/1.1\r\nHost: x\r\n\r\n", /not UTF-8/],
        ["GET containers/json HTTP/1.1\r\nHost: x\r\n\r\n", /neither a path nor an absolute http URL/],
        ["GET /_ping HTTP/1.1\r\nHo st: x\r\n\r\n", /malformed header name/],
        ["GET /_ping HTTP/1.1\r\nHost : x\r\n\r\n", /malformed header name/],
        ["GET /_ping HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", /obsolete line folding/],
        ["GET /_ping HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", /control character/],
        ["POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", /Content-Length/],
        ["POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", /both/],
        ["POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", /chunk size/],
        ["POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", /CRLF/],
      ];
      for (const [request, message] of cases) {
        const client = connect(echo);
        client.send(request);
        const answer = await client.readAll();
        expect(answer, request).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
        expect(answer, request).toMatch(message);
        expect(answer, request).toMatch(/connection: close/);
        await client.served;
      }
    });

    it("answers 408 when a request body stalls, instead of holding the connection", async () => {
      const client = connect(echo, { limits: { idleTimeoutMs: 100 } });
      client.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhel");
      const answer = await client.readAll();
      expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(answer).toContain("stalled");
      await client.served;
    });

    it("disconnects rather than reads a large body the handler did not want, and keeps a small one's connection", async () => {
      const client = connect(() => new Response("ignored"));
      client.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
      await client.readUntil("ignored");
      client.send(`POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: ${4 * MiB}\r\n\r\n`);
      const flooding = flood(client, 4 * MiB, 64 * 1024, false);
      const all = await client.readAll();
      await flooding;
      expect(all.split("ignored").length).toBe(3);
      await client.served;
      expect(client.stats.read).toBeLessThan(MiB);
    });
  });
});
