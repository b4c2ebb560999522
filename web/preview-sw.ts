// The preview service worker: a tab at `/preview/<port>/…` shows the app listening on that port in the guest. Each of
// its requests goes to a playground tab's engine worker over a MessagePort (wire.ts) and comes back as a streamed
// Response, status, headers and redirects as the app sent them. A previewed page's absolute paths (`/style.css`) are
// the app's too: a request from a client whose page is a preview goes to that preview's port. Requests of the
// playground itself, and of other sites, are left to the network. WebSockets never reach a service worker, so a
// previewed app's WebSocket cannot be relayed.
import { ENGINE_OFFER, ENGINE_WANTED, PREVIEW_PATH, WireChannel, type WireMessage } from "./preview/wire.ts";

// The service worker's globals, typed here: the page's DOM lib and the webworker lib cannot share one program.
interface SwClient {
  id: string;
  url: string;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}
interface SwFetchEvent extends Event {
  request: Request;
  clientId: string;
  resultingClientId: string;
  respondWith(response: Promise<Response> | Response): void;
}
interface SwExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface SwScope {
  registration: { scope: string };
  clients: {
    get(id: string): Promise<SwClient | undefined>;
    matchAll(options: { type: "window"; includeUncontrolled: boolean }): Promise<SwClient[]>;
    claim(): Promise<void>;
  };
  skipWaiting(): Promise<void>;
  addEventListener(type: "install" | "activate", listener: (event: SwExtendableEvent) => void): void;
  addEventListener(type: "fetch", listener: (event: SwFetchEvent) => void): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}

const sw = globalThis as unknown as SwScope;
const scope = new URL(sw.registration.scope);
/** `/preview/` under the page's base. */
const previewRoot = new URL(PREVIEW_PATH, scope).pathname;
/** How long a playground tab has to take a request before it is taken for gone (closed, or its worker stuck). */
const ACCEPT_MS = 5000;
/** How long to wait for a playground tab to hand over its engine. */
const OFFER_MS = 10_000;

/** The port a path under `/preview/<port>/` names, with the app's path after it. */
function previewOf(pathname: string): { port: number; rest: string } | undefined {
  if (!pathname.startsWith(previewRoot)) return undefined;
  const match = /^(\d{1,5})(\/.*)?$/.exec(pathname.slice(previewRoot.length));
  const port = Number(match?.[1]);
  if (!match || port < 1 || port > 65535) return undefined;
  return { port, rest: match[2] ?? "" };
}

/** Clients (a preview's document, the documents it navigated to) and the port they belong to; false: not a preview. */
const clientPorts = new Map<string, number | false>();

async function portOfClient(clientId: string): Promise<number | undefined> {
  const known = clientPorts.get(clientId);
  if (known !== undefined) return known === false ? undefined : known;
  // Not seen since this service worker started: ask where the client is.
  const client = await sw.clients.get(clientId);
  const port = client ? previewOf(new URL(client.url).pathname)?.port : undefined;
  clientPorts.set(clientId, port ?? false);
  return port;
}

function portOfReferrer(referrer: string): number | undefined {
  if (!referrer) return undefined;
  const url = new URL(referrer);
  return url.origin === scope.origin ? previewOf(url.pathname)?.port : undefined;
}

// --- the engine: a playground tab's worker, reached through a port the tab hands over --------------------------------
let engine: Promise<MessagePort> | undefined;
const offerWaiters = new Set<(port: MessagePort) => void>();

sw.addEventListener("message", (event) => {
  const data = event.data as { type?: string; port?: MessagePort } | undefined;
  if (data?.type !== ENGINE_OFFER || !data.port) return;
  const port = data.port;
  // The latest offer wins: the tab whose Ports view was used last.
  engine = Promise.resolve(port);
  for (const resolve of offerWaiters) resolve(port);
  offerWaiters.clear();
});

function enginePort(): Promise<MessagePort> {
  engine ??= askForEngine().catch((error: unknown) => {
    engine = undefined;
    throw error;
  });
  return engine;
}

class NoEngine extends Error {}

async function askForEngine(): Promise<MessagePort> {
  const windows = await sw.clients.matchAll({ type: "window", includeUncontrolled: true });
  const playgrounds = windows.filter((client) => !previewOf(new URL(client.url).pathname));
  if (!playgrounds.length) {
    throw new NoEngine("No Drydock tab is open: the preview is served by the guest running in a Drydock tab.");
  }
  return new Promise<MessagePort>((resolve, reject) => {
    const timer = setTimeout(() => {
      offerWaiters.delete(take);
      reject(new NoEngine("No Drydock tab answered: is its machine still starting? Reload this tab in a moment."));
    }, OFFER_MS);
    const take = (port: MessagePort) => {
      clearTimeout(timer);
      resolve(port);
    };
    offerWaiters.add(take);
    for (const client of playgrounds) client.postMessage({ type: ENGINE_WANTED });
  });
}

