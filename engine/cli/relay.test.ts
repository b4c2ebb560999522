import { describe, expect, it } from "vitest";
import type { CliIO } from "./io.ts";
import {
  encodeRelayFrame,
  MAX_RELAY_PAYLOAD,
  parseRelayStart,
  type RelayFrame,
  RelayFrameDecoder,
  type RelayStart,
  serveCliRelay,
  RelayFrameType as T,
} from "./relay.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (s: string) => new TextEncoder().encode(s);
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

const START: RelayStart = {
  argv: ["ps", "-a"],
  env: ["HOME=/root", "DOCKER_HOST=unix:///var/run/docker.sock", "EQ=a=b", "EMPTY="],
  cwd: "/root",
  tty: { stdin: false, stdout: false },
  rows: 0,
  cols: 0,
};

/** The applet's side of a relay connection, driven by the test: it sends frames and reads what the engine says. */
function applet(run: (argv: string[], io: CliIO) => Promise<number>) {
  const toEngine = new TransformStream<Uint8Array, Uint8Array>();
  const toApplet = new TransformStream<Uint8Array, Uint8Array>();
  const served = serveCliRelay({ readable: toEngine.readable, writable: toApplet.writable }, run);
  const writer = toEngine.writable.getWriter();
  const reader = toApplet.readable.getReader();
  const decoder = new RelayFrameDecoder();
  const received: RelayFrame[] = [];
  let closed = false;
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      received.push(...decoder.push(value));
    }
    closed = true;
  })();
  return {
    served,
    received,
    get closed() {
      return closed;
    },
    send: (type: number, payload?: Uint8Array) => writer.write(encodeRelayFrame(type, payload)),
    start: (start: Partial<RelayStart> = {}) =>
      writer.write(encodeRelayFrame(T.START, bytes(JSON.stringify({ ...START, ...start })))),
    hangUp: () => writer.close(),
    /** Waits for the engine to close the connection; returns every frame it sent. */
    finished: async () => {
      await pump;
      await served;
      return received;
    },
    /** Waits until a frame of `type` has arrived. */
    until: async (type: number) => {
      while (!received.some((f) => f.type === type)) {
        if (closed) throw new Error(`the engine closed without sending 0x${type.toString(16)}`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    },
  };
}

const exitCode = (frames: RelayFrame[]) => {
  const exit = frames.find((f) => f.type === T.EXIT);
  return exit && new DataView(exit.payload.buffer, exit.payload.byteOffset).getUint32(0);
};
const joined = (frames: RelayFrame[], type: number) =>
  frames
    .filter((f) => f.type === type)
    .map((f) => text(f.payload))
    .join("");

describe("frames", () => {
  it("decodes frames split at any byte, in order", () => {
    const stream = new Uint8Array([
      ...encodeRelayFrame(T.STDOUT, bytes("hello")),
      ...encodeRelayFrame(T.STDIN_WANTED),
      ...encodeRelayFrame(T.EXIT, u32(3)),
    ]);
    expect([...stream.slice(0, 8)]).toEqual([1, 0, 0, 0, 0, 0, 0, 5]);
    const decoder = new RelayFrameDecoder();
    const frames = [...stream].flatMap((byte) => decoder.push(new Uint8Array([byte])));
    expect(frames.map((f) => [f.type, [...f.payload]])).toEqual([
      [T.STDOUT, [...bytes("hello")]],
      [T.STDIN_WANTED, []],
      [T.EXIT, [0, 0, 0, 3]],
    ]);
  });

  it("refuses a frame longer than the limit", () => {
    const header = new Uint8Array(8);
    new DataView(header.buffer).setUint32(4, MAX_RELAY_PAYLOAD + 1);
    expect(() => new RelayFrameDecoder().push(header)).toThrow(/frame of 1048577 bytes/);
  });

  it("refuses a START whose fields have the wrong types", () => {
    expect(parseRelayStart(bytes(JSON.stringify(START)))).toEqual(START);
    expect(() => parseRelayStart(bytes("{"))).toThrow(/START frame is malformed/);
    expect(() => parseRelayStart(bytes(JSON.stringify({ ...START, argv: [1] })))).toThrow(/argv is not a list/);
    expect(() => parseRelayStart(bytes(JSON.stringify({ ...START, tty: true })))).toThrow(/tty/);
    expect(() => parseRelayStart(bytes(JSON.stringify({ ...START, rows: -1 })))).toThrow(/rows/);
  });
});

describe("serveCliRelay", () => {
  it("hands argv, env and cwd to the CLI, relays its output and exits with its code", async () => {
    let seen: { argv: string[]; env: Record<string, string>; cwd: string; size: unknown } | undefined;
    const client = applet(async (argv, io) => {
      seen = { argv, env: io.env, cwd: io.cwd, size: io.size() };
      const out = io.stdout.getWriter();
      await out.write(bytes("CONTAINER ID\n"));
      const err = io.stderr.getWriter();
      await err.write(bytes("a warning\n"));
      return 3;
    });
    await client.start();
    const frames = await client.finished();
    expect(seen).toEqual({
      argv: ["ps", "-a"],
      env: { HOME: "/root", DOCKER_HOST: "unix:///var/run/docker.sock", EQ: "a=b", EMPTY: "" },
      cwd: "/root",
      size: undefined,
    });
    expect(joined(frames, T.STDOUT)).toBe("CONTAINER ID\n");
    expect(joined(frames, T.STDERR)).toBe("a warning\n");
    expect(frames.at(-1)?.type).toBe(T.EXIT);
    expect(exitCode(frames)).toBe(3);
  });

  it("sends large output in frames of at most 64 KiB", async () => {
    const big = new Uint8Array(200_000).fill(65);
    const client = applet(async (_argv, io) => {
      await io.stdout.getWriter().write(big);
      return 0;
    });
    await client.start();
    const out = (await client.finished()).filter((f) => f.type === T.STDOUT);
    expect(out.map((f) => f.payload.length)).toEqual([65536, 65536, 65536, 3392]);
  });

  it("asks for stdin only when the CLI reads it, then delivers it up to its end", async () => {
    let release!: () => void;
    const reading = new Promise<void>((resolve) => {
      release = resolve;
    });
    const client = applet(async (_argv, io) => {
      await reading;
      const input = await new Response(io.stdin).text();
      await io.stdout.getWriter().write(bytes(`got ${input}`));
      return 0;
    });
    await client.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(client.received.map((f) => f.type)).not.toContain(T.STDIN_WANTED);
    release();
    await client.until(T.STDIN_WANTED);
    await client.send(T.STDIN, bytes("abc"));
    await client.send(T.STDIN, bytes("def"));
    await client.send(T.STDIN);
    const frames = await client.finished();
    expect(frames.filter((f) => f.type === T.STDIN_WANTED)).toHaveLength(1);
    expect(joined(frames, T.STDOUT)).toBe("got abcdef");
    expect(exitCode(frames)).toBe(0);
  });

  it("stops taking stdin from the applet while the CLI leaves more than 1 MiB of it unread", async () => {
    let reader!: ReadableStreamDefaultReader<Uint8Array>;
    const client = applet(async (_argv, io) => {
      reader = io.stdin.getReader();
      await reader.read();
      return new Promise<number>(() => {});
    });
    await client.start();
    await client.until(T.STDIN_WANTED);
    const piece = new Uint8Array(64 * 1024);
    let accepted = 0;
    const sending = (async () => {
      for (let i = 0; i < 48; i++) {
        await client.send(T.STDIN, piece);
        accepted++;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // 3 MiB offered: the relay holds about 1 MiB (plus what the pipe itself buffers) and waits.
    expect(accepted).toBeGreaterThan(16);
    expect(accepted).toBeLessThan(24);
    let read = 0;
    while (read < 47 * piece.length) read += (await reader.read()).value?.length ?? 0;
    await sending;
    expect(accepted).toBe(48);
  });

  it("never asks for stdin when the CLI does not read it", async () => {
    const client = applet(async () => 0);
    await client.start();
    const frames = await client.finished();
    expect(frames.map((f) => f.type)).toEqual([T.EXIT]);
  });

  it("sets and restores raw mode on a terminal, and does nothing without one", async () => {
    const run = async (_argv: string[], io: CliIO) => {
      await io.setRawMode(true);
      await io.setRawMode(false);
      return 0;
    };
    const onTty = applet(run);
    await onTty.start({ tty: { stdin: true, stdout: true }, rows: 24, cols: 80 });
    const frames = await onTty.finished();
    expect(frames.filter((f) => f.type === T.RAW).map((f) => [...f.payload])).toEqual([[1], [0]]);
    const onPipes = applet(run);
    await onPipes.start();
    expect((await onPipes.finished()).map((f) => f.type)).toEqual([T.EXIT]);
  });

  it("reports the window size and each resize", async () => {
    const sizes: unknown[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const client = applet(async (_argv, io) => {
      sizes.push(io.size());
      io.onResize((size) => {
        sizes.push(size);
        if (size.cols === 132) stop();
      });
      await stopped;
      sizes.push(io.size());
      return 0;
    });
    await client.start({ tty: { stdin: true, stdout: true }, rows: 24, cols: 80 });
    await client.send(T.RESIZE, new Uint8Array([0, 50, 0, 132]));
    await client.finished();
    expect(sizes).toEqual([
      { rows: 24, cols: 80 },
      { rows: 50, cols: 132 },
      { rows: 50, cols: 132 },
    ]);
  });

  it("delivers a signal to the CLI's listeners, which decide how it ends", async () => {
    const client = applet(async (_argv, io) => {
      const signal = await new Promise<number>((resolve) => io.onSignal?.(resolve));
      await io.stderr.getWriter().write(bytes(`stopping on ${signal}\n`));
      return 0;
    });
    await client.start();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await client.send(T.SIGNAL, u32(15));
    const frames = await client.finished();
    expect(joined(frames, T.STDERR)).toBe("stopping on 15\n");
    expect(exitCode(frames)).toBe(0);
  });

  it("ends the command with 128 + the signal when nobody listens", async () => {
    const client = applet(() => new Promise<number>(() => {}));
    await client.start();
    await client.send(T.SIGNAL, u32(2));
    const frames = await client.finished();
    expect(exitCode(frames)).toBe(130);
  });

  it("turns a thrown error into a message and 125", async () => {
    const client = applet(async () => {
      throw new Error("Cannot connect to the Docker daemon");
    });
    await client.start();
    const frames = await client.finished();
    expect(joined(frames, T.STDERR)).toBe("docker: Cannot connect to the Docker daemon\n");
    expect(exitCode(frames)).toBe(125);
  });

  it("refuses a first frame that is not START, without running the CLI", async () => {
    let ran = false;
    const client = applet(async () => {
      ran = true;
      return 0;
    });
    await client.send(T.STDIN, bytes("x"));
    const frames = await client.finished();
    expect(ran).toBe(false);
    expect(joined(frames, T.STDERR)).toMatch(/first frame was 0x0, not START/);
    expect(exitCode(frames)).toBe(125);
  });

  it("ends when the applet goes away: stdin fails, listeners hear SIGHUP, output is refused", async () => {
    const events: string[] = [];
    let done!: () => void;
    const cliDone = new Promise<void>((resolve) => {
      done = resolve;
    });
    const client = applet(async (_argv, io) => {
      io.onSignal?.((signal) => events.push(`signal ${signal}`));
      await io.stdin
        .getReader()
        .read()
        .catch((error: Error) => events.push(`stdin: ${error.message}`));
      await io.stdout
        .getWriter()
        .write(bytes("late"))
        .catch((error: Error) => events.push(`stdout: ${error.message}`));
      done();
      return 0;
    });
    await client.start();
    await client.until(T.STDIN_WANTED);
    await client.hangUp();
    const frames = await client.finished();
    await cliDone;
    expect(frames.map((f) => f.type)).toEqual([T.STDIN_WANTED]);
    expect(events).toEqual([
      "signal 1",
      "stdin: the docker command in the guest has ended",
      "stdout: the docker command in the guest has ended",
    ]);
  });
});
