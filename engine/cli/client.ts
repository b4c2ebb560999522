// The Engine API as the CLI calls it: versioned paths (`/v1.43/containers/json`), the version negotiated with the
// daemon's `/_ping` like docker's client does, JSON in and out, daemon errors as docker words them, and hijacked
// requests (attach, exec start) whose answer body is the raw output stream.

import { HIJACK_BODY_LENGTH } from "../http/index.ts";
import { ConnectionError, DaemonError } from "./errors.ts";
import type { ApiTransport } from "./io.ts";

/** The newest API version this CLI speaks; older daemons are met at theirs. */
export const CLIENT_API_VERSION = "1.43";

export type Query = Record<string, string | number | boolean | undefined | string[]>;

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  /** A 404 means this object is missing: docker then says `Error: No such <object>: <id>`. */
  notFound?: { object: string; id: string };
  headers?: Record<string, string>;
}

export interface HijackOptions extends RequestOptions {
  /** Bytes to send once the connection is hijacked (the user's stdin); none when absent. */
  stdin?: ReadableStream<Uint8Array>;
}

function compareVersions(a: string, b: string): number {
  const left = a.split(".").map(Number);
  const right = b.split(".").map(Number);
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function queryString(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) params.append(key, item);
    else params.set(key, typeof value === "boolean" ? (value ? "1" : "0") : String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** A request body that is `prefix` (the hijacked request's JSON) and then `rest`'s bytes. */
function concatStreams(prefix: Uint8Array | undefined, rest: ReadableStream<Uint8Array> | undefined) {
  const reader = rest?.getReader();
  let sentPrefix = prefix === undefined;
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (!sentPrefix) {
        sentPrefix = true;
        controller.enqueue(prefix!);
        return;
      }
      if (!reader) {
        controller.close();
        return;
      }
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: async (reason) => {
      await reader?.cancel(reason);
    },
  });
}

/**
 * An Engine API client over a transport.
 * @example
 * const client = await DockerClient.connect(transport, "unix:///tmp/drydock.sock", {});
 * const containers = await client.json<ContainerSummary[]>("GET", "/containers/json", { query: { all: true } });
 */
export class DockerClient {
  private constructor(
    private readonly transport: ApiTransport,
    /** The daemon's address as the user named it, for messages. */
    readonly host: string,
    /** The API version requests are made with. */
    readonly version: string,
  ) {}

  /**
   * Negotiates the API version (`DOCKER_API_VERSION` pins it, as with docker) and returns a client.
   * Fails with docker's "Cannot connect to the Docker daemon" when nothing answers.
   */
  static async connect(transport: ApiTransport, host: string, env: Record<string, string>): Promise<DockerClient> {
    const pinned = env.DOCKER_API_VERSION;
    if (pinned) return new DockerClient(transport, host, pinned);
    let response: Response;
    try {
      response = await transport(new Request("http://docker/_ping"));
    } catch (error) {
      throw new ConnectionError(host, error);
    }
    await response.body?.cancel();
    const server = response.headers.get("api-version");
    const version = server && compareVersions(server, CLIENT_API_VERSION) < 0 ? server : CLIENT_API_VERSION;
    return new DockerClient(transport, host, version);
  }

  /** Whether the negotiated version is at least `version`. */
  supports(version: string): boolean {
    return compareVersions(this.version, version) >= 0;
  }

  private url(path: string, query?: Query): string {
    return `http://docker/v${this.version}${path}${queryString(query)}`;
  }

  private async send(request: Request, notFound?: RequestOptions["notFound"]): Promise<Response> {
    let response: Response;
    try {
      response = await this.transport(request);
    } catch (error) {
      throw new ConnectionError(this.host, error);
    }
    if (response.status >= 400) throw await this.failure(response, notFound);
    return response;
  }

  private async failure(response: Response, notFound?: RequestOptions["notFound"]): Promise<DaemonError> {
    const text = (await response.text()).trim();
    let message = text;
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (typeof parsed.message === "string") message = parsed.message;
    } catch {
      // Not JSON: the text is the message.
    }
    if (!message) message = `request returned ${response.status} ${response.statusText} for API route and version`;
    return new DaemonError(response.status, message, notFound);
  }

  /** One request; a status of 400 or more is thrown as a {@link DaemonError}. */
  request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers = new Headers(options.headers);
    let body: string | undefined;
    if (options.body !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(options.body);
    }
    return this.send(new Request(this.url(path, options.query), { method, headers, body }), options.notFound);
  }

  /** A request whose body is a stream of bytes (`docker load`'s archive, `docker cp`'s tar). */
  stream(
    method: string,
    path: string,
    body: ReadableStream<Uint8Array>,
    options: Omit<RequestOptions, "body"> = {},
  ): Promise<Response> {
    const init: RequestInit & { duplex?: "half" } = {
      method,
      headers: new Headers(options.headers),
      body,
      duplex: "half",
    };
    return this.send(new Request(this.url(path, options.query), init), options.notFound);
  }

  /** A request whose answer is JSON. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, path, options);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A request whose answer is ignored beyond its status. */
  async call(method: string, path: string, options: RequestOptions = {}): Promise<void> {
    const response = await this.request(method, path, options);
    await response.body?.cancel();
  }

  /**
   * A hijacked request (`Upgrade: tcp`): its body is the JSON `body`, if any, then `stdin`; the answer's body is the
   * raw stream from the daemon (multiplexed frames without a tty).
   */
  async hijack(method: string, path: string, options: HijackOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const headers = new Headers(options.headers);
    headers.set("connection", "Upgrade");
    headers.set("upgrade", "tcp");
    let prefix: Uint8Array | undefined;
    if (options.body !== undefined) {
      prefix = new TextEncoder().encode(JSON.stringify(options.body));
      headers.set("content-type", "application/json");
      // docker's client sends the JSON with its length, then the raw stdin bytes once the daemon has upgraded.
      headers.set("content-length", String(prefix.length));
      // The same under a name a browser keeps (it drops Content-Length from a Request it did not frame itself).
      headers.set(HIJACK_BODY_LENGTH, String(prefix.length));
    }
    const body = prefix || options.stdin ? concatStreams(prefix, options.stdin) : undefined;
    const init: RequestInit & { duplex?: "half" } = { method, headers, body, duplex: body ? "half" : undefined };
    const response = await this.send(new Request(this.url(path, options.query), init), options.notFound);
    return response.body ?? new ReadableStream({ start: (controller) => controller.close() });
  }
}
