// Docker's stream formats for attach, exec and logs: raw bytes when the process has a terminal, otherwise frames
// that say which stream each chunk came from (engine/conventions' stdcopy codec, which the CLI reads with).
import { DEFAULT_DETACH_KEYS, EscapeSequence, parseDetachKeys } from "../conventions/index.ts";
import { EngineError } from "../errors.ts";
import { HIJACK_BODY_LENGTH } from "../http/index.ts";
import { compareApiVersions } from "./version.ts";

/**
 * The Content-Type of an attach, exec or logs stream: dockerd says multiplexed-stream from API 1.42 when there is
 * no terminal, and raw-stream otherwise (older clients know only that one).
 * @example
 * streamContentType(false, "1.43"); // "application/vnd.docker.multiplexed-stream"
 */
export function streamContentType(tty: boolean, apiVersion: string): string {
  return !tty && compareApiVersions(apiVersion, "1.42") >= 0
    ? "application/vnd.docker.multiplexed-stream"
    : "application/vnd.docker.raw-stream";
}

/**
 * The answer of a hijacked request: an ordinary 200 whose body is the stream going back to the client; the HTTP
 * server turns it into `101 UPGRADED` when the client asked to upgrade.
 * @example
 * return hijacked(output, streamContentType(tty, version));
 */
export function hijacked(body: ReadableStream<Uint8Array>, contentType: string): Response {
  return new Response(body, { status: 200, headers: { "content-type": contentType } });
}

/**
 * The detach key sequence a client asked for (`detachKeys` of an attach, `DetachKeys` of an exec), in docker's
 * notation (`ctrl-p,ctrl-q`, the default when empty); refused as dockerd refuses it.
 * @example
 * detachKeysParam(c.req.query("detachKeys")); // Uint8Array [16, 17]
 */
export function detachKeysParam(value: string | undefined): Uint8Array {
  if (!value) return DEFAULT_DETACH_KEYS;
  try {
    return parseDetachKeys(value);
  } catch {
    throw new EngineError("invalidArgument", `Invalid detach keys (${value}) provided`);
  }
}

/**
 * Copies a hijacked request's body (what the client types) into `write` until the client half-closes or `stop`
 * settles, then calls `end` (which may close the process's stdin). Errors of a client that went away end it too.
 * With `detach` (a terminal session), the detach key sequence typed by the client is not written: it ends the copy
 * with `detach.onDetach` instead of `end`, as dockerd's escape proxy does, and the process keeps its stdin.
 * @example
 * void pumpStdin(c.req.raw.body, (bytes) => containers.writeStdin(id, bytes), () => containers.closeStdin(id), exited);
 */
export async function pumpStdin(
  body: ReadableStream<Uint8Array> | null,
  write: (bytes: Uint8Array) => Promise<void>,
  end: () => void,
  stop: Promise<unknown>,
  detach?: { keys: Uint8Array; onDetach: () => void },
): Promise<void> {
  if (!body) {
    end();
    return;
  }
  const reader = body.getReader();
  const sequence = detach ? new EscapeSequence(detach.keys) : undefined;
  let stopped = false;
  void stop.then(() => {
    stopped = true;
    reader.cancel().catch(() => {});
  });
  try {
    for (let next = await reader.read(); !next.done && !stopped; next = await reader.read()) {
      if (!sequence) {
        await write(next.value);
        continue;
      }
      const { forward, detached } = sequence.push(next.value);
      if (forward.length > 0) await write(forward);
      if (detached) {
        stopped = true;
        reader.cancel().catch(() => {});
        detach?.onDetach();
        return;
      }
    }
  } catch {
    // The client went away.
  } finally {
    if (!stopped) end();
  }
}

/**
 * A hijacked request's JSON (exec start sends `{"Detach":false,"Tty":false}` with a Content-Length, then stdin on the
 * same connection): the first Content-Length bytes of the body parsed as JSON, and the rest as the stdin stream.
 * @example
 * const { config, stdin } = await splitHijackedBody(c.req.raw);
 */
export async function splitHijackedBody(
  request: Request,
): Promise<{ config: Record<string, unknown>; stdin: ReadableStream<Uint8Array> | null }> {
  const length = Number(request.headers.get(HIJACK_BODY_LENGTH) ?? request.headers.get("content-length") ?? 0);
  const body = request.body;
  if (!body || !(length > 0)) return { config: {}, stdin: body };
  const reader = body.getReader();
  let buffered = new Uint8Array(0);
  while (buffered.length < length) {
    const next = await reader.read();
    if (next.done) break;
    const joined = new Uint8Array(buffered.length + next.value.length);
    joined.set(buffered);
    joined.set(next.value, buffered.length);
    buffered = joined;
  }
  const text = new TextDecoder().decode(buffered.subarray(0, length));
  let leftover: Uint8Array | undefined = buffered.length > length ? buffered.slice(length) : undefined;
  let config: unknown = {};
  try {
    config = text.trim() ? JSON.parse(text) : {};
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw new EngineError("invalidArgument", `the request body is not valid JSON: ${(error as Error).message}`);
  }
  const stdin = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (leftover) {
        controller.enqueue(leftover);
        leftover = undefined;
        return;
      }
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { config: (config ?? {}) as Record<string, unknown>, stdin };
}
