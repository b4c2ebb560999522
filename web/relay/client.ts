// A small Wisp client over `ws`, for the relay's tests and benchmark and for checking a deployed relay from a shell:
// open streams, send bytes, read what comes back and the reason a stream was closed with.

import WebSocket from "ws";
import { decodePacket, encodeClose, encodeConnect, encodeData, StreamType } from "./wisp.ts";

export interface WispClientStream {
  readonly id: number;
  /** Everything received so far. */
  readonly received: Uint8Array[];
  /** Sends bytes, waiting for the relay's CONTINUE when the stream's Wisp buffer is used up. */
  send(data: Uint8Array | string): Promise<void>;
  /** Closes the stream from the client's side. */
  close(): void;
  /** The close reason the relay sent (or 0x02 when the client closed it). */
  readonly closed: Promise<number>;
  /** Resolves once `bytes` bytes in total have arrived (or the stream closed). */
  receivedBytes(bytes: number): Promise<number>;
  text(): string;
}

export class WispClient {
  readonly #ws: WebSocket;
  readonly #streams = new Map<
    number,
    {
      stream: WispClientStream;
      onData: () => void;
      onClose: (reason: number) => void;
      onContinue: (remaining: number) => void;
    }
  >();
  #next = 1;
  /** The buffer size the relay announced on stream 0. */
  initialBuffer = 0;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on("message", (data: Buffer) => {
      const packet = decodePacket(new Uint8Array(data));
      if (packet.type === "continue" && packet.streamId === 0) this.initialBuffer = packet.remaining;
      const entry = this.#streams.get(packet.streamId);
      if (!entry) return;
      if (packet.type === "continue") entry.onContinue(packet.remaining);
      else if (packet.type === "data") {
        entry.stream.received.push(packet.data.slice());
        entry.onData();
      } else if (packet.type === "close") {
        this.#streams.delete(packet.streamId);
        entry.onClose(packet.reason);
      }
    });
    ws.on("close", () => {
      for (const entry of this.#streams.values()) entry.onClose(0x03);
      this.#streams.clear();
    });
  }

  /** Connects to a relay's Wisp endpoint (`ws://host:port/wisp/`) and waits for its first CONTINUE. */
  static async connect(url: string): Promise<WispClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const client = new WispClient(ws);
    await new Promise<void>((resolve, reject) => {
      const onMessage = () => {
        ws.off("message", onMessage);
        resolve();
      };
      ws.on("message", onMessage);
      ws.once("error", reject);
    });
    return client;
  }

  open(hostname: string, port: number, type: "tcp" | "udp" = "tcp"): WispClientStream {
    const id = this.#next++;
    const ws = this.#ws;
    let total = 0;
    const waiters: { bytes: number; resolve: (n: number) => void }[] = [];
    let resolveClosed!: (reason: number) => void;
    const closed = new Promise<number>((resolve) => {
      resolveClosed = resolve;
    });
    let isClosed = false;
    // Wisp's flow control: packets the relay will still take on this stream before its next CONTINUE.
    let credit = this.initialBuffer;
    let creditWaiter: (() => void) | undefined;
    const stream: WispClientStream = {
      id,
      received: [],
      send: async (data) => {
        while (credit <= 0 && !isClosed) await new Promise<void>((resolve) => (creditWaiter = resolve));
        if (isClosed) return;
        credit--;
        ws.send(encodeData(id, typeof data === "string" ? new TextEncoder().encode(data) : data));
      },
      close: () => {
        ws.send(encodeClose(id, 0x02));
        this.#streams.delete(id);
        isClosed = true;
        resolveClosed(0x02);
      },
      closed,
      receivedBytes: (bytes) =>
        total >= bytes || isClosed
          ? Promise.resolve(total)
          : new Promise((resolve) => waiters.push({ bytes, resolve })),
      text: () => Buffer.concat(stream.received).toString("utf8"),
    };
    this.#streams.set(id, {
      stream,
      onData: () => {
        total += stream.received.at(-1)!.length;
        for (const w of [...waiters]) {
          if (total >= w.bytes) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(total);
          }
        }
      },
      onClose: (reason) => {
        isClosed = true;
        resolveClosed(reason);
        for (const w of waiters.splice(0)) w.resolve(total);
        creditWaiter?.();
      },
      onContinue: (remaining) => {
        credit = remaining;
        creditWaiter?.();
        creditWaiter = undefined;
      },
    });
    ws.send(encodeConnect(id, type === "tcp" ? StreamType.tcp : StreamType.udp, hostname, port));
    return stream;
  }

  close(): void {
    this.#ws.close();
  }
}
