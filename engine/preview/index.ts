// Previews: a browser tab's request for `/preview/<port>/…` answered by whatever listens on that port in the guest (a
// container's published port, drydockd's userland proxy in front of it), over a TCP connection opened inside the
// guest. The page's service worker turns tabs' requests into `PreviewRequest`s; the Node daemon's host publishing
// uses the same connector for raw TCP.
import { type HttpResponseHead, httpRequest } from "../http/client.ts";
import type { GuestTcpConnector } from "./connect.ts";

export { type GuestTcpConnection, type GuestTcpConnector, guestTcpConnector } from "./connect.ts";

/** A browser's request, as the service worker saw it, for the app on `port`. */
export interface PreviewRequest {
  /** The guest port (the published host port). */
  port: number;
  method: string;
  /** The app's own path and query (`/style.css?v=2`): the `/preview/<port>` prefix is gone. */
  target: string;
  /** The request's headers, in order. */
  headers: [string, string][];
  body: ReadableStream<Uint8Array> | null;
}

export interface PreviewResponse extends HttpResponseHead {
  body: ReadableStream<Uint8Array> | null;
}

export interface PreviewOptions {
  /**
   * Where the preview lives as the browser sees it: `http://page.example/preview/8080`. Sent to the app as `Host`,
   * `X-Forwarded-Host`, `X-Forwarded-Proto` and `X-Forwarded-Prefix`; a redirect to the app's own host comes back
   * under it.
   */
  publicBase: string;
}

/** The address the preview connects to: the guest's loopback, where a published port listens on 0.0.0.0. */
export const PREVIEW_ADDRESS = "127.0.0.1";

/**
 * Sends one browser request to the app on a guest port and streams its answer back. A redirect stays the app's (the
 * browser follows it), with a Location on the app's own host moved under the preview's path.
 * @example
 * const answer = await previewFetch(guestTcpConnector(drydock.agent),
 *   { port: 8080, method: "GET", target: "/", headers: [], body: null },
 *   { publicBase: "http://127.0.0.1:5173/preview/8080" });
 */
export async function previewFetch(
  connect: GuestTcpConnector,
  request: PreviewRequest,
  options: PreviewOptions,
): Promise<PreviewResponse> {
  const base = new URL(options.publicBase);
  const prefix = base.pathname.replace(/\/$/, "");
  const headers = request.headers.filter(([name]) => !/^(host|x-forwarded-(host|proto|prefix))$/i.test(name));
  headers.unshift(["host", base.host]);
  headers.push(
    ["x-forwarded-host", base.host],
    ["x-forwarded-proto", base.protocol.replace(":", "")],
    ["x-forwarded-prefix", prefix],
  );
  const connection = await connect(PREVIEW_ADDRESS, request.port);
  try {
    const answer = await httpRequest(
      connection,
      { method: request.method, target: request.target, headers },
      request.body,
    );
    const appUrl = new URL(request.target, `${base.protocol}//${base.host}`);
    return {
      ...answer.head,
      headers: answer.head.headers.map(([name, value]) =>
        name.toLowerCase() === "location" ? [name, previewLocation(value, appUrl, base)] : [name, value],
      ),
      body: answer.body,
    };
  } catch (error) {
    connection.close();
    throw error;
  }
}

/**
 * A Location the app sent, as the browser must follow it: a path or a URL on the app's own host moves under the
 * preview (`/login` → `/preview/8080/login`); another site's URL stays as it is.
 */
export function previewLocation(location: string, appUrl: URL, publicBase: URL): string {
  let target: URL;
  try {
    target = new URL(location, appUrl);
  } catch {
    return location;
  }
  if (target.host !== appUrl.host || !/^https?:$/.test(target.protocol)) return location;
  const prefix = publicBase.pathname.replace(/\/$/, "");
  if (target.pathname === prefix || target.pathname.startsWith(`${prefix}/`)) return target.href;
  return `${publicBase.origin}${prefix}${target.pathname}${target.search}${target.hash}`;
}
