import { describe, expect, it } from "vitest";
import { encodeFrame, FrameParser } from "./stdcopy.ts";

describe("stdcopy frames", () => {
  it("frames stdout and stderr and parses them back, keeping a partial frame for later", () => {
    const bytes = new Uint8Array([
      ...encodeFrame("stdout", new TextEncoder().encode("hi\n")),
      ...encodeFrame("stderr", new TextEncoder().encode("oops")),
    ]);
    expect([...bytes.subarray(0, 8)]).toEqual([1, 0, 0, 0, 0, 0, 0, 3]);
    const parser = new FrameParser();
    const frames = parser.push(bytes.subarray(0, bytes.length - 2));
    expect(frames.map((f) => [f.stream, new TextDecoder().decode(f.payload)])).toEqual([["stdout", "hi\n"]]);
    expect(parser.leftover).toBe(10);
    expect(parser.push(bytes.subarray(bytes.length - 2)).map((f) => f.stream)).toEqual(["stderr"]);
    expect(parser.leftover).toBe(0);
  });

  it("refuses a header that names no stream, as docker's stdcopy does", () => {
    expect(() => new FrameParser().push(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 1, 65]))).toThrow(
      "Unrecognized input header: 9",
    );
  });
});
