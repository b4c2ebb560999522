// Docker's stdout/stderr multiplexing (moby's pkg/stdcopy) on an attach, exec or logs stream without a tty: each frame
// is an 8-byte header [stream, 0, 0, 0, length as uint32 big-endian] and that many bytes of output. The daemon side
// (engine/api) writes frames and the client side (engine/cli) reads them: one codec for both.

export type FrameStream = "stdin" | "stdout" | "stderr" | "systemerr";

/** One frame's payload and the stream it belongs to. */
export interface Frame {
  stream: FrameStream;
  payload: Uint8Array;
}

const STREAMS: Record<number, FrameStream> = { 0: "stdin", 1: "stdout", 2: "stderr", 3: "systemerr" };
const CODES: Record<FrameStream, number> = { stdin: 0, stdout: 1, stderr: 2, systemerr: 3 };
const HEADER = 8;

/**
 * Cuts a byte stream into frames; a frame split across chunks waits for its missing bytes.
 * @example
 * const parser = new FrameParser();
 * parser.push(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 2, 104, 105])); // [{ stream: "stdout", payload: "hi" }]
 */
export class FrameParser {
  private pending = new Uint8Array(0);

  /** Adds bytes; returns the frames they complete. Throws on a header naming no known stream. */
  push(chunk: Uint8Array): Frame[] {
    const buffer = new Uint8Array(this.pending.length + chunk.length);
    buffer.set(this.pending);
    buffer.set(chunk, this.pending.length);
    const frames: Frame[] = [];
    let at = 0;
    while (buffer.length - at >= HEADER) {
      const type = buffer[at]!;
      const stream = STREAMS[type];
      if (!stream) throw new Error(`Unrecognized input header: ${type}`);
      const length = new DataView(buffer.buffer, buffer.byteOffset + at + 4, 4).getUint32(0);
      if (buffer.length - at - HEADER < length) break;
      frames.push({ stream, payload: buffer.slice(at + HEADER, at + HEADER + length) });
      at += HEADER + length;
    }
    this.pending = buffer.slice(at);
    return frames;
  }

  /** Bytes of a frame that never completed. */
  get leftover(): number {
    return this.pending.length;
  }
}

/**
 * Encodes one frame, as the daemon would send it.
 * @example
 * encodeFrame("stderr", new TextEncoder().encode("oops\n"));
 */
export function encodeFrame(stream: FrameStream, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER + payload.length);
  frame[0] = CODES[stream];
  new DataView(frame.buffer).setUint32(4, payload.length);
  frame.set(payload, HEADER);
  return frame;
}
