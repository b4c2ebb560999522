// What the CLI does with the signals its host relays (io.onSignal): a verb that only streams stops at once and lets
// go of the daemon's stream; `run` and `start -a` pass them on to the container (docker's --sig-proxy).
import type { DockerClient } from "./client.ts";
import { CliError, CommandStopped } from "./errors.ts";
import type { CliIO } from "./io.ts";
import type { Output } from "./output.ts";

/** Signal numbers as docker's SignalMap names them (the `signal` query of `POST /containers/{id}/kill`). */
export const SIGNAL_NAMES: Record<number, string> = { 1: "HUP", 2: "INT", 3: "QUIT", 9: "KILL", 15: "TERM" };

const SIGINT = 2;
const SIGTERM = 15;

/**
 * The command was stopped by a signal: nothing to print, and the exit code a shell reports for a process killed by
 * it (128 + signal), as docker's does.
 * @example
 * throw new Interrupted(2); // exit 130
 */
export class Interrupted extends CommandStopped {
  constructor(readonly signal: number) {
    super(128 + signal);
  }
}

/**
 * `body` behind a stream that can be stopped while a reader holds it: `stop(error)` cancels `body` (so the daemon
 * stops producing it) and fails the reader's pending or next read with `error`. `onSettled` runs once, when the
 * stream ends, fails, is cancelled or stopped.
 * @example
 * const session = stoppable(output);
 * setTimeout(() => session.stop(new Error("too slow")), 1000);
 * await copyOutput(context, session.stream, { tty: false });
 */
export function stoppable(
  body: ReadableStream<Uint8Array>,
  onSettled: () => void = () => {},
): { stream: ReadableStream<Uint8Array>; stop(error: Error): void } {
  const reader = body.getReader();
  let over = false;
  let control!: ReadableStreamDefaultController<Uint8Array>;
  const finish = () => {
    if (over) return false;
    over = true;
    onSettled();
    return true;
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start: (controller) => {
        control = controller;
      },
      pull: async (controller) => {
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (error) {
          if (finish()) controller.error(error);
          return;
        }
        if (over) return;
        if (!next.done) controller.enqueue(next.value);
        else if (finish()) controller.close();
      },
      cancel: async (reason) => {
        finish();
        await reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    stop: (error) => {
      if (!finish()) return;
      control.error(error);
      reader.cancel(error).catch(() => {});
    },
  };
}

/**
 * `body` as a stream a signal ends: the signal cancels `body` (so the daemon stops producing it) and fails the
 * reader's pending or next read with {@link Interrupted}. Without signals (no `io.onSignal`) it reads as `body`.
 * @example
 * await copyOutput(context, interruptible(context.io, response.body!), { tty: false }); // Ctrl-C: exit 130
 */
export function interruptible(io: CliIO, body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let unsubscribe = () => {};
  const session = stoppable(body, () => unsubscribe());
  unsubscribe = io.onSignal?.((signal) => session.stop(new Interrupted(signal))) ?? unsubscribe;
  return session.stream;
}

/**
 * Resolves with the first signal that arrives (never, without signals); `dispose` stops listening.
 * @example
 * const signal = nextSignal(io);
 * const first = await Promise.race([work, signal.received]);
 * signal.dispose();
 */
export function nextSignal(io: CliIO): { received: Promise<number>; dispose(): void } {
  let unsubscribe = () => {};
  const received = new Promise<number>((resolve) => {
    unsubscribe =
      io.onSignal?.((signal) => {
        unsubscribe();
        resolve(signal);
      }) ?? unsubscribe;
  });
  return { received, dispose: () => unsubscribe() };
}

/**
 * docker's signal proxy (ForwardAllSignals): each signal the CLI receives goes to the container as
 * `POST /containers/{id}/kill?signal=<NAME>`, and the CLI keeps waiting for the container. A container that ignores
 * them can still be left: at the third SIGINT/SIGTERM the CLI gives up as docker's does ("got 3 SIGTERM/SIGINTs,
 * forcefully exiting", exit 1) through `forceExit`. Returns the function that stops proxying.
 * @example
 * const stop = proxySignals(io, client, id, err, () => abort());
 */
export function proxySignals(
  io: CliIO,
  client: DockerClient,
  id: string,
  err: Pick<Output, "write">,
  forceExit: (error: CliError) => void,
): () => void {
  let terminations = 0;
  return (
    io.onSignal?.((signal) => {
      const name = SIGNAL_NAMES[signal];
      if (name) {
        client.call("POST", `/containers/${id}/kill`, { query: { signal: name } }).catch(() => {
          // The container has already exited (409): its exit code is on its way.
        });
      }
      if (signal === SIGINT || signal === SIGTERM) {
        terminations++;
        if (terminations === 3) {
          void err.write("\ngot 3 SIGTERM/SIGINTs, forcefully exiting\n").catch(() => {});
          forceExit(new CliError("", 1));
        }
      }
    }) ?? (() => {})
  );
}
