import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { detachKeysParam, pumpStdin } from "./streams.ts";

/** What a client types, one keystroke per chunk, then (unless `open`) the end of its input. */
function typed(keystrokes: number[][], open = false) {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start: (controller) => {
      for (const keys of keystrokes) controller.enqueue(new Uint8Array(keys));
      if (!open) controller.close();
    },
    cancel: () => {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

async function pump(keystrokes: number[][], keys?: Uint8Array, open = false) {
  const written: number[] = [];
  const seen = { ended: false, detached: false };
  const input = typed(keystrokes, open);
  await pumpStdin(
    input.stream,
    async (bytes) => void written.push(...bytes),
    () => {
      seen.ended = true;
    },
    new Promise(() => {}),
    keys
      ? {
          keys,
          onDetach: () => {
            seen.detached = true;
          },
        }
      : undefined,
  );
  return { written, ...seen, cancelled: input.cancelled() };
}

describe("pumpStdin: the daemon's side of the detach keys", () => {
  it("Ctrl-P Ctrl-Q typed by the client detaches: never written, the process keeps its stdin, the input is let go", async () => {
    const result = await pump([[108], [115], [13], [16], [17], [101]], detachKeysParam(undefined), true);
    expect(result).toEqual({ written: [108, 115, 13], ended: false, detached: true, cancelled: true });
  });

  it("a Ctrl-P not followed by Ctrl-Q reaches the process unchanged", async () => {
    const result = await pump([[16], [97], [17]], detachKeysParam(""));
    expect(result).toEqual({ written: [16, 97, 17], ended: true, detached: false, cancelled: false });
  });

  it("the keys a client names with detachKeys replace the default", async () => {
    const custom = await pump([[16], [17], [24], [120]], detachKeysParam("ctrl-x,x"), true);
    expect(custom.written).toEqual([16, 17]);
    expect(custom.detached).toBe(true);
  });

  it("without a terminal session nothing is looked for: the input goes through and its end ends stdin", async () => {
    const result = await pump([[16], [17]]);
    expect(result).toEqual({ written: [16, 17], ended: true, detached: false, cancelled: false });
  });

  it("refuses detach keys it cannot read, as dockerd does", () => {
    try {
      detachKeysParam("ctrl-pp");
      expect.unreachable();
    } catch (error) {
      expect(isEngineError(error, "invalidArgument")).toBe(true);
      expect((error as Error).message).toBe("Invalid detach keys (ctrl-pp) provided");
    }
  });
});
