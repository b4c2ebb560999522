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

/** What a request may cost a server before its handler sees it: time and bytes. */
export interface HttpLimits {
  /** Time from a request's first byte to the end of its head (and for a new connection's first byte); then 408. */
  headerTimeoutMs: number;
  /** Time a kept-alive connection may sit between requests, and a request body between two of its bytes. */
  idleTimeoutMs: number;
  /** Bytes of request line and headers together (and of a chunked body's trailers); beyond them, 431. */
  maxHeaderBytes: number;
  /**
   * Bytes a request's body may have, however it is framed; beyond them, 413. A function decides per request (an
   * image upload may be large where a JSON body may not).
   */
  maxBodyBytes: number | ((request: { method: string; target: string }) => number);
}

/**
 * The defaults: a head must arrive within 30 s (Node's own server allows 60), a quiet connection lives 2 minutes
 * (longer than Go's 90 s idle client connections, so docker closes first), 64 KiB of head, 4 MiB of body.
 */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headerTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  maxHeaderBytes: 64 * 1024,
  maxBodyBytes: 4 * 1024 * 1024,
};

export interface ServeOptions {
  /** Called when each answer's head has been written. */
  onExchange?: (exchange: HttpExchange) => void;
  /** `Host` to assume when a request has none (HTTP/1.0); default `localhost`. */
  defaultHost?: string;
  /** Overrides of `DEFAULT_HTTP_LIMITS`. */
  limits?: Partial<HttpLimits>;
}

const NEVER = new Promise<never>(() => {});
const MAX_HEADERS = 100;
/** Unread body bytes skipped to keep a connection after an answer; a client with more to send is disconnected. */
const MAX_DRAIN = 256 * 1024;
/** RFC 9110's token: a method, a header name. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
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
  100: "Continue",
  101: "UPGRADED",
  200: "OK",
  201: "Created",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  413: "Payload Too Large",
  417: "Expectation Failed",
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

async function readHead(reader: ByteReader, limits: HttpLimits): Promise<RequestHead | undefined> {
  const deadline = Date.now() + limits.headerTimeoutMs;
  let budget = limits.maxHeaderBytes;
  const nextLine = async () => {
    const line = await reader.line(budget, deadline);
    if (line !== undefined) budget -= line.length + 2;
    return line;
  };
  let line = await nextLine();
  // RFC 9112 §2.2: ignore empty lines before a request line.
  while (line === "") line = await nextLine();
  if (line === undefined) return undefined;
  const match = /^(\S+) (\S+) HTTP\/1\.([01])$/.exec(line);
  if (!match || !TOKEN.test(match[1]!)) {
    throw new HttpParseError(400, `malformed request line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  const headers = new Headers();
  for (let count = 0; ; count++) {
    const header = await nextLine();
    if (header === undefined) throw new HttpParseError(400, "the connection ended inside the request head");
    if (header === "") break;
    if (count >= MAX_HEADERS) throw new HttpParseError(431, "too many request headers");
    headers.append(...headerField(header));
  }
  return { method: match[1]!, target: match[2]!, minor: Number(match[3]), headers };
}

/** A header line's name and value, or a 400 for what RFC 9112 calls invalid (a request smuggler's favourites). */
function headerField(line: string): [string, string] {
  const show = JSON.stringify(line.slice(0, 80));
  if (line.startsWith(" ") || line.startsWith("\t")) {
    throw new HttpParseError(400, `obsolete line folding in the request head: ${show}`);
  }
  const colon = line.indexOf(":");
  const name = line.slice(0, Math.max(colon, 0));
  if (!TOKEN.test(name)) throw new HttpParseError(400, `malformed header name: ${show}`);
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
  // Control characters other than HTAB (RFC 9110 §5.5): a code-point scan, which Biome prefers to such a regex.
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 9) || code === 0x7f) {
      throw new HttpParseError(400, `control character in header ${name}`);
    }
  }
  return [name, value];
}

/**
 * The URL a request names, or a 400: an origin-form target (`/path?query`) with well-formed %-escapes, or an
 * absolute http(s) URL (RFC 9112 §3.2); `*` (OPTIONS) and relative targets are not served.
 */
