import { describe, expect, it } from "vitest";
import { encodeFrame, FrameParser } from "../conventions/index.ts";
import { demultiplex } from "./frames.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe("docker's stdout/stderr frames", () => {
  it("parses frames split anywhere across chunks", () => {
    const wire = new Uint8Array([...encodeFrame("stdout", bytes("out\n")), ...encodeFrame("stderr", bytes("err\n"))]);
    const parser = new FrameParser();
    const frames = [
      ...parser.push(wire.slice(0, 3)),
      ...parser.push(wire.slice(3, 13)),
      ...parser.push(wire.slice(13)),
    ];
    expect(frames.map((frame) => [frame.stream, text(frame.payload)])).toEqual([
      ["stdout", "out\n"],
      ["stderr", "err\n"],
    ]);
    expect(parser.leftover).toBe(0);
  });

  it("demultiplexes a stream onto stdout and stderr", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encodeFrame("stdout", bytes("a")));
        controller.enqueue(encodeFrame("stderr", bytes("b")));
        controller.enqueue(encodeFrame("stdout", bytes("c")));
        controller.close();
      },
    });
    await demultiplex(body, {
      stdout: async (b) => void out.push(text(b)),
      stderr: async (b) => void err.push(text(b)),
    });
    expect(out.join("")).toBe("ac");
    expect(err.join("")).toBe("b");
  });

  it("refuses a header naming no stream", () => {
    expect(() => new FrameParser().push(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0]))).toThrow(
      "Unrecognized input header: 9",
    );
  });
});
