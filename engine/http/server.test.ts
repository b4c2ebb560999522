import { describe, expect, it } from "vitest";
import { type FetchHandler, type HttpExchange, serveHttpConnection } from "./index.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A client end of an in-memory socket served by `handler`. */
function connect(handler: FetchHandler) {
  const toServer = new TransformStream<Uint8Array, Uint8Array>();
  const toClient = new TransformStream<Uint8Array, Uint8Array>();
  const exchanges: HttpExchange[] = [];
  const served = serveHttpConnection({ readable: toServer.readable, writable: toClient.writable }, handler, {
    onExchange: (exchange) => exchanges.push(exchange),
  });
  const writer = toServer.writable.getWriter();
  const reader = toClient.readable.getReader();
  let received = "";
  return {
    exchanges,
    served,
    /** Queues bytes without waiting for the server to read them (a socket's buffer). */
    send: (text: string | Uint8Array) => {
      void writer.write(typeof text === "string" ? encoder.encode(text) : text);
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
});