function requestUrl(head: RequestHead, defaultHost: string): string {
  const show = JSON.stringify(head.target.slice(0, 80));
  if (head.target.startsWith("/")) {
    const host = head.headers.get("host") || defaultHost;
    if (/%(?![0-9A-Fa-f]{2})/.test(head.target)) {
      throw new HttpParseError(400, `malformed %-escape in the request target ${show}`);
    }
    try {
      decodeURIComponent(head.target);
    } catch {
      throw new HttpParseError(400, `the request target ${show} escapes bytes that are not UTF-8`);
    }
    if (!URL.canParse(`http://${host}/`)) throw new HttpParseError(400, `malformed Host header: ${host}`);
    return `http://${host}${head.target}`;
  }
  if (/^https?:\/\//i.test(head.target) && URL.canParse(head.target)) return head.target;
  throw new HttpParseError(400, `the request target ${show} is neither a path nor an absolute http URL`);
}

function tokens(value: string | null): string[] {
  return (value ?? "")
    .toLowerCase()
    .split(",")
    .map((token) => token.trim())
    .filter(Boolean);
}

/** What reading a request's body learnt that the answer must reflect. */
interface BodyState {
  /** Why the body could not be read (malformed, too large, stalled): the answer is this error, then close. */
  failure?: HttpParseError;
  /** Whether the handler started reading it (and so whether a 100 Continue went out). */
  started: boolean;
  /** Whether the whole body has been read. */
  finished: boolean;
}

interface RequestBody {
  body: ReadableStream<Uint8Array> | null;
  state: BodyState;
  /** Reads what the handler left unread, up to `MAX_DRAIN` bytes; false when the connection cannot be reused. */
  drain(): Promise<boolean>;
}

/**
 * The request's body as a stream that reads the connection (and only this request's bytes of it), within `maxBytes`
 * however it is framed, and with no more than `idleMs` between two of its bytes. `beforeFirstRead` runs when the
 * handler first asks for bytes (to send 100 Continue).
 */
function requestBody(
  reader: ByteReader,
  head: RequestHead,
  limits: HttpLimits,
  maxBytes: number,
  beforeFirstRead: () => Promise<void>,
): RequestBody {
  const state: BodyState = { started: false, finished: false };
  const encodings = tokens(head.headers.get("transfer-encoding"));
  const chunked = encodings.length > 0;
  const lengthHeader = head.headers.get("content-length");
  if (chunked && (encodings.length > 1 || encodings[0] !== "chunked")) {
    throw new HttpParseError(501, `unsupported Transfer-Encoding: ${head.headers.get("transfer-encoding")}`);
  }
  if (chunked && lengthHeader !== null) {
    throw new HttpParseError(400, "a request cannot have both Content-Length and Transfer-Encoding");
  }
  const none: RequestBody = { body: null, state: { ...state, finished: true }, drain: async () => true };
  if (!chunked && lengthHeader === null) return none;
  let remaining = 0;
  if (!chunked) {
    // Repeated Content-Length headers arrive joined with commas; identical repeats are allowed (RFC 9110 §8.6).
    const values = new Set(lengthHeader!.split(",").map((value) => value.trim()));
    const [value] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(value!)) {
      throw new HttpParseError(400, `malformed Content-Length: ${lengthHeader!.slice(0, 40)}`);
    }
    remaining = Number(value);
    if (remaining > maxBytes) {
      throw new HttpParseError(413, `the request body of ${remaining} bytes is larger than the ${maxBytes} allowed`);
    }
    if (remaining === 0) return none;
  }
  let seen = 0;
  const fail = (error: HttpParseError): never => {
    state.failure ??= error;
    throw state.failure;
  };
  const line = async (limit: number, tooLong: string) => {
    try {
      return await reader.line(limit, Date.now() + limits.idleTimeoutMs);
    } catch (error) {
      if (error instanceof HttpParseError && error.status === 431) throw new HttpParseError(400, tooLong);
      throw error;
    }
  };
  const NO_CRLF = "malformed chunk: its data is not followed by CRLF";
  // Chunked: `remaining` counts what is left of the current chunk; 0 between chunks.
  const read = async (): Promise<Uint8Array | undefined> => {
    if (state.finished) return undefined;
    if (chunked && remaining === 0) {
      const sizeLine = await line(4096, "malformed chunk size");
      const size = /^([0-9A-Fa-f]{1,15})[ \t]*(?:;.*)?$/.exec(sizeLine ?? "")?.[1];
      if (size === undefined) throw new HttpParseError(400, "malformed chunk size");
      remaining = Number.parseInt(size, 16);
      if (remaining === 0) {
        // Trailers (ignored), then the empty line, within the head's byte budget.
        let budget = limits.maxHeaderBytes;
        const TOO_LONG = "request trailers too large";
        for (let trailer = await line(budget, TOO_LONG); trailer !== ""; trailer = await line(budget, TOO_LONG)) {
          if (trailer === undefined) throw new HttpParseError(400, "the connection ended inside a request body");
          budget -= trailer.length + 2;
        }
        state.finished = true;
        return undefined;
      }
    }
    if (seen + remaining > maxBytes) {
      throw new HttpParseError(413, `the request body is larger than the ${maxBytes} bytes allowed`);
    }
    const bytes = await reader.some(remaining, limits.idleTimeoutMs);
    if (!bytes) throw new HttpParseError(400, "the connection ended inside a request body");
    remaining -= bytes.length;
    seen += bytes.length;
    if (chunked && remaining === 0 && (await line(2, NO_CRLF)) !== "") throw new HttpParseError(400, NO_CRLF);
    if (!chunked && remaining === 0) state.finished = true;
    return bytes;
  };
  const next = async (): Promise<Uint8Array | undefined> => {
    if (state.failure) throw state.failure;
    try {
      return await read();
    } catch (error) {
      return fail(error instanceof HttpParseError ? error : new HttpParseError(400, String(error)));
    }
  };
  const body = new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        if (!state.started) {
          state.started = true;
          await beforeFirstRead();
        }
        const bytes = await next();
        if (bytes) controller.enqueue(bytes);
        else controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    body,
    state,
    drain: async () => {
      // A client that waits for 100 Continue has not sent the body, and may never: the connection cannot be reused.
      if (!state.started && head.headers.has("expect")) return false;
      const limit = seen + MAX_DRAIN;
      try {
        while (!state.failure && seen <= limit && (await next())) {}
      } catch {
        return false;
      }
      return state.finished && !state.failure;
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
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const reader = new ByteReader(connection.readable);
  const writer = connection.writable.getWriter();
  try {
    for (let first = true; ; first = false) {
      // A quiet connection is closed without a word: nothing was asked.
      if ((await reader.waitForBytes(first ? limits.headerTimeoutMs : limits.idleTimeoutMs)) !== "data") break;
      let head: RequestHead | undefined;
      try {
        head = await readHead(reader, limits);
      } catch (error) {
        if (error instanceof HttpParseError) await writer.write(plainAnswer(error.status, error.message));
        break;
      }
      if (!head) break;
      const keepGoing = await exchange(reader, writer, head, handler, options, limits);
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
  limits: HttpLimits,
): Promise<boolean> {
  const upgrade = tokens(head.headers.get("connection")).includes("upgrade") && head.headers.get("upgrade") !== null;
  const closeAfter =
    head.minor === 0
      ? !tokens(head.headers.get("connection")).includes("keep-alive")
      : tokens(head.headers.get("connection")).includes("close");
  const maxBody =
    typeof limits.maxBodyBytes === "function"
      ? limits.maxBodyBytes({ method: head.method, target: head.target })
      : limits.maxBodyBytes;
  const report = (status: number) =>
    options.onExchange?.({ method: head.method, target: head.target, status, upgraded: upgrade && status === 101 });
  // Once the answer's head is out, a 100 Continue would come too late (the final answer stands in for it).
  let answered = false;
  let body: ReadableStream<Uint8Array> | null;
  let state: BodyState = { started: false, finished: true };
  let drain = async () => true;
  let url: string;
  try {
    url = requestUrl(head, options.defaultHost ?? "localhost");
    const expect = head.headers.get("expect");
    if (expect !== null && (head.minor === 0 || expect.toLowerCase() !== "100-continue")) {
      throw new HttpParseError(417, `unsupported Expect: ${expect.slice(0, 40)}`);
    }
    const sendContinue = async () => {
      if (expect !== null && !answered) await writer.write(encoder.encode(`${statusLine(100, "Continue")}\r\n`));
    };
    if (upgrade) {
      const leading = head.headers.get("content-length");
      if (leading !== null && Number(leading) > maxBody) {
        throw new HttpParseError(413, `the request body of ${leading} bytes is larger than the ${maxBody} allowed`);
      }
      await sendContinue();
      body = reader.rest();
    } else ({ body, state, drain } = requestBody(reader, head, limits, maxBody, sendContinue));
  } catch (error) {
    if (error instanceof HttpParseError) {
      await writer.write(plainAnswer(error.status, error.message));
      report(error.status);
    }
    return false;
  }
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
  answered = true;
  if (state.failure) {
    // The body could not be read (too large, malformed, stalled): whatever the handler made of that, the client hears
    // why, and the connection ends because the rest of its bytes cannot be delimited.
    await response.body?.cancel().catch(() => {});
    await writer.write(plainAnswer(state.failure.status, state.failure.message));
    report(state.failure.status);
    return false;
  }

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
  return (await drain()) && !state.failure;
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
