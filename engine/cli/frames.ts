// Reading Docker's multiplexed attach, exec and logs streams into the CLI's stdout and stderr; the frame codec itself
// is engine/conventions' (stdcopy.ts), shared with the daemon side.
import { FrameParser } from "../conventions/index.ts";

/** Where demultiplexed output goes. */
export interface FrameSinks {
  stdout(bytes: Uint8Array): Promise<void>;
  stderr(bytes: Uint8Array): Promise<void>;
}

/**
 * Reads a multiplexed stream to its end, writing each frame to its sink (stdin echoes go to stdout, as stdcopy does).
 * A systemerr frame (the daemon's own error) ends the copy with that error. Stopping early for any reason (a sink
 * failing, an error, a signal) cancels `body`, so the daemon stops producing it.
 * @example
 * await demultiplex(response.body!, { stdout: (b) => out.write(b), stderr: (b) => err.write(b) });
 */
export async function demultiplex(body: ReadableStream<Uint8Array>, sinks: FrameSinks): Promise<void> {
  const parser = new FrameParser();
  const reader = body.getReader();
  let finished = false;
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      for (const frame of parser.push(next.value)) {
        if (frame.stream === "systemerr")
          throw new Error(`error from daemon in stream: ${new TextDecoder().decode(frame.payload)}`);
        await (frame.stream === "stderr" ? sinks.stderr(frame.payload) : sinks.stdout(frame.payload));
      }
    }
    finished = true;
  } finally {
    await settle(reader, finished);
  }
}

/**
 * Lets go of a stream read in a loop: released when it was read to its end, cancelled otherwise, since a stream
 * nobody reads any more (a follow, an attach) would otherwise be fed by its producer for as long as it lives.
 * @example
 * try { … finished = true; } finally { await settle(reader, finished); }
 */
export async function settle(reader: ReadableStreamDefaultReader<Uint8Array>, finished: boolean): Promise<void> {
  if (!finished) await reader.cancel().catch(() => {});
  reader.releaseLock();
}
