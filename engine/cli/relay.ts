// The engine's end of the guest's `docker` command. The applet (vm-images/agent/docker.c) connects to
// /run/drydock/cli.sock and relays its argv, environment, terminal and stdio in small frames; this side turns one
// such connection into a CliIO, runs the CLI on it and sends back the exit code. Framing: vm-images/agent/PROTOCOL.md,
// "The docker relay".
import { EngineError } from "../errors.ts";
import type { CliIO } from "./io.ts";

/** Frame types of the docker relay. */
export const RelayFrameType = {
  /** client → engine: stdin bytes; empty = end of input. */
  STDIN: 0x00,
  /** engine → client: bytes for stdout. */
  STDOUT: 0x01,
  /** engine → client: bytes for stderr. */
  STDERR: 0x02,
  /** engine → client: u32 exit code; the last frame. */
  EXIT: 0x03,
  /** client → engine: the JSON RelayStart; the first frame. */
  START: 0x10,
  /** client → engine: u16 rows, u16 cols. */
  RESIZE: 0x11,
  /** engine → client: u8 1 = raw mode, 0 = restore the terminal. */
  RAW: 0x12,
  /** engine → client: start reading stdin and sending it. */
  STDIN_WANTED: 0x13,
  /** client → engine: u32 signal number. */
  SIGNAL: 0x14,
} as const;

/** One frame: its type and payload. */
export interface RelayFrame {
  type: number;
  payload: Uint8Array;
}

/** What the applet says first. */
export interface RelayStart {
  /** The arguments after `docker`. */
  argv: string[];
  /** `NAME=value` entries. */
  env: string[];
  cwd: string;
  tty: { stdin: boolean; stdout: boolean };
  rows: number;
  cols: number;
}

const HEADER_SIZE = 8;
/** The largest frame accepted from the applet: a START with a large environment still fits. */
export const MAX_RELAY_PAYLOAD = 1 << 20;
/** Output is sent in frames of at most this size, so the applet's writes interleave with the engine's reads. */
const MAX_OUTPUT_FRAME = 1 << 16;
/** Stdin the CLI has not read yet, beyond which the relay stops reading the connection until it does. */
const MAX_PENDING_STDIN = 1 << 20;
/** What the applet exits with when the relay itself failed (docker's own code for "the CLI failed"). */
const EXIT_RELAY_FAILED = 125;

/**
 * Encodes one frame: type, three zero bytes, payload length (u32 big-endian), payload.
 * @example
 * const exit = encodeRelayFrame(RelayFrameType.EXIT, new Uint8Array([0, 0, 0, 1])); // exit code 1
 */
export function encodeRelayFrame(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const frame = new Uint8Array(HEADER_SIZE + payload.length);
  frame[0] = type;
  new DataView(frame.buffer).setUint32(4, payload.length);
  frame.set(payload, HEADER_SIZE);
  return frame;
}

/**
 * Splits a byte stream into frames, whatever the chunk boundaries.
 * @example
 * const decoder = new RelayFrameDecoder();
 * for (const frame of decoder.push(chunk)) console.log(frame.type, frame.payload.length);
 */
export class RelayFrameDecoder {
  #buffer = new Uint8Array(0);

  /** Adds bytes; returns the frames they complete. Throws `invalidArgument` on a frame beyond MAX_RELAY_PAYLOAD. */
  push(chunk: Uint8Array): RelayFrame[] {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    const frames: RelayFrame[] = [];
    let at = 0;
    while (joined.length - at >= HEADER_SIZE) {
      const length = new DataView(joined.buffer, at + 4, 4).getUint32(0);
      if (length > MAX_RELAY_PAYLOAD) {
        throw new EngineError(
          "invalidArgument",
          `the docker command sent a frame of ${length} bytes (at most ${MAX_RELAY_PAYLOAD}); is the guest's docker older than the engine?`,
        );
      }
      if (joined.length - at < HEADER_SIZE + length) break;
      frames.push({ type: joined[at] ?? 0, payload: joined.slice(at + HEADER_SIZE, at + HEADER_SIZE + length) });
      at += HEADER_SIZE + length;
    }
    this.#buffer = joined.slice(at);
    return frames;
  }
}

