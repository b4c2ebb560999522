// What the preview's service worker and the engine's worker say to each other over a MessagePort: one channel per
// browser request, carrying the request's head and body one way and the answer's head and body the other. Bodies
// travel one chunk per pull (the reader asks, the sender sends one), so a slow tab slows the guest's server instead
// of filling memory, and no transferable streams are needed (Safari has none).

/** Where previews live, under the page's base: `/preview/<port>/…`. */
export const PREVIEW_PATH = "preview/";

/** The service worker asks a page for a channel to its engine with this; the page answers with a port. */
export const ENGINE_WANTED = "drydock-preview:engine-wanted";
/** A page hands the service worker a port to its engine's worker (`{ type, port }`, the port transferred). */
export const ENGINE_OFFER = "drydock-preview:engine-offer";

/** One browser request for the app on a guest port; `channel` carries the rest. */
export interface WireRequest {
  kind: "request";
  port: number;
  method: string;
  /** The app's path and query. */
  target: string;
  headers: [string, string][];
  /** `http://page.example/preview/8080`: where the preview lives as the browser sees it. */
  publicBase: string;
  hasBody: boolean;
  channel: MessagePort;
}

type StreamName = "request" | "response";

export type WireMessage =
  | { kind: "accepted" }
  | { kind: "head"; status: number; statusText: string; headers: [string, string][] }
  /** No answer from the app: the page shows `message` with `status` (502, 503). */
  | { kind: "failed"; status: number; message: string }
  | { kind: "pull"; stream: StreamName }
  | { kind: "data"; stream: StreamName; bytes: Uint8Array }
  | { kind: "end"; stream: StreamName }
  | { kind: "abort"; stream: StreamName; message: string };

type Handler = (message: WireMessage) => void;

/** One request's channel, from either side. */
export class WireChannel {
  readonly #port: MessagePort;
  readonly #handlers = new Map<WireMessage["kind"], Handler>();
  /** Per stream: the receiver's pending pull, answered by the next data/end/abort. */
  readonly #waiting = new Map<StreamName, Handler>();
  /** Per stream: the sender's answer to a pull or an abort. */
  readonly #sources = new Map<StreamName, Handler>();
  /** Per stream: an abort that came while no pull was waiting. */
  readonly #aborted = new Map<StreamName, WireMessage>();

  constructor(port: MessagePort) {
    this.#port = port;
    port.onmessage = (event: MessageEvent<WireMessage>) => this.#dispatch(event.data);
  }

  #dispatch(message: WireMessage): void {
    if (message.kind === "pull" || (message.kind === "abort" && this.#sources.has(message.stream))) {
      this.#sources.get(message.stream)?.(message);
      return;
    }
    if (message.kind === "data" || message.kind === "end" || message.kind === "abort") {
      const waiter = this.#waiting.get(message.stream);
      this.#waiting.delete(message.stream);
      // An abort between two pulls is kept for the next one.
      if (waiter) waiter(message);
      else if (message.kind === "abort") this.#aborted.set(message.stream, message);
      return;
    }
    this.#handlers.get(message.kind)?.(message);
  }

  /** Calls `handler` for each message of `kind` (one handler per kind). */
  on<K extends "accepted" | "head" | "failed">(kind: K, handler: (message: Extract<WireMessage, { kind: K }>) => void) {
    this.#handlers.set(kind, handler as Handler);
  }

  send(message: WireMessage, transfer: Transferable[] = []): void {
    this.#port.postMessage(message, transfer);
  }

  close(): void {
    this.#port.onmessage = null;
    this.#port.close();
  }

  /** The bytes the other side sends as `stream`, read as they are asked for. */
  receive(stream: StreamName): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: (controller) =>
        new Promise<void>((resolve) => {
          const aborted = this.#aborted.get(stream);
          if (aborted?.kind === "abort") {
            controller.error(new Error(aborted.message));
            resolve();
            return;
          }
          this.#waiting.set(stream, (message) => {
            if (message.kind === "data") controller.enqueue(message.bytes);
            else if (message.kind === "end") controller.close();
            else if (message.kind === "abort") controller.error(new Error(message.message));
            resolve();
          });
          this.send({ kind: "pull", stream });
        }),
      cancel: (reason) => {
        this.#waiting.delete(stream);
        this.send({ kind: "abort", stream, message: String(reason ?? "cancelled") });
      },
    });
  }

  /** Sends `source` as `stream`, one chunk for each pull of the other side; an abort from there cancels it. */
  transmit(stream: StreamName, source: ReadableStream<Uint8Array>, onDone?: (error?: unknown) => void): void {
    const reader = source.getReader();
    let busy: Promise<void> = Promise.resolve();
    let finished = false;
    const finish = (error?: unknown) => {
      if (finished) return;
      finished = true;
      this.#sources.delete(stream);
      onDone?.(error);
    };
    this.#sources.set(stream, (message) => {
      if (message.kind === "abort") {
        void reader.cancel(message.message).catch(() => {});
        finish(new Error(message.message));
        return;
      }
      busy = busy.then(async () => {
        if (finished) return;
        try {
          const { done, value } = await reader.read();
          if (done) {
            this.send({ kind: "end", stream });
            finish();
            return;
          }
          // A view into a larger buffer is copied, so only its own bytes cross.
          const bytes = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice();
          this.send({ kind: "data", stream, bytes }, [bytes.buffer as ArrayBuffer]);
        } catch (error) {
          this.send({ kind: "abort", stream, message: error instanceof Error ? error.message : String(error) });
          finish(error);
        }
      });
    });
  }
}
