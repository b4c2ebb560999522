// The JSON-lines progress answer that pull, push and build share.
import { EngineError } from "../errors.ts";
import { errorBody, errorResponse } from "./errors.ts";

/**
 * A JSON-lines answer whose status waits for the first line, as dockerd's: work that fails at once is an HTTP
 * error, later failures an `errorDetail` line. `run` gets a `send` for lines and a signal that fires if the client
 * goes away; what it returns is passed to `finish` for the closing lines.
 * @example
 * return progressResponse(async (send) => { send({ status: "working" }); return 1; }, (n, send) => send({ done: n }));
 */
export async function progressResponse<T>(
  run: (send: (line: Record<string, unknown>) => void, signal: AbortSignal) => Promise<T>,
  finish: (result: T, send: (line: Record<string, unknown>) => void) => void,
  gone = "the client went away",
): Promise<Response> {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const abort = new AbortController();
  let open = true;
  const body = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    cancel: () => {
      open = false;
      abort.abort(new EngineError("unavailable", gone));
    },
  });
  const pending: Record<string, unknown>[] = [];
  let started = false;
  let markStarted!: () => void;
  const firstLine = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const send = (line: Record<string, unknown>) => {
    if (!started) {
      pending.push(line);
      markStarted();
      return;
    }
    if (open) controller.enqueue(encoder.encode(`${JSON.stringify(line)}\r\n`));
  };
  const outcome = run(send, abort.signal).then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  await Promise.race([firstLine, outcome]);
  if (pending.length === 0) {
    const settled = await outcome;
    if ("error" in settled) {
      const { status, body: error } = errorBody(settled.error);
      return errorResponse(status, error.message);
    }
  }
  started = true;
  for (const line of pending.splice(0)) send(line);
  void outcome.then((settled) => {
    if ("error" in settled) {
      const message = errorBody(settled.error).body.message;
      send({ errorDetail: { message }, error: message });
    } else {
      finish(settled.result, send);
    }
    if (open) controller.close();
    open = false;
  });
  return new Response(body, { headers: { "content-type": "application/json" } });
}