/**
 * Reads a START frame's JSON, checking every field, so a malformed one is refused with a message instead of
 * reaching the CLI half-formed.
 * @example
 * const start = parseRelayStart(new TextEncoder().encode('{"argv":["ps"],"env":[],"cwd":"/","tty":{"stdin":false,"stdout":false},"rows":0,"cols":0}'));
 */
export function parseRelayStart(payload: Uint8Array): RelayStart {
  const bad = (what: string) =>
    new EngineError("invalidArgument", `the docker command's START frame is malformed: ${what}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(payload));
  } catch (error) {
    throw bad(error instanceof Error ? error.message : String(error));
  }
  if (typeof value !== "object" || value === null) throw bad("not a JSON object");
  const start = value as Record<string, unknown>;
  const strings = (key: string): string[] => {
    const list = start[key];
    if (!Array.isArray(list) || !list.every((item) => typeof item === "string"))
      throw bad(`${key} is not a list of strings`);
    return list;
  };
  const tty = start.tty as Record<string, unknown> | undefined;
  if (typeof tty !== "object" || tty === null || typeof tty.stdin !== "boolean" || typeof tty.stdout !== "boolean") {
    throw bad("tty is not {stdin: boolean, stdout: boolean}");
  }
  const size = (key: string): number => {
    const n = start[key];
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffff) throw bad(`${key} is not a u16`);
    return n;
  };
  if (typeof start.cwd !== "string") throw bad("cwd is not a string");
  return {
    argv: strings("argv"),
    env: strings("env"),
    cwd: start.cwd,
    tty: { stdin: tty.stdin, stdout: tty.stdout },
    rows: size("rows"),
    cols: size("cols"),
  };
}

const appletGone = (cause?: unknown) =>
  new EngineError("unavailable", "the docker command in the guest has ended", { cause });

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0);
  return bytes;
}

/** How a session ended: the CLI returned or threw, a signal nobody handled, or the applet went away. */
type Ending = { exit: number; message?: string } | { lost: true };

/**
 * Serves one connection of the guest's `docker` applet: decodes its frames, builds the CliIO (stdin is read from
 * the applet only once the CLI reads it; stdout and stderr become frames; raw mode, resizes and signals are relayed),
 * runs `run`, sends EXIT with its result (a thrown error: its message on stderr and 125) and closes the connection.
 * Resolves when the session is over; an ending the applet never hears (it went away) is not an error.
 * @example
 * await agent.listen("/run/drydock/cli.sock", (conn) => void serveCliRelay(conn, (argv, io) => runCli(argv, io, api)));
 */
export async function serveCliRelay(
  connection: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> },
  run: (argv: string[], io: CliIO) => Promise<number>,
  host: Pick<CliIO, "readDirectory" | "writeFile"> = {},
): Promise<void> {
  const reader = connection.readable.getReader();
  const writer = connection.writable.getWriter();
  const decoder = new RelayFrameDecoder();
  const encoder = new TextEncoder();
  let over = false;
  const send = (type: number, payload?: Uint8Array): Promise<void> => writer.write(encodeRelayFrame(type, payload));

  let finish!: (ending: Ending) => void;
  const ended = new Promise<Ending>((resolve) => {
    finish = resolve;
  });

  // ---- stdin: nothing is asked of the applet until the CLI reads ----
  let stdinController!: ReadableStreamDefaultController<Uint8Array>;
  let stdinWanted = false;
  let stdinDone = false;
  let wakePull: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;
  const stdin = new ReadableStream<Uint8Array>(
    {
      start: (controller) => {
        stdinController = controller;
      },
      pull: () => {
        wakeReader?.();
        if (!stdinWanted) {
          stdinWanted = true;
          send(RelayFrameType.STDIN_WANTED).catch(() => {});
        }
        // Resolve only when bytes (or the end) arrive: a pull that resolves at once would be called again at once.
        return new Promise<void>((resolve) => {
          wakePull = resolve;
        });
      },
      cancel: () => {
        stdinDone = true;
        wakeReader?.();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
  );
  const stdinEnd = (error?: Error) => {
    if (stdinDone) return;
    stdinDone = true;
    if (error) stdinController.error(error);
    else stdinController.close();
    wakePull?.();
  };

  const output = (type: number) =>
    new WritableStream<Uint8Array>({
      write: async (chunk) => {
        if (over) throw appletGone();
        try {
          for (let at = 0; at < chunk.length; at += MAX_OUTPUT_FRAME) {
            await send(type, chunk.subarray(at, at + MAX_OUTPUT_FRAME));
          }
        } catch (error) {
          // The connection failed under a write: to the CLI that is one thing, its command is gone.
          throw appletGone(error);
        }
      },
    });

  const resizeListeners = new Set<(size: { rows: number; cols: number }) => void>();
  const signalListeners = new Set<(signal: number) => void>();
  let start: RelayStart | undefined;

  const handle = async (frame: RelayFrame): Promise<void> => {
    const view = new DataView(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength);
    if (!start) {
      if (frame.type !== RelayFrameType.START) {
        throw new EngineError(
          "invalidArgument",
          `the docker command's first frame was 0x${frame.type.toString(16)}, not START`,
        );
      }
      start = parseRelayStart(frame.payload);
      begin(start);
      return;
    }
    switch (frame.type) {
      case RelayFrameType.STDIN:
        if (stdinDone) return;
        if (frame.payload.length === 0) return stdinEnd();
        stdinController.enqueue(frame.payload);
        wakePull?.();
        // A CLI that does not keep up holds the applet back instead of filling memory.
        while (!stdinDone && (stdinController.desiredSize ?? 0) < -MAX_PENDING_STDIN) {
          await new Promise<void>((resolve) => {
            wakeReader = resolve;
          });
        }
        return;
      case RelayFrameType.RESIZE:
        if (frame.payload.length < 4) return;
        start.rows = view.getUint16(0);
        start.cols = view.getUint16(2);
        for (const listener of resizeListeners) listener({ rows: start.rows, cols: start.cols });
        return;
      case RelayFrameType.SIGNAL: {
        if (frame.payload.length < 4) return;
        const signal = view.getUint32(0);
        if (signalListeners.size === 0) return finish({ exit: 128 + signal });
        for (const listener of signalListeners) listener(signal);
        return;
      }
      // Unknown types are skipped: a newer applet may say more than this engine understands.
    }
  };

  const begin = (start: RelayStart): void => {
    const io: CliIO = {
      stdin,
      stdout: output(RelayFrameType.STDOUT),
      stderr: output(RelayFrameType.STDERR),
      isTTY: { ...start.tty },
      env: Object.fromEntries(
        start.env.map((entry) => {
          const eq = entry.indexOf("=");
          return eq < 0 ? [entry, ""] : [entry.slice(0, eq), entry.slice(eq + 1)];
        }),
      ),
      cwd: start.cwd,
      size: () => (start.tty.stdout && start.rows && start.cols ? { rows: start.rows, cols: start.cols } : undefined),
      onResize: (listener) => {
        resizeListeners.add(listener);
        return () => resizeListeners.delete(listener);
      },
      setRawMode: async (raw) => {
        if (start.tty.stdin && !over) await send(RelayFrameType.RAW, new Uint8Array([raw ? 1 : 0]));
      },
      onSignal: (listener) => {
        signalListeners.add(listener);
        return () => signalListeners.delete(listener);
      },
    };
    if (host.readDirectory) io.readDirectory = host.readDirectory;
    if (host.writeFile) io.writeFile = host.writeFile;
    run([...start.argv], io).then(
      (code) => finish({ exit: code }),
      (error: unknown) =>
        finish({ exit: EXIT_RELAY_FAILED, message: error instanceof Error ? error.message : String(error) }),
    );
  };

  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || over) break;
        for (const frame of decoder.push(value)) await handle(frame);
      }
      finish({ lost: true });
    } catch (error) {
      if (!over) finish({ exit: EXIT_RELAY_FAILED, message: error instanceof Error ? error.message : String(error) });
    }
  })();

  const ending = await ended;
  if ("lost" in ending) {
    // The applet is gone (its user closed the terminal): a CLI still running hears it as a hangup.
    for (const listener of signalListeners) listener(1);
  }
  over = true;
  stdinEnd(appletGone());
  await reader.cancel().catch(() => {});
  if ("lost" in ending) {
    // Output still queued for the applet fails when the guest reports the connection closed; nobody waits for it.
    writer.close().catch(() => {});
    return;
  }
  try {
    if (ending.message !== undefined) await send(RelayFrameType.STDERR, encoder.encode(`docker: ${ending.message}\n`));
    await send(RelayFrameType.EXIT, u32(ending.exit));
    await writer.close();
  } catch {
    // The applet left while we were saying goodbye: nobody is left to tell.
  }
}
