// The message codec: sizes filled in, buffers that grow, u64 values beyond 32 bits, and short messages refused.
import { describe, expect, it } from "vitest";
import { MalformedMessage, MessageReader, MessageWriter, readHeader } from "./wire.ts";

describe("messages on the wire", () => {
  it("round-trips every field type and fills in the size, growing past the first guess", () => {
    const name = "ünïcödé/ßπ";
    const message = new MessageWriter(110, 0x1234, 8)
      .u8(0xfe)
      .u16(0xbeef)
      .u32(0xdeadbeef)
      .u64(2 ** 40 + 7)
      .string(name)
      .qid({ type: 0x80, version: 3, path: 2 ** 33 + 1 })
      .bytes(new Uint8Array(5000).fill(7))
      .finish();
    expect(readHeader(message)).toEqual({ size: message.byteLength, type: 110, tag: 0x1234 });
    const r = new MessageReader(message);
    expect([r.u8(), r.u16(), r.u32(), r.u64(), r.string()]).toEqual([0xfe, 0xbeef, 0xdeadbeef, 2 ** 40 + 7, name]);
    expect(r.qid()).toEqual({ type: 0x80, version: 3, path: 2 ** 33 + 1 });
    expect(r.bytes(5000).every((byte) => byte === 7)).toBe(true);
    expect(r.remaining).toBe(0);
  });

  it("refuses to read past the end of a message", () => {
    const message = new MessageWriter(110, 1).u16(10).bytes(new Uint8Array(3)).finish();
    const r = new MessageReader(message);
    expect(() => r.string()).toThrow(MalformedMessage);
    expect(readHeader(message.subarray(0, 6))).toBeUndefined();
  });
});
