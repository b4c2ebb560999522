// The client side of a hijacked connection (run, start -a, exec): the user's stdin into it, its output onto stdout and
// stderr (demultiplexed without a tty, raw with one), the terminal in raw mode while a tty session lasts, and the
// container's tty kept at the terminal's size.
import type { VerbContext } from "./command.ts";
import { demultiplex } from "./frames.ts";
import type { CliIO } from "./io.ts";

/** The user's stdin as a request body, which the CLI can stop reading once the session is over. */
export interface StdinPipe {
  stream: ReadableStream<Uint8Array>;
  /** Stops reading stdin (the session ended before the user's input did). */
  stop(): Promise<void>;
}

/**
 * Wraps the CLI's stdin so a session can hand it to the daemon and let go of it when the output ends.
 * @example
 * const stdin = stdinPipe(io);
 * await client.hijack("POST", `/containers/${id}/attach`, { stdin: stdin.stream });
 */
export function stdinPipe(io: CliIO): StdinPipe {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let stopped = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        if (stopped) {
          controller.close();
          return;
        }
        reader ??= io.stdin.getReader();
        const next = await reader.read();
        if (next.done || stopped) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: async () => {
        stopped = true;
        await reader?.cancel();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await reader?.cancel().catch(() => {});
    },
  };
}

/**
 * Copies a session's output to the CLI's stdout/stderr until the daemon ends it, then lets go of stdin.
 * @example
 * await copyOutput(context, body, { tty: false, stdin });
 */
export async function copyOutput(
  context: Pick<VerbContext, "out" | "err">,
  output: ReadableStream<Uint8Array>,
  options: { tty: boolean; stdin?: StdinPipe },
): Promise<void> {
  try {
    if (options.tty) {
      const reader = output.getReader();
      try {
        for (let next = await reader.read(); !next.done; next = await reader.read())
          await context.out.write(next.value);
      } finally {
        reader.releaseLock();
      }
    } else {
      await demultiplex(output, {
        stdout: (bytes) => context.out.write(bytes),
        stderr: (bytes) => context.err.write(bytes),
      });
    }
  } finally {
    await options.stdin?.stop();
  }
}

/**
 * Runs `work` with the terminal in raw mode when `raw` is true, restoring it afterwards whatever happens.
 * @example
 * await withRawTerminal(io, true, () => copyOutput(context, body, { tty: true, stdin }));
 */
export async function withRawTerminal<T>(io: CliIO, raw: boolean, work: () => Promise<T>): Promise<T> {
  if (!raw) return work();
  await io.setRawMode(true);
  try {
    return await work();
  } finally {
    await io.setRawMode(false);
  }
}

/**
 * Sends the terminal's size now and on every change (`POST …/resize?h=&w=`); returns the function that stops.
 * @example
 * const stop = monitorTtySize(io, (size) => client.call("POST", `/containers/${id}/resize`, { query: { h: size.rows, w: size.cols } }));
 */
export function monitorTtySize(io: CliIO, resize: (size: { rows: number; cols: number }) => Promise<void>): () => void {
  const send = (size: { rows: number; cols: number }) => {
    if (size.rows > 0 && size.cols > 0) void resize(size).catch(() => {});
  };
  const size = io.size();
  if (size) send(size);
  return io.onResize(send);
}