// --- requests ---------------------------------------------------------------------------------------------------------
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Drydock's own answer when the app gave none: what went wrong and what to do. */
function problem(status: number, message: string): Response {
  const html = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Preview: ${status}</title>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>Drydock preview: ${status}</h1><p>${escapeHtml(message)}</p></body></html>`;
  return new Response(html, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * The request's body and its length. A browser knows the length of every body it sends (a form, a fetch of bytes or a
 * Blob) and puts it on the wire as Content-Length, which a service worker is not shown; many servers (busybox httpd,
 * Python's http.server) refuse a chunked request. So the body is taken as a Blob (its bytes stay where the browser
 * keeps them) and streamed from there, with its size.
 */
async function requestBody(request: Request): Promise<{ stream: ReadableStream<Uint8Array>; length: number } | null> {
  if (request.method === "GET" || request.method === "HEAD") return null;
  const blob = await request.blob();
  return blob.size ? { stream: blob.stream(), length: blob.size } : null;
}

function answerHeaders(pairs: [string, string][]): Headers {
  const headers = new Headers();
  for (const [name, value] of pairs) {
    try {
      headers.append(name, value);
    } catch {
      // A header a browser refuses to carry (a malformed name or value) is left out rather than failing the page.
    }
  }
  return headers;
}

/** Sends one request to the app on `port` through a playground tab's engine; its answer, streamed. */
async function relay(request: Request, port: number, target: string): Promise<Response> {
  const body = await requestBody(request);
  const headers: [string, string][] = [];
  for (const [name, value] of request.headers) headers.push([name, value]);
  if (body) headers.push(["content-length", String(body.length)]);
  if (request.referrer && !request.headers.has("referer")) headers.push(["referer", request.referrer]);
  for (let attempt = 0; ; attempt++) {
    let port0: MessagePort;
    try {
      port0 = await enginePort();
    } catch (error) {
      return problem(503, error instanceof Error ? error.message : String(error));
    }
    const { port1, port2 } = new MessageChannel();
    const channel = new WireChannel(port1);
    const answer = new Promise<Extract<WireMessage, { kind: "head" | "failed" }>>((resolve) => {
      channel.on("head", resolve);
      channel.on("failed", resolve);
    });
    const accepted = new Promise<boolean>((resolve) => {
      channel.on("accepted", () => resolve(true));
      setTimeout(() => resolve(false), ACCEPT_MS);
    });
    port0.postMessage(
      {
        kind: "request",
        port,
        method: request.method,
        target,
        headers,
        publicBase: `${scope.origin}${previewRoot}${port}`,
        hasBody: body !== null,
        channel: port2,
      },
      [port2],
    );
    if (!(await accepted)) {
      channel.close();
      // That tab is gone (closed, reloaded): forget it and ask the open ones, once.
      if (engine && (await engine.catch(() => undefined)) === port0) engine = undefined;
      if (attempt === 0) continue;
      return problem(503, "The Drydock tab serving previews did not answer. Is it still open?");
    }
    if (body) channel.transmit("request", body.stream);
    const head = await answer;
    if (head.kind === "failed") {
      channel.close();
      return problem(head.status, head.message);
    }
    const nullBody = NULL_BODY.has(head.status) || request.method === "HEAD";
    if (nullBody) channel.close();
    const init: ResponseInit = { status: head.status, headers: answerHeaders(head.headers) };
    try {
      return new Response(nullBody ? null : channel.receive("response"), { ...init, statusText: head.statusText });
    } catch {
      // A reason phrase the Response constructor refuses.
      return new Response(nullBody ? null : channel.receive("response"), init);
    }
  }
}

sw.addEventListener("install", (event) => event.waitUntil(sw.skipWaiting()));
// Pages already open (the playground that registered this worker) are served from now on, without a reload.
sw.addEventListener("activate", (event) => event.waitUntil(sw.clients.claim()));

sw.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (url.origin !== scope.origin) return;
  const preview = previewOf(url.pathname);
  if (preview) {
    if (request.mode === "navigate" && event.resultingClientId) clientPorts.set(event.resultingClientId, preview.port);
    // `/preview/8080` → `/preview/8080/`, so the app's relative links resolve under its port.
    if (!preview.rest) {
      event.respondWith(Response.redirect(`${scope.origin}${previewRoot}${preview.port}/${url.search}`, 301));
      return;
    }
    event.respondWith(relay(request, preview.port, `${preview.rest}${url.search}`));
    return;
  }
  // A path outside /preview/: the app's own when a preview asks for it.
  if (request.mode === "navigate") {
    // A link or form of a previewed page to `/about`: the tab goes to `/preview/<port>/about` (a reload finds it).
    const port = portOfReferrer(request.referrer);
    if (port === undefined) return;
    if (request.method === "GET") {
      event.respondWith(Response.redirect(`${scope.origin}${previewRoot}${port}${url.pathname}${url.search}`, 302));
    } else {
      if (event.resultingClientId) clientPorts.set(event.resultingClientId, port);
      event.respondWith(relay(request, port, `${url.pathname}${url.search}`));
    }
    return;
  }
  if (!event.clientId) return;
  const known = clientPorts.get(event.clientId);
  if (known === false) return;
  if (known !== undefined) {
    event.respondWith(relay(request, known, `${url.pathname}${url.search}`));
    return;
  }
  // A client this worker has not met (it restarted since): where its page is decides.
  event.respondWith(
    portOfClient(event.clientId).then((port) =>
      port === undefined ? fetch(request) : relay(request, port, `${url.pathname}${url.search}`),
    ),
  );
});
