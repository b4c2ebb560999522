// The docker CLI (engine/cli) in Node: a CliIO over the process's stdio and terminal, and an ApiTransport over a unix
// socket with node:http, hijacked requests included (101 UPGRADED, or a 200 raw stream from older daemons).
import { spawn } from "node:child_process";
import { lstat } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { basename, dirname } from "node:path";
import { Readable, Writable } from "node:stream";
import type { ApiConnector, ApiTransport, CliIO, HostFiles } from "../cli/index.ts";

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

/** A stream that reads `source` only once someone reads it (an unused stdin is never touched). */
function lazyStdin(source: NodeJS.ReadableStream & Readable): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        reader ??= (Readable.toWeb(source) as ReadableStream<Uint8Array>).getReader();
        const next = await reader.read();
        if (next.done) controller.close();
        else controller.enqueue(new Uint8Array(next.value));
      },
      cancel: async () => {
        await reader?.cancel().catch(() => {});
        source.pause();
      },
    },
    { highWaterMark: 0 },
  );
}

function writable(stream: NodeJS.WritableStream): WritableStream<Uint8Array> {
  // A reader that went away (`docker logs -f web | head -1`) fails the write (EPIPE) through its callback, which the
  // CLI turns into its exit; the same error emitted as an event must not crash the process on the way.
  stream.on("error", () => {});
  return new WritableStream<Uint8Array>({
    write: (chunk) =>
      new Promise<void>((resolve, reject) => {
        stream.write(chunk, (error) => (error ? reject(error) : resolve()));
      }),
  });
}

/**
 * This machine's files for `docker cp`, through the system's tar (owners kept when run as root, as docker's are).
 * @example
 * const files = nodeHostFiles();
 * const tar = await files.pack("/etc/hostname");
 */
