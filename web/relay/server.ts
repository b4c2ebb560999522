// The relay's Node server: Wisp over WebSocket at `<base>/wisp/` and the resolver at `<base>/dns-query`, under the
// rules of policy.ts and limits.ts. Every connection and every refusal is a log line; a refused stream is closed
// with the Wisp reason that says why (0x48 blocked, 0x49 throttled, …) and never touches the network.

import type { IncomingMessage, ServerResponse } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { resolveHost } from "../proxy/node.ts";
import type { ResolveHost } from "../proxy/upstream.ts";
import { answerDnsQuery, readDnsRequest } from "./dns.ts";
import { ClientLimits, type RelayLimits } from "./limits.ts";
import { Refusal, RelayPolicy } from "./policy.ts";
import {
  CloseReason,
  decodePacket,
  describeCloseReason,
  encodeClose,
  encodeContinue,
  encodeData,
  StreamType,
  WispProtocolError,
} from "./wisp.ts";

export interface RelayOptions {
  /** Path prefix the relay answers under (`/relay` in the dev server, empty standalone). */
  readonly basePath?: string;
  /** Names that may be resolved and connected to (`host` or `*.domain`). Default: policy.ts's DEFAULT_ALLOWLIST. */
  readonly allow?: readonly string[];
  /** Destination ports allowed. Default 80 and 443. */
  readonly ports?: readonly number[];
  /** Allowlisted names that may resolve to private or loopback addresses (an operator's own mirror). */
  readonly privateNames?: readonly string[];
  readonly limits?: Partial<RelayLimits>;
  /** DNS lookup for allowlisted names. Default: getaddrinfo, as the registry proxy resolves. */
  readonly resolve?: ResolveHost;
  /** Opens a TCP connection to a checked address (an IP literal). Default: node:net. */
  readonly connect?: (address: string, port: number) => Socket;
  /** Read the client's address from X-Forwarded-For (only behind a reverse proxy you run). */
  readonly trustProxy?: boolean;
  /** Where log lines go. Default: console.log. */
  readonly log?: (line: string) => void;
  /** Milliseconds a connection to a destination may take. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Milliseconds a stream may stay silent both ways before it is closed. Default 5 minutes. */
  readonly idleTimeoutMs?: number;
  readonly now?: () => number;
}

/**
 * The key a client's limits and handed-out addresses are kept under: its address, with IPv4 written the same way
 * over IPv4 and IPv6 sockets, and every loopback address as one client (a browser may reach `localhost` over ::1 for
 * its DNS queries and over 127.0.0.1 for its WebSocket).
 */
export function clientKey(address: string): string {
  const plain = address.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  if (plain === "::1" || /^127\./.test(plain)) return "loopback";
  return plain;
}

/** Packets a client may send on a stream before it waits for a CONTINUE (Wisp's flow control). */
const BUFFER_PACKETS = 128;
/** WebSocket sends not yet flushed after which a destination socket is paused. */
const MAX_UNFLUSHED = 64;

export interface Relay {
  readonly policy: RelayPolicy;
  readonly limits: ClientLimits;
  /** Serves `<base>/dns-query` and `<base>/`; answers false (and does nothing) for other paths. */
  handleRequest(request: IncomingMessage, response: ServerResponse): boolean;
  /** Takes a WebSocket upgrade to `<base>/wisp/`; answers false (and does nothing) for other paths. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Streams open now, over all clients. */
  readonly openStreams: number;
  /** Closes every WebSocket and stream. */
  close(): Promise<void>;
}

