// One HTTP/1.1 request and its answer over a byte stream (a TCP connection opened inside the guest): what the page's
// preview and a benchmark send to a server in a container. The request's headers go out as given (no fetch guard drops
// Cookie or Origin), its body streams (Content-Length when known, chunked otherwise); the answer's body streams back
// as it comes, framed by Content-Length, chunks or the connection's end. One request per connection (`Connection:
// close`): the preview opens a connection per request.
import { ByteReader, HttpParseError } from "./reader.ts";
import type { ByteConnection } from "./server.ts";

/** A request as it goes on the wire: the headers are name/value pairs, in order, repeats kept. */
export interface HttpRequestHead {
  method: string;
  /** Origin-form: `/path?query`. */
  target: string;
  headers: [string, string][];
}

/** An answer's status line and headers, as they came (repeats, such as Set-Cookie, kept). */
export interface HttpResponseHead {
  status: number;
  statusText: string;
  headers: [string, string][];
}

export interface HttpAnswer {
  head: HttpResponseHead;
  /** Null when the answer has no body (HEAD, 204, 304). */
  body: ReadableStream<Uint8Array> | null;
}

/** Limits on what the server sends back before its body. */
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_HEADERS = 200;
/** Headers that belong to one connection (RFC 9110 §7.6.1): the client frames its own request. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"]);

const encoder = new TextEncoder();

/** A server's answer that cannot be read: the preview answers 502 with this message. */
export class HttpClientError extends Error {
  override readonly name = "HttpClientError";
}

/**
 * Sends one request on `connection` and reads its answer's head; the body streams from the connection as the caller
 * reads it, and the connection closes when the body ends or is cancelled.
 * @example
 * const answer = await httpRequest(connection, { method: "GET", target: "/", headers: [["host", "localhost"]] });
 * console.log(answer.head.status, await new Response(answer.body).text());
 */
export async function httpRequest(
  connection: ByteConnection,
  head: HttpRequestHead,
  body: ReadableStream<Uint8Array> | null = null,
): Promise<HttpAnswer> {
  const writer = connection.writable.getWriter();
  const reader = new ByteReader(connection.readable);
  const close = async () => {
    await reader.cancel();
    await writer.close().catch(() => {});
  };
  try {
    const length = head.headers.find(([name]) => name.toLowerCase() === "content-length")?.[1];
    const chunked = body !== null && length === undefined;
    let text = `${head.method} ${head.target} HTTP/1.1\r\n`;
    for (const [name, value] of head.headers) {
      if (!HOP_BY_HOP.has(name.toLowerCase())) text += `${name}: ${value}\r\n`;
    }
    if (chunked) text += "transfer-encoding: chunked\r\n";
    text += "connection: close\r\n\r\n";
    // The body is sent while the answer is read: a server may answer (413, a redirect) before reading it all.
    const sent = (async () => {
      await writer.write(encoder.encode(text));
      if (body) {
        for await (const chunk of iterate(body)) {
          if (!chunk.length) continue;
          if (!chunked) await writer.write(chunk);
          else await writer.write(concat(encoder.encode(`${chunk.length.toString(16)}\r\n`), chunk, CRLF));
        }
        if (chunked) await writer.write(encoder.encode("0\r\n\r\n"));
      }
    })();
    // A write that fails because the server answered and closed early is not the answer's failure.
    sent.catch(() => {});
    let answer: HttpResponseHead;
    // 1xx answers (100 Continue, 103 Early Hints) come before the final one.
    do answer = await readAnswerHead(reader);
    while (answer.status >= 100 && answer.status < 200 && answer.status !== 101);
    if (answer.status === 101) {
      throw new HttpClientError("the server switched protocols (101): upgrades such as WebSocket are not relayed");
    }
    const noBody = head.method === "HEAD" || answer.status === 204 || answer.status === 304;
    if (noBody) {
      await close();
      return { head: answer, body: null };
    }
    return { head: answer, body: answerBody(reader, answer.headers, close) };
  } catch (error) {
    await close();
    if (error instanceof HttpParseError) throw new HttpClientError(error.message);
    throw error;
  }
}

const CRLF = new Uint8Array([13, 10]);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function* iterate(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

async function readAnswerHead(reader: ByteReader): Promise<HttpResponseHead> {
  let budget = MAX_HEAD_BYTES;
  const nextLine = async () => {
    let line: string | undefined;
    try {
      line = await reader.line(budget);
    } catch (error) {
      if (error instanceof HttpParseError && error.status === 431) {
        throw new HttpClientError(`the server's answer head is larger than ${MAX_HEAD_BYTES} bytes`);
      }
      throw error;
    }
    if (line === undefined) throw new HttpClientError("the server closed the connection without an answer");
    budget -= line.length + 2;
    return line;
  };
  const statusLine = await nextLine();
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!match) {
    throw new HttpClientError(`the server did not answer in HTTP/1.x: ${JSON.stringify(statusLine.slice(0, 80))}`);
  }
  const headers: [string, string][] = [];
  for (;;) {
    const line = await nextLine();
    if (line === "") break;
    if (headers.length >= MAX_HEADERS) throw new HttpClientError(`the server sent over ${MAX_HEADERS} headers`);
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpClientError(`malformed header in the answer: ${JSON.stringify(line.slice(0, 80))}`);
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return { status: Number(match[1]), statusText: match[2] ?? "", headers };
}

/** The answer's body as it is framed: chunked, Content-Length, or up to the connection's end. */
function answerBody(
  reader: ByteReader,
  headers: [string, string][],
  close: () => Promise<void>,
): ReadableStream<Uint8Array> {
  const get = (name: string) => headers.find(([key]) => key.toLowerCase() === name)?.[1];
  const chunked = (get("transfer-encoding") ?? "").toLowerCase().includes("chunked");
  const lengthText = get("content-length");
  let remaining = chunked || lengthText === undefined ? Number.POSITIVE_INFINITY : Number(lengthText);
  if (Number.isNaN(remaining)) throw new HttpClientError(`malformed Content-Length in the answer: ${lengthText}`);
  let inChunk = 0;
  const read = async (): Promise<Uint8Array | undefined> => {
    if (chunked) {
      if (inChunk === 0) {
        const size = /^([0-9A-Fa-f]{1,15})/.exec((await reader.line(4096)) ?? "")?.[1];
        if (size === undefined) throw new HttpClientError("malformed chunk size in the answer");
        inChunk = Number.parseInt(size, 16);
        if (inChunk === 0) {
          // Trailers, then the empty line.
          for (let line = await reader.line(MAX_HEAD_BYTES); line; line = await reader.line(MAX_HEAD_BYTES)) {}
          return undefined;
        }
      }
      const bytes = await reader.some(inChunk);
      if (!bytes) throw new HttpClientError("the server closed the connection inside a chunk");
      inChunk -= bytes.length;
      if (inChunk === 0) await reader.line(2);
      return bytes;
    }
    if (remaining === 0) return undefined;
    const bytes = await reader.some(Math.min(remaining, 65536));
    if (!bytes) {
      if (remaining === Number.POSITIVE_INFINITY) return undefined;
      throw new HttpClientError(`the server closed the connection ${remaining} bytes before the body's end`);
    }
    remaining -= bytes.length;
    return bytes;
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const bytes = await read();
          if (bytes) controller.enqueue(bytes);
          else {
            controller.close();
            await close();
          }
        } catch (error) {
          controller.error(error instanceof HttpParseError ? new HttpClientError(error.message) : error);
          await close();
        }
      },
      cancel: close,
    },
    { highWaterMark: 0 },
  );
}
