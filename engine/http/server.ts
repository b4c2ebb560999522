// HTTP/1.1 over any byte stream, answered by a fetch handler: the Docker socket inside the guest (a connection that
// drydockd forwards) and the Node daemon's unix socket speak through this one server. Keep-alive, Content-Length and
// chunked bodies both ways, and Docker's hijacking: a request that asks to upgrade (`Connection: Upgrade`,
// `Upgrade: tcp`) gets `101 UPGRADED`; from then on the client's bytes are the request's body and the answer's body
// is written raw, until either side ends.
import { ByteReader, HttpParseError } from "./reader.ts";

/** Two byte streams, one each way: a socket. */
export interface ByteConnection {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** One request answered, for a trace or a log. */
export interface HttpExchange {
  method: string;
  /** The request target: path and query (`/v1.43/containers/json?all=1`). */
  target: string;
  status: number;
  /** The request asked to hijack the connection. */
  upgraded: boolean;
}

export interface ServeOptions {
  /** Called when each answer's head has been written. */
  onExchange?: (exchange: HttpExchange) => void;
  /** `Host` to assume when a request has none (HTTP/1.0); default `localhost`. */
  defaultHost?: string;
}

const MAX_LINE = 16 * 1024;
const NEVER = new Promise<never>(() => {});
const MAX_HEADERS = 100;
const encoder = new TextEncoder();

/** Content types whose bodies are raw streams, delimited by the connection's end (dockerd's attach without upgrade). */
export const RAW_STREAM_TYPES = ["application/vnd.docker.raw-stream", "application/vnd.docker.multiplexed-stream"];

/**
 * The length of the JSON that leads a hijacked request's body (docker's exec start sends its config with a
 * Content-Length, then stdin). Content-Length, Connection and Upgrade are forbidden request headers: a browser's
 * `new Request()` drops them, so the length also travels under this name, which survives.
 */
export const HIJACK_BODY_LENGTH = "x-drydock-body-length";

/**
 * A request header that keeps what the request makes the engine do out of the trace: the guest's docker sets it for
 * a lesson's checks (DRYDOCK_CHECK=1), which poll every few seconds and would drown what the learner does.
 */
export const QUIET_HEADER = "x-drydock-quiet";

/** Whether an answer's body is one of Docker's raw streams (what a hijacked request gets). */
export function isRawStream(response: Response): boolean {
  const contentType = response.headers.get("content-type") ?? "";
  return RAW_STREAM_TYPES.some((type) => contentType.startsWith(type));
}

const REASONS: Record<number, string> = {
  101: "UPGRADED",
  200: "OK",
  201: "Created",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Payload Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

interface RequestHead {
  method: string;
  target: string;
  minor: number;
  headers: Headers;
}

async function readHead(reader: ByteReader): Promise<RequestHead | undefined> {
  let line = await reader.line(MAX_LINE);
  // RFC 9112 §2.2: ignore empty lines before a request line.
  while (line === "") line = await reader.line(MAX_LINE);
  if (line === undefined) return undefined;
  const match = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(line);
  if (!match) throw new HttpParseError(400, `malformed request line: ${JSON.stringify(line.slice(0, 80))}`);
  const headers = new Headers();
  for (let count = 0; ; count++) {
    const header = await reader.line(MAX_LINE);
    if (header === undefined) throw new HttpParseError(400, "the connection ended inside the request head");
    if (header === "") break;
    if (count >= MAX_HEADERS) throw new HttpParseError(431, "too many request headers");
    const colon = header.indexOf(":");
    if (colon <= 0) throw new HttpParseError(400, `malformed header line: ${JSON.stringify(header.slice(0, 80))}`);
    headers.append(header.slice(0, colon).trim(), header.slice(colon + 1).trim());
  }
  return { method: match[1]!, target: match[2]!, minor: Number(match[3]), headers };
}

function tokens(value: string | null): string[] {
  return (value ?? "")
    .toLowerCase()
    .split(",")
    .map((token) => token.trim())
    .filter(Boolean);
}

/** The request's body as a stream that reads the connection (and only this request's bytes of it). */
function requestBody(
  reader: ByteReader,
  head: RequestHead,
): { body: ReadableStream<Uint8Array> | null; drain(): Promise<void> } {
  const chunked = tokens(head.headers.get("transfer-encoding")).includes("chunked");
  const lengthHeader = head.headers.get("content-length");
  if (!chunked && lengthHeader === null) return { body: null, drain: async () => {} };
  let remaining = 0;
  if (!chunked) {
    if (!/^\d+$/.test(lengthHeader!)) throw new HttpParseError(400, `malformed Content-Length: ${lengthHeader}`);
    remaining = Number(lengthHeader);
    if (remaining === 0) return { body: null, drain: async () => {} };
  }
  let finished = false;
  // Chunked: `remaining` counts what is left of the current chunk; 0 between chunks.
  const next = async (): Promise<Uint8Array | undefined> => {
    if (finished) return undefined;
    if (chunked && remaining === 0) {
      const sizeLine = await reader.line(MAX_LINE);
      const size = Number.parseInt(sizeLine?.split(";")[0]?.trim() ?? "", 16);
      if (sizeLine === undefined || !Number.isFinite(size) || size < 0)
        throw new HttpParseError(400, "malformed chunk size");
      if (size === 0) {
        // Trailers, then the empty line.
        for (let trailer = await reader.line(MAX_LINE); trailer; trailer = await reader.line(MAX_LINE)) {}
        finished = true;
        return undefined;
      }
      remaining = size;
    }
    const bytes = await reader.some(remaining);
    if (!bytes) throw new HttpParseError(400, "the connection ended inside a request body");
    remaining -= bytes.length;
    if (chunked && remaining === 0) await reader.line(MAX_LINE);
    if (!chunked && remaining === 0) finished = true;
    return bytes;
  };
  const body = new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        const bytes = await next();
        if (bytes) controller.enqueue(bytes);
        else controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    body,
    // What the handler left unread must still be consumed before the next request's head.
    drain: async () => {
      while (await next()) {}
    },
  };
}

function statusLine(status: number, statusText: string): string {
  return `HTTP/1.1 ${status} ${statusText || REASONS[status] || "Unknown"}\r\n`;
}

function headLines(headers: Headers, extra: Record<string, string>): string {
  let text = "";
  headers.forEach((value, name) => {
    text += `${name}: ${value}\r\n`;
  });
  for (const [name, value] of Object.entries(extra)) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

function plainAnswer(status: number, message: string): Uint8Array {
  const body = encoder.encode(`${message}\n`);
  const head = encoder.encode(
    `${statusLine(status, "")}content-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
  );
  const answer = new Uint8Array(head.length + body.length);
  answer.set(head);
  answer.set(body, head.length);
  return answer;
}

/**
 * Serves HTTP/1.1 requests arriving on `connection` with `handler` until the client closes it (or a request asks to
 * close, or hijacks it). Never throws: a malformed request is answered 400 and the connection closed.
 * @example
 * agent.listen("/var/run/docker.sock", (connection) => void serveHttpConnection(connection, app.fetch));
 */
export async function serveHttpConnection(
  connection: ByteConnection,
  handler: FetchHandler,
  options: ServeOptions = {},
): Promise<void> {
  const reader = new ByteReader(connection.readable);
  const writer = connection.writable.getWriter();
  try {
    for (;;) {
      let head: RequestHead | undefined;
      try {
        head = await readHead(reader);
      } catch (error) {
        if (error instanceof HttpParseError) await writer.write(plainAnswer(error.status, error.message));
        break;
      }
      if (!head) break;
      const keepGoing = await exchange(reader, writer, head, handler, options);
      if (!keepGoing) break;
    }
  } catch {
    // The client went away mid-answer: nothing to tell it.
  } finally {
    await reader.cancel();
    await writer.close().catch(() => {});
  }
}

/** Answers one request; false when the connection must close afterwards. */
async function exchange(
  reader: ByteReader,
  writer: WritableStreamDefaultWriter<Uint8Array>,
  head: RequestHead,
  handler: FetchHandler,
  options: ServeOptions,
): Promise<boolean> {
  const upgrade = tokens(head.headers.get("connection")).includes("upgrade") && head.headers.get("upgrade") !== null;
  const closeAfter =
    head.minor === 0
      ? !tokens(head.headers.get("connection")).includes("keep-alive")
      : tokens(head.headers.get("connection")).includes("close");
  let body: ReadableStream<Uint8Array> | null;
  let drain = async () => {};
  try {
    if (upgrade) body = reader.rest();
    else ({ body, drain } = requestBody(reader, head));
  } catch (error) {
    if (error instanceof HttpParseError) await writer.write(plainAnswer(error.status, error.message));
    return false;
  }
  const host = head.headers.get("host") || options.defaultHost || "localhost";
  const url = head.target.startsWith("/") ? `http://${host}${head.target}` : head.target;
  const hasBody = body !== null && head.method !== "GET" && head.method !== "HEAD";
  const leadingLength = head.headers.get("content-length");
  if (upgrade && leadingLength !== null) head.headers.set(HIJACK_BODY_LENGTH, leadingLength);
  let response: Response;
  try {
    const request = new Request(url, {
      method: head.method,
      headers: head.headers,
      ...(hasBody ? { body, duplex: "half" } : {}),
    } as RequestInit);
    response = await handler(request);
  } catch (error) {
    response = new Response(`${error instanceof Error ? error.message : String(error)}\n`, { status: 500 });
  }
  const report = (status: number) =>
    options.onExchange?.({ method: head.method, target: head.target, status, upgraded: upgrade && status === 101 });

  const rawStream = isRawStream(response);
  if (upgrade && response.ok) {
    await writer.write(
      encoder.encode(
        `${statusLine(101, "UPGRADED")}${headLines(response.headers, { connection: "Upgrade", upgrade: "tcp" })}`,
      ),
    );
    report(101);
    await pipeRaw(response.body, writer);
    return false;
  }
  if (upgrade) {
    // Refused before hijacking: the client's bytes after the head cannot be delimited, so the connection ends here.
    await writeFramed(writer, head, response, true, () => report(response.status));
    await body?.cancel().catch(() => {});
    return false;
  }
  if (rawStream) {
    // dockerd's answer to an attach that did not ask to upgrade: raw bytes until the connection closes.
    await writer.write(
      encoder.encode(
        `${statusLine(response.status, response.statusText)}${headLines(response.headers, { connection: "close" })}`,
      ),
    );
    report(response.status);
    await pipeRaw(response.body, writer);
    return false;
  }
  // With no request body, nothing else reads the connection while the answer streams: watch it, so an idle stream
  // (events, wait, a quiet logs -f) ends when its client leaves, not at its next write. Bytes that come instead
  // (a pipelined request) stay buffered for the next round.
  const gone = body === null ? reader.endsBeforeMore().then((ended) => (ended ? undefined : NEVER)) : undefined;
  if (await writeFramed(writer, head, response, closeAfter, () => report(response.status), gone)) return false;
  await drain();
  return true;
}

/**
 * Writes an ordinary answer: Content-Length when known, chunked when streamed (close-delimited for HTTP/1.0, which
 * has no chunks). Calls `onHead` once the head is out, so a long stream shows in a trace when it starts. Returns
 * whether the connection must close because the body's end is the connection's end.
 */
async function writeFramed(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  head: RequestHead,
  response: Response,
  close: boolean,
  onHead: () => void,
  gone?: Promise<void>,
): Promise<boolean> {
  const headers = new Headers(response.headers);
  const extra: Record<string, string> = {};
  const writeHead = async () => {
    if (close) extra.connection = "close";
    const written = writer.write(
      encoder.encode(`${statusLine(response.status, response.statusText)}${headLines(headers, extra)}`),
    );
    onHead();
    await written;
  };
  const noBody = head.method === "HEAD" || response.status === 204 || response.status === 304;
  const length = headers.get("content-length");
  if (noBody) {
    if (head.method !== "HEAD") headers.delete("content-length");
    await writeHead();
    await response.body?.cancel().catch(() => {});
    return close;
  }
  if (length !== null || response.body === null) {
    if (length === null) extra["content-length"] = "0";
    await writeHead();
    await pipeRaw(response.body, writer, gone);
    return close;
  }
  headers.delete("transfer-encoding");
  if (head.minor === 0) {
    close = true;
    await writeHead();
    await pipeRaw(response.body, writer, gone);
    return true;
  }
  extra["transfer-encoding"] = "chunked";
  await writeHead();
  for await (const value of chunks(response.body, gone)) {
    const size = encoder.encode(`${value.length.toString(16)}\r\n`);
    const chunk = new Uint8Array(size.length + value.length + 2);
    chunk.set(size);
    chunk.set(value, size.length);
    chunk.set([13, 10], size.length + value.length);
    await writer.write(chunk);
  }
  await writer.write(encoder.encode("0\r\n\r\n"));
  return close;
}

/** Thrown out of a body's copy when the client closed its end of the connection: nobody is left to read it. */
class ClientGone extends Error {}

/**
 * A body's chunks as they come; the body is cancelled when the copy stops early: a failed write, or `gone`
 * settling (the client closed its end while an idle stream, such as `events` or `wait`, had nothing to say).
 */
async function* chunks(body: ReadableStream<Uint8Array>, gone?: Promise<void>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  const left = gone?.then(() => "gone" as const);
  let finished = false;
  try {
    for (;;) {
      const next = await (left ? Promise.race([reader.read(), left]) : reader.read());
      if (next === "gone") throw new ClientGone("the client closed the connection");
      if (next.done) {
        finished = true;
        return;
      }
      if (next.value.length) yield next.value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

/** Copies a body to the connection as it is; stops the body when the client goes away. */
async function pipeRaw(
  body: ReadableStream<Uint8Array> | null,
  writer: WritableStreamDefaultWriter<Uint8Array>,
  gone?: Promise<void>,
): Promise<void> {
  if (!body) return;
  for await (const chunk of chunks(body, gone)) await writer.write(chunk);
}