export function createRelay(options: RelayOptions = {}): Relay {
  const base = (options.basePath ?? "").replace(/\/$/, "");
  const log = options.log ?? ((line: string) => console.log(line));
  const policy = new RelayPolicy({
    resolve: options.resolve ?? resolveHost,
    ...(options.allow ? { allow: options.allow } : {}),
    ...(options.ports ? { ports: options.ports } : {}),
    ...(options.privateNames ? { privateNames: options.privateNames } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const limits = new ClientLimits(options.limits, options.now);
  const connect = options.connect ?? ((address: string, port: number) => netConnect({ host: address, port }));
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 5 * 60_000;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, perMessageDeflate: false });
  const sessions = new Set<WispSession>();

  const clientOf = (request: IncomingMessage): string => {
    const forwarded = options.trustProxy ? request.headers["x-forwarded-for"] : undefined;
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
    return clientKey(first || request.socket.remoteAddress || "unknown");
  };
  const pathOf = (request: IncomingMessage) => new URL(request.url ?? "/", "http://relay").pathname;

  const relay: Relay = {
    policy,
    limits,
    get openStreams() {
      let n = 0;
      for (const session of sessions) n += session.streams.size;
      return n;
    },
    handleRequest(request, response) {
      const path = pathOf(request);
      if (path === `${base}/dns-query`) {
        void serveDns(request, response).catch((error) => {
          log(`relay: /dns-query failed: ${error instanceof Error ? error.message : String(error)}`);
          if (!response.headersSent) response.writeHead(500).end();
        });
        return true;
      }
      if (path === base || path === `${base}/`) {
        response
          .writeHead(200, { "content-type": "text/plain; charset=utf-8", "access-control-allow-origin": "*" })
          .end(
            `Drydock relay: Wisp at ${base}/wisp/, DNS over HTTPS at ${base}/dns-query.\n` +
              `Allowed: ${policy.allowlist.entries.join(", ")} on ports ${[...policy.ports].join(", ")}.\n`,
          );
        return true;
      }
      return false;
    },
    handleUpgrade(request, socket, head) {
      if (pathOf(request) !== `${base}/wisp/`) return false;
      const client = clientOf(request);
      wss.handleUpgrade(request, socket, head, (ws) => {
        const session = new WispSession(ws, client);
        sessions.add(session);
        ws.on("close", () => {
          session.dispose();
          sessions.delete(session);
        });
      });
      return true;
    },
    async close() {
      for (const session of sessions) session.ws.terminate();
      sessions.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };

  async function serveDns(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const cors = {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, POST",
      "access-control-allow-headers": "content-type",
    };
    if (request.method === "OPTIONS") {
      response.writeHead(204, cors).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > 8192) break;
      chunks.push(chunk);
    }
    const headers = new Headers();
    for (const [key, value] of Object.entries(request.headers)) {
      if (typeof value === "string") headers.set(key, value);
    }
    const web = new Request(new URL(request.url ?? "/", "http://relay"), {
      method: request.method ?? "GET",
      headers,
      ...(request.method === "POST" ? { body: Buffer.concat(chunks) } : {}),
    });
    const query = await readDnsRequest(web);
    if (typeof query === "string") {
      response.writeHead(400, { ...cors, "content-type": "text/plain; charset=utf-8" }).end(`${query}\n`);
      return;
    }
    const client = clientOf(request);
    const outcome = await answerDnsQuery(policy, limits, client, query);
    if (outcome.refused)
      log(`relay: client ${client}: refused DNS query for ${outcome.name ?? "?"}: ${outcome.refused}`);
    response
      .writeHead(200, { ...cors, "content-type": "application/dns-message", "cache-control": "no-store" })
      .end(outcome.answer);
  }

  /** One client's WebSocket: its streams and Wisp's framing and flow control. */
  class WispSession {
    readonly streams = new Map<number, TcpStream | DnsStream>();
    constructor(
      readonly ws: WebSocket,
      readonly client: string,
    ) {
      ws.on("message", (data, isBinary) => {
        if (!isBinary) return;
        const frame = Array.isArray(data)
          ? new Uint8Array(Buffer.concat(data))
          : new Uint8Array(data as ArrayBuffer | Buffer);
        try {
          this.#route(frame);
        } catch (error) {
          if (!(error instanceof WispProtocolError)) throw error;
          log(`relay: client ${client}: ${error.message}`);
        }
      });
      ws.on("error", () => {});
      this.send(encodeContinue(0, BUFFER_PACKETS));
    }

    send(frame: Uint8Array, done?: () => void): void {
      if (this.ws.readyState !== this.ws.OPEN) return;
      this.ws.send(frame, { binary: true }, () => done?.());
    }

    /** Closes a stream from the relay's side, telling the client why. */
    closeStream(id: number, reason: number): void {
      const stream = this.streams.get(id);
      if (!stream) return;
      this.streams.delete(id);
      stream.dispose();
      this.send(encodeClose(id, reason));
    }

    refuse(id: number, reason: number, what: string, why: string): void {
      log(`relay: client ${this.client}: refused ${what}: ${why} (Wisp close 0x${reason.toString(16)})`);
      this.send(encodeClose(id, reason));
    }

    #route(frame: Uint8Array): void {
      const packet = decodePacket(frame);
      if (packet.type === "connect") {
        const what = `${packet.streamType === StreamType.udp ? "udp " : ""}${packet.hostname}:${packet.port}`;
        if (packet.streamId === 0 || this.streams.has(packet.streamId)) {
          this.refuse(packet.streamId, CloseReason.invalidInfo, what, `stream id ${packet.streamId} is taken`);
          return;
        }
        if (packet.streamType === StreamType.udp) {
          if (packet.port !== 53) {
            this.refuse(
              packet.streamId,
              CloseReason.blocked,
              what,
              "UDP is refused (only DNS to port 53, which the relay answers itself)",
            );
            return;
          }
          this.streams.set(packet.streamId, new DnsStream(this, packet.streamId));
          return;
        }
        if (packet.streamType !== StreamType.tcp) {
          this.refuse(packet.streamId, CloseReason.invalidInfo, what, `unknown stream type ${packet.streamType}`);
          return;
        }
        const limited = limits.openStream(this.client);
        if (limited) {
          this.refuse(packet.streamId, CloseReason.throttled, what, limited);
          return;
        }
        this.streams.set(packet.streamId, new TcpStream(this, packet.streamId, packet.hostname, packet.port));
        return;
      }
      const stream = this.streams.get(packet.streamId);
      if (packet.type === "data") stream?.put(packet.data);
      else if (packet.type === "close" && stream) {
        this.streams.delete(packet.streamId);
        stream.dispose();
      }
      // CONTINUE and INFO from a client carry nothing the relay needs (it speaks Wisp version 1).
    }

    dispose(): void {
      for (const stream of this.streams.values()) stream.dispose();
      this.streams.clear();
    }
  }

  /** A UDP stream to port 53: each datagram is a DNS query that the relay's own resolver answers. */
  class DnsStream {
    constructor(
      readonly session: WispSession,
      readonly id: number,
    ) {}
    put(data: Uint8Array): void {
      const query = data.slice();
      void answerDnsQuery(policy, limits, this.session.client, query).then((outcome) => {
        if (outcome.refused) {
          log(`relay: client ${this.session.client}: refused DNS query for ${outcome.name ?? "?"}: ${outcome.refused}`);
        }
        if (this.session.streams.get(this.id) === this) this.session.send(encodeData(this.id, outcome.answer));
      });
    }
    dispose(): void {}
  }

  /** A TCP stream: checked, connected to the checked address, bytes both ways under the client's byte budget. */
  class TcpStream {
    #socket: Socket | undefined;
    #pending: Uint8Array[] = [];
    #writing = false;
    #written = 0;
    #unflushed = 0;
    #disposed = false;
    #paused = { rate: false, flush: false };
    #timer: ReturnType<typeof setTimeout> | undefined;
    readonly #client: string;

    constructor(
      readonly session: WispSession,
      readonly id: number,
      readonly host: string,
      readonly port: number,
    ) {
      this.#client = session.client;
      void this.#open();
    }

    async #open(): Promise<void> {
      const what = `${this.host}:${this.port}`;
      let target: { address: string; name: string };
      try {
        target = await policy.checkConnect(this.#client, this.host, this.port);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        if (this.#disposed) return;
        this.#drop();
        const reason = error.kind === "blocked" ? CloseReason.blocked : CloseReason.unreachable;
        this.session.refuse(this.id, reason, what, error.message);
        return;
      }
      if (this.#disposed) return;
      const label = target.name === target.address ? what : `${target.name} (${target.address}):${this.port}`;
      const socket = connect(target.address, this.port);
      this.#socket = socket;
      socket.setNoDelay(true);
      const connectTimer = setTimeout(
        () => this.#fail(CloseReason.noResponse, "connection timed out"),
        connectTimeoutMs,
      );
      socket.once("connect", () => {
        clearTimeout(connectTimer);
        log(`relay: client ${this.#client}: connect ${label}`);
        socket.setTimeout(idleTimeoutMs, () => this.#fail(CloseReason.transferTimeout, "idle too long"));
        void this.#pump();
      });
      socket.on("data", (chunk: Buffer) => this.#fromDestination(chunk));
      socket.on("error", (error: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        const reason =
          error.code === "ECONNREFUSED"
            ? CloseReason.refused
            : error.code === "EHOSTUNREACH" || error.code === "ENETUNREACH"
              ? CloseReason.unreachable
              : CloseReason.networkError;
        this.#fail(reason, error.message);
      });
      socket.on("close", () => {
        clearTimeout(connectTimer);
        if (this.#disposed) return;
        this.session.closeStream(this.id, CloseReason.voluntary);
      });
    }

    #fail(reason: number, why: string): void {
      if (this.#disposed) return;
      log(`relay: client ${this.#client}: ${this.host}:${this.port}: ${why} (${describeCloseReason(reason)})`);
      this.session.closeStream(this.id, reason);
    }

    #fromDestination(chunk: Buffer): void {
      if (this.#disposed) return;
      const socket = this.#socket!;
      this.#unflushed++;
      this.session.send(encodeData(this.id, chunk), () => {
        this.#unflushed--;
        if (this.#paused.flush && this.#unflushed < MAX_UNFLUSHED / 4) {
          this.#paused.flush = false;
          this.#resume();
        }
      });
      if (this.#unflushed >= MAX_UNFLUSHED && !this.#paused.flush) {
        this.#paused.flush = true;
        socket.pause();
      }
      const wait = limits.spend(this.#client, chunk.length);
      if (wait > 0 && !this.#paused.rate) {
        this.#paused.rate = true;
        socket.pause();
        this.#timer = setTimeout(() => {
          this.#paused.rate = false;
          this.#resume();
        }, wait);
      }
    }

    #resume(): void {
      if (!this.#disposed && !this.#paused.rate && !this.#paused.flush) this.#socket?.resume();
    }

    put(data: Uint8Array): void {
      if (this.#disposed) return;
      if (this.#pending.length >= BUFFER_PACKETS * 4) {
        this.#fail(CloseReason.networkError, "the client sent past Wisp's flow control");
        return;
      }
      this.#pending.push(data.slice());
      void this.#pump();
    }

    async #pump(): Promise<void> {
      const socket = this.#socket;
      if (this.#writing || !socket || socket.connecting) return;
      this.#writing = true;
      try {
        while (this.#pending.length > 0 && !this.#disposed) {
          const data = this.#pending.shift()!;
          const wait = limits.spend(this.#client, data.length);
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          if (this.#disposed) return;
          if (!socket.write(data)) await new Promise((resolve) => socket.once("drain", resolve));
          this.#written++;
          if (this.#written % (BUFFER_PACKETS / 2) === 0 && this.session.streams.get(this.id) === this) {
            this.session.send(encodeContinue(this.id, BUFFER_PACKETS - this.#pending.length));
          }
        }
      } finally {
        this.#writing = false;
      }
    }

    /** Counts the stream out of the client's open streams once. */
    #drop(): void {
      if (this.#disposed) return;
      this.#disposed = true;
      limits.release(this.#client);
      this.session.streams.delete(this.id);
    }

    dispose(): void {
      const wasOpen = !this.#disposed;
      this.#drop();
      if (!wasOpen) return;
      clearTimeout(this.#timer);
      this.#pending = [];
      this.#socket?.destroy();
    }
  }

  return relay;
}
