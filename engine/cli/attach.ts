// The client side of a hijacked connection (run, start -a, exec): the user's stdin into it, its output onto stdout and
// stderr (demultiplexed without a tty, raw with one), the terminal in raw mode while a tty session lasts, and the
// container's tty kept at the terminal's size.

import { DEFAULT_DETACH_KEYS, EscapeSequence, parseDetachKeys } from "../conventions/index.ts";
import type { DockerClient } from "./client.ts";
import type { VerbContext } from "./command.ts";
import { CliError } from "./errors.ts";
import { demultiplex, settle } from "./frames.ts";
import type { CliIO } from "./io.ts";
import { Interrupted, proxySignals, stoppable } from "./signals.ts";

/** The user's stdin as a request body, which the CLI can stop reading once the session is over. */
export interface StdinPipe {
  stream: ReadableStream<Uint8Array>;
  /** Stops reading stdin (the session ended before the user's input did). */
  stop(): Promise<void>;
  /** Settles when the user typed the detach key sequence (never, without one): stdin then ends. */
  detached: Promise<void>;
}

/**
 * Wraps the CLI's stdin so a session can hand it to the daemon and let go of it when the output ends. With
 * `detachKeys` (a terminal session) the sequence is looked for in what the user types, and never sent on.
 * @example
 * const stdin = stdinPipe(io, DEFAULT_DETACH_KEYS);
 * await client.hijack("POST", `/containers/${id}/attach`, { stdin: stdin.stream });
 */
export function stdinPipe(io: CliIO, detachKeys?: Uint8Array): StdinPipe {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let stopped = false;
  const sequence = detachKeys ? new EscapeSequence(detachKeys) : undefined;
  let detach!: () => void;
  const detached = new Promise<void>((resolve) => {
    detach = resolve;
  });
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await reader?.cancel().catch(() => {});
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        reader ??= io.stdin.getReader();
        // Held keys of a possible detach sequence forward nothing: read on until there is something to send.
        for (;;) {
          if (stopped) return controller.close();
          const next = await reader.read();
          if (next.done || stopped) return controller.close();
          const { forward, detached } = sequence ? sequence.push(next.value) : { forward: next.value, detached: false };
          if (detached) {
            controller.close();
            await stop();
            detach();
            return;
          }
          if (forward.length > 0) return controller.enqueue(forward);
        }
      },
      cancel: async () => {
        stopped = true;
        await reader?.cancel();
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, stop, detached };
}

/** The detach keys of a verb's --detach-keys (docker's default when empty); a bad sequence is refused. */
export function detachKeysOption(value: string, status = 1): Uint8Array {
  if (value === "") return DEFAULT_DETACH_KEYS;
  try {
    return parseDetachKeys(value);
  } catch (error) {
    throw new CliError(`invalid detach keys (${value}): ${(error as Error).message}`, status);
  }
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
      let finished = false;
      try {
        for (let next = await reader.read(); !next.done; next = await reader.read())
          await context.out.write(next.value);
        finished = true;
      } finally {
        await settle(reader, finished);
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

/** The user typed the detach sequence: the session ends, the container goes on. */
class Detached extends Error {}

/**
 * An attached session from its output to its exit code, as docker's run, start -a and exec hold one: the output is
 * copied until it ends, then `exitCode()` says how the process ended. With `proxy` each signal goes to the container
 * (docker's --sig-proxy) and the CLI keeps waiting, up to the third SIGINT/SIGTERM; without, a signal ends the
 * session at once (exit 128 + signal) and the process goes on. The detach sequence typed on `stdin` ends the
 * session and resolves "detached" without waiting for the process.
 * @example
 * const code = await attachedSession(context, output, { tty: false, proxy: { client, id } }, () => exited);
 */
export async function attachedSession(
  context: Pick<VerbContext, "out" | "err" | "io">,
  output: ReadableStream<Uint8Array>,
  options: { tty: boolean; stdin?: StdinPipe; proxy?: { client: DockerClient; id: string } },
  exitCode: () => Promise<number>,
): Promise<number | "detached"> {
  let unsubscribe = () => {};
  let forceExit!: (error: Error) => void;
  const forced = new Promise<never>((_, reject) => {
    forceExit = reject;
  });
  forced.catch(() => {});
  const session = stoppable(output);
  const end = (error: Error) => {
    session.stop(error);
    forceExit(error);
  };
  const { proxy } = options;
  if (proxy) unsubscribe = proxySignals(context.io, proxy.client, proxy.id, context.err, end);
  else unsubscribe = context.io.onSignal?.((signal) => end(new Interrupted(signal))) ?? unsubscribe;
  void options.stdin?.detached.then(() => end(new Detached()));
  try {
    await Promise.race([copyOutput(context, session.stream, options), forced]);
    return await Promise.race([exitCode(), forced]);
  } catch (error) {
    if (error instanceof Detached) return "detached";
    throw error;
  } finally {
    unsubscribe();
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