export function nodeHostFiles(): HostFiles {
  return {
    stat: async (path) => {
      try {
        return { isDirectory: (await lstat(path)).isDirectory() };
      } catch {
        return undefined;
      }
    },
    pack: async (path) => {
      const child = spawn("tar", ["-c", "-f", "-", "-C", dirname(path), basename(path)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      return Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>;
    },
    unpack: async (dir, tar) => {
      const child = spawn("tar", ["-x", "-f", "-", "-C", dir], { stdio: ["pipe", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = new Promise<number>((resolve) => child.once("close", (code) => resolve(code ?? 1)));
      await tar.pipeTo(Writable.toWeb(child.stdin)).catch(() => {});
      const code = await exited;
      if (code !== 0) throw new Error(`could not extract into ${dir}: ${stderr.trim() || `tar exited ${code}`}`);
    },
  };
}

/**
 * The CLI's view of this process: stdio, whether they are terminals, raw mode, window size and signals.
 * @example
 * const code = await runCli(process.argv.slice(2), processCliIO(), unixConnector("unix:///tmp/drydock.sock"));
 */
export function processCliIO(): CliIO {
  const stdin = process.stdin;
  const stdout = process.stdout;
  return {
    files: nodeHostFiles(),
    stdin: lazyStdin(stdin),
    stdout: writable(stdout),
    stderr: writable(process.stderr),
    isTTY: { stdin: stdin.isTTY === true, stdout: stdout.isTTY === true },
    env: Object.fromEntries(
      Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ),
    cwd: process.cwd(),
    size: () => (stdout.isTTY ? { rows: stdout.rows, cols: stdout.columns } : undefined),
    onResize: (listener) => {
      const onResize = () => listener({ rows: stdout.rows, cols: stdout.columns });
      stdout.on("resize", onResize);
      return () => stdout.off("resize", onResize);
    },
    setRawMode: async (raw) => {
      if (stdin.isTTY) stdin.setRawMode(raw);
    },
    readDirectory: async (path) => {
      const { packTar } = await import("modern-tar/fs");
      const { stat } = await import("node:fs/promises");
      const info = await stat(path).catch(() => undefined);
      if (!info?.isDirectory()) throw new Error(`unable to prepare context: path "${path}" not found`);
      return Readable.toWeb(packTar(path)) as ReadableStream<Uint8Array>;
    },
    writeFile: async (path, text) => {
      const { writeFile } = await import("node:fs/promises");
      await writeFile(path, text);
    },
    // While a verb listens, SIGINT/SIGTERM/SIGHUP/SIGQUIT are its to handle (docker's signal proxy); once nobody
    // listens, Node's default is back: the process dies of the signal (a shell sees 128 + its number).
    onSignal: (listener) => {
      const handlers = Object.entries(SIGNALS).map(([name, number]) => {
        const handler = () => listener(number!);
        process.on(name as NodeJS.Signals, handler);
        return [name as NodeJS.Signals, handler] as const;
      });
      return () => {
        for (const [name, handler] of handlers) process.off(name, handler);
      };
    },
  };
}

/** The socket path a docker host names: only `unix://` addresses can be dialled here. */
export function unixSocketPath(host: string): string {
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  if (host.startsWith("/")) return host;
  throw new Error(`unsupported host ${host}: this CLI reaches daemons on unix sockets only (unix:///path.sock)`);
}

function responseHeaders(message: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return headers;
}

/** The bytes a socket receives after `head`, as a web stream; cancelling it closes the socket. */
function socketStream(socket: Socket, head: Buffer): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start: (controller) => {
      if (head.length > 0) controller.enqueue(new Uint8Array(head));
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        controller.close();
      };
      socket.on("data", (chunk: Buffer) => {
        if (!closed) controller.enqueue(new Uint8Array(chunk));
      });
      socket.once("end", close);
      socket.once("close", close);
      socket.once("error", (error) => {
        if (closed) return;
        closed = true;
        controller.error(error);
      });
    },
    cancel: () => {
      socket.destroy();
    },
  });
}

/** Writes what is left of a hijacked request's body (the user's stdin) into the socket, then half-closes it. */
async function pumpBody(
  reader: ReadableStreamDefaultReader<Uint8Array> | undefined,
  leftover: Uint8Array,
  socket: Socket,
) {
  const write = (bytes: Uint8Array) =>
    new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
  try {
    if (leftover.length > 0) await write(leftover);
    if (reader) for (let next = await reader.read(); !next.done; next = await reader.read()) await write(next.value);
    if (!socket.destroyed) socket.end();
  } catch {
    // The daemon closed the connection first: the rest of stdin has nowhere to go.
    await reader?.cancel().catch(() => {});
  }
}

/** Reads the first `length` bytes of a body (a hijacked request's JSON), keeping what came after them. */
async function readPrefix(reader: ReadableStreamDefaultReader<Uint8Array>, length: number) {
  const prefix = new Uint8Array(length);
  let filled = 0;
  let leftover = new Uint8Array(0);
  while (filled < length) {
    const next = await reader.read();
    if (next.done) break;
    const take = Math.min(length - filled, next.value.length);
    prefix.set(next.value.subarray(0, take), filled);
    filled += take;
    leftover = next.value.slice(take);
  }
  return { prefix: prefix.subarray(0, filled), leftover };
}

/**
 * A fetch-like transport to the daemon listening on `socketPath`.
 * @example
 * const transport = unixTransport("/tmp/drydock.sock");
 * const answer = await transport(new Request("http://docker/_ping"));
 */
export function unixTransport(socketPath: string): ApiTransport {
  return async (request) => {
    const url = new URL(request.url);
    const headers: Record<string, string> = { host: "docker", "user-agent": "Docker-Client/drydock (linux)" };
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const hijack = request.headers.get("upgrade") !== null;
    const outgoing = httpRequest({
      socketPath,
      method: request.method,
      path: url.pathname + url.search,
      headers,
      agent: false,
    });
    const answered = new Promise<Response>((resolve, reject) => {
      outgoing.once("error", reject);
      outgoing.once("response", (message) => {
        const status = message.statusCode ?? 500;
        const noBody = status === 204 || status === 304 || request.method === "HEAD";
        resolve(
          new Response(noBody ? null : (Readable.toWeb(message) as ReadableStream<Uint8Array>), {
            status,
            statusText: message.statusMessage,
            headers: responseHeaders(message),
          }),
        );
        if (noBody) message.resume();
      });
    });
    if (!hijack) {
      const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
      outgoing.end(body);
      return answered;
    }
    // Hijacked: the JSON part of the body (its Content-Length) goes with the request; the rest (stdin) follows once
    // the daemon has answered, straight onto the socket, which is half-closed when stdin ends.
    const reader = request.body?.getReader();
    const length = Number(request.headers.get("content-length") ?? "0");
    const { prefix, leftover } =
      reader && length > 0
        ? await readPrefix(reader, length)
        : { prefix: new Uint8Array(0), leftover: new Uint8Array(0) };
    let viaUpgrade = false;
    const upgraded = new Promise<Response>((resolve, reject) => {
      outgoing.once("error", reject);
      outgoing.once("upgrade", (message: IncomingMessage, socket: Socket, head: Buffer) => {
        viaUpgrade = true;
        void pumpBody(reader, leftover, socket);
        resolve(new Response(socketStream(socket, head), { status: 200, headers: responseHeaders(message) }));
      });
    });
    outgoing.end(prefix.length > 0 ? prefix : undefined);
    const response = await Promise.race([upgraded, answered]);
    // Errors after the answer (the daemon hanging up mid-stream) surface through the body stream instead.
    outgoing.on("error", () => {});
    if (!viaUpgrade && response.ok && outgoing.socket) {
      // An older daemon's 200 raw stream (no upgrade): stdin still goes onto the same connection.
      void pumpBody(reader, leftover, outgoing.socket);
    } else if (!response.ok) {
      await reader?.cancel().catch(() => {});
    }
    return response;
  };
}

/**
 * Dials unix sockets by docker host address, with `defaultHost` when neither -H nor DOCKER_HOST names one.
 * @example
 * await runCli(["ps"], processCliIO(), unixConnector("unix:///tmp/drydock.sock"));
 */
export function unixConnector(defaultHost: string): ApiConnector {
  return { defaultHost, connect: (host) => unixTransport(unixSocketPath(host)) };
}
