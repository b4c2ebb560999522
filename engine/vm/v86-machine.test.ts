import { describe, expect, it } from "vitest";
import { V86Machine } from "./v86-machine.ts";

describe("V86Machine.boot", () => {
  it("refuses a cold boot without a kernel, before starting the emulator", async () => {
    const artifacts = { bios: new Uint8Array(1), vgaBios: new Uint8Array(1) };
    await expect(V86Machine.boot({ artifacts, wasmPath: "unused.wasm" })).rejects.toMatchObject({
      kind: "invalidArgument",
      message: expect.stringMatching(/a cold boot needs the guest kernel/),
    });
  });
});
