// A node's Engine API reached from another worker: each request crosses a MessagePort as its method, URL, headers
// and body stream, and comes back as status, headers and body stream. The streams are transferred, not copied, so a
// hijacked request (attach, exec: stdin in the request body, the raw output in the answer's) flows both ways as it
// does in process, and a reader that stops (docker logs -f interrupted) cancels the far side.
import { EngineError } from "../errors.ts";

/** The part of a MessagePort the link uses (structural, so the engine needs no DOM types). */
export interface ApiPort {
  postMessage(message: unknown, transfer: ReadableStream<Uint8Array>[]): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  removeEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  start?(): void;
}

interface RequestMessage {
  drydockApi: "request";
  id: number;
  method: string;
  url: string;
  headers: [string, string][];
  body: ReadableStream<Uint8Array> | null;
}

interface ResponseMessage {
  drydockApi: "response";
  id: number;
  status: number;
  statusText: string;
  headers: [string, string][];
  body: ReadableStream<Uint8Array> | null;
}

interface FailureMessage {
  drydockApi: "failure";
  id: number;
  message: string;
}

type ApiMessage = RequestMessage | ResponseMessage | FailureMessage;

function headerPairs(headers: Headers): [string, string][] {
  const pairs: [string, string][] = [];
  headers.forEach((value, key) => {
    pairs.push([key, value]);
  });
  return pairs;
}

function isApiMessage(data: unknown): data is ApiMessage {
  return typeof data === "object" && data !== null && typeof (data as ApiMessage).drydockApi === "string";
}

/**
 * Answers requests arriving on `port` with `fetch` (a node's API app). Returns the function that stops answering.
 * @example
 * serveApiOverPort(apiChannel.port2, guestDocker.fetch);
 */
export function serveApiOverPort(port: ApiPort, fetch: (request: Request) => Promise<Response>): () => void {
  const onMessage = (event: { data: unknown }) => {
    const message = event.data;
    if (!isApiMessage(message) || message.drydockApi !== "request") return;
    void (async () => {
      try {
        const init: RequestInit & { duplex?: "half" } = { method: message.method, headers: message.headers };
        if (message.body) {
          init.body = message.body;
          init.duplex = "half";
        }
        const response = await fetch(new Request(message.url, init));
        const body = response.body;
        const answer: ResponseMessage = {
          drydockApi: "response",
          id: message.id,
          status: response.status,
          statusText: response.statusText,
          headers: headerPairs(response.headers),
          body,
        };
        port.postMessage(answer, body ? [body] : []);
      } catch (error) {
        const failure: FailureMessage = {
          drydockApi: "failure",
          id: message.id,
          message: error instanceof Error ? error.message : String(error),
        };
        port.postMessage(failure, []);
      }
    })();
  };
  port.addEventListener("message", onMessage);
  port.start?.();
  return () => port.removeEventListener("message", onMessage);
}

/**
 * A transport (`fetch`'s shape) whose requests are answered by whoever serves the other end of `port`. `name` is
 * what a failure names (`node2`). `close()` fails the requests still waiting.
 * @example
 * const fetchNode2 = apiOverPort(apiChannel.port1, "node2");
 * const answer = await fetchNode2(new Request("http://docker/_ping"));
 */
export function apiOverPort(
  port: ApiPort,
  name: string,
): ((request: Request) => Promise<Response>) & { close(reason?: string): void } {
  const waiting = new Map<number, { resolve: (response: Response) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let closed: string | undefined;
  port.addEventListener("message", (event) => {
    const message = event.data;
    if (!isApiMessage(message) || message.drydockApi === "request") return;
    const pending = waiting.get(message.id);
    if (!pending) return;
    waiting.delete(message.id);
    if (message.drydockApi === "failure") {
      pending.reject(new EngineError("unavailable", `${name} did not answer: ${message.message}`));
      return;
    }
    // A body on a status that may not have one (204, 304) is dropped, as fetch would.
    const bodyless = message.status === 204 || message.status === 304;
    if (bodyless) void message.body?.cancel().catch(() => {});
    pending.resolve(
      new Response(bodyless ? null : message.body, {
        status: message.status,
        statusText: message.statusText,
        headers: message.headers,
      }),
    );
  });
  port.start?.();
  const transport = async (request: Request): Promise<Response> => {
    if (closed !== undefined) throw new EngineError("unavailable", `${name} is gone: ${closed}`);
    const id = nextId++;
    const body = request.body;
    const message: RequestMessage = {
      drydockApi: "request",
      id,
      method: request.method,
      url: request.url,
      headers: headerPairs(request.headers),
      body,
    };
    return new Promise<Response>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      port.postMessage(message, body ? [body] : []);
    });
  };
  return Object.assign(transport, {
    close(reason = "it was removed") {
      closed = reason;
      for (const pending of waiting.values())
        pending.reject(new EngineError("unavailable", `${name} is gone: ${reason}`));
      waiting.clear();
    },
  });
}
