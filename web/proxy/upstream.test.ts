// streamWhileFilling: one pass over an upstream body feeding both the client and a cache fill.
import { describe, expect, it } from "vitest";
import {
  type ConnectTarget,
  FillAbandoned,
  fetchUpstream,
  type HostPolicy,
  streamWhileFilling,
  UpstreamError,
} from "./upstream.ts";

/**
 * A body of `count` chunks of `size` bytes (chunk i filled with i), recording whether it was cancelled; `slow` makes
 * each chunk take a timer tick, as from a network.
 */
function source(count: number, size = 4, slow = false) {
  let sent = 0;
  const state = { cancelled: false, pulled: 0 };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      state.pulled++;
      if (slow) await new Promise((r) => setTimeout(r, 1));
      if (sent === count) controller.close();
      else controller.enqueue(new Uint8Array(size).fill(sent++));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { body, state };
}

const concat = (chunks: readonly Uint8Array[]) => new Uint8Array(chunks.flatMap((c) => [...c]));

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe("streamWhileFilling", () => {
  it("gives the client and the fill every byte, in order, and ends once", async () => {
    const { body } = source(5);
    const written: Uint8Array[] = [];
    let ends = 0;
    const { client, filled } = streamWhileFilling(body, {
      maxBytes: 1000,
      onEnd: () => ends++,
      write: async (chunk) => {
        written.push(chunk);
      },
    });
    const received = await readAll(client);
    await filled;
    expect(received).toEqual(concat(written));
    expect(received.length).toBe(20);
    expect([...received.subarray(16)]).toEqual([4, 4, 4, 4]);
    expect(ends).toBe(1);
  });

  it("does not hold the client up for slow writes until they fall behind by the bound", async () => {
    const { body } = source(10);
    const releases: Array<() => void> = [];
    const write = () => new Promise<void>((resolve) => releases.push(resolve));
    const unbounded = streamWhileFilling(body, { maxBytes: 1000, onEnd: () => {}, write, windowBytes: 1000 });
    expect((await readAll(unbounded.client)).length).toBe(40);
    let settled = false;
    void unbounded.filled.then(() => {
      settled = true;
    });
    // The writes run one at a time: release them as they start.
    while (!settled) {
      releases.shift()?.();
      await new Promise((r) => setTimeout(r, 0));
    }

    const slow = source(10);
    const held: Array<() => void> = [];
    const bounded = streamWhileFilling(slow.body, {
      maxBytes: 1000,
      onEnd: () => {},
      write: () => new Promise<void>((resolve) => held.push(resolve)),
      windowBytes: 8,
    });
    await new Promise((r) => setTimeout(r, 10));
    // Reading stopped once more than 8 bytes waited on the first write.
    expect(slow.state.pulled).toBeLessThan(6);
    const reading = readAll(bounded.client);
    while (held.length > 0 || slow.state.pulled <= 10) {
      held.shift()?.();
      await new Promise((r) => setTimeout(r, 0));
    }
    expect((await reading).length).toBe(40);
    await bounded.filled;
  });

  it("keeps filling after the client goes away when the fill is worth finishing, and stops the upstream when not", async () => {
    for (const finish of [true, false]) {
      const { body, state } = source(6);
      const written: Uint8Array[] = [];
      const { client, filled } = streamWhileFilling(body, {
        maxBytes: 1000,
        onEnd: () => {},
        write: async (chunk) => {
          written.push(chunk);
        },
        windowBytes: 4,
        finishWithoutClient: (seen) => finish && 24 - seen <= 20,
      });
      const reader = client.getReader();
      await reader.read();
      await reader.cancel();
      if (finish) {
        await filled;
        expect(concat(written).length).toBe(24);
        expect(state.cancelled).toBe(false);
      } else {
        await expect(filled).rejects.toBeInstanceOf(FillAbandoned);
        expect(state.cancelled).toBe(true);
        expect(state.pulled).toBeLessThan(4);
      }
    }
  });

  it("reads no further ahead of a client that does not read than its window", async () => {
    const { body, state } = source(1000, 1024);
    let written = 0;
    const { client, filled } = streamWhileFilling(body, {
      maxBytes: 1e9,
      onEnd: () => {},
      write: async (chunk) => {
        written += chunk.byteLength;
      },
      windowBytes: 16 * 1024,
    });
    for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 0));
    // A window's worth plus the chunk that filled it, and the source's own one-chunk queue.
    expect(state.pulled * 1024).toBeLessThanOrEqual(16 * 1024 + 2 * 1024);
    expect(written).toBeLessThanOrEqual(17 * 1024);
    const reader = client.getReader();
    for (let i = 0; i < 8; i++) await reader.read();
    for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 0));
    // Reading 8 KiB let 8 KiB more in, no more.
    expect(state.pulled * 1024).toBeLessThanOrEqual(24 * 1024 + 2 * 1024);
    await reader.cancel();
    await expect(filled).rejects.toBeInstanceOf(FillAbandoned);
    expect(state.cancelled).toBe(true);
  });

  it("still serves the client when a write fails, and reports the failure", async () => {
    const { body } = source(6);
    const failure = new Error("disk full");
    let writes = 0;
    const { client, filled } = streamWhileFilling(body, {
      maxBytes: 1000,
      onEnd: () => {},
      write: async () => {
        if (++writes === 2) throw failure;
      },
    });
    expect((await readAll(client)).length).toBe(24);
    await expect(filled).rejects.toBe(failure);
    expect(writes).toBe(2);
  });

  it("cancels the body once the client is gone and the fill has failed", async () => {
    const { body, state } = source(1000, 4, true);
    const { client, filled } = streamWhileFilling(body, {
      maxBytes: 1_000_000,
      onEnd: () => {},
      write: async () => {
        throw new Error("no space");
      },
      finishWithoutClient: () => true,
    });
    const reader = client.getReader();
    await reader.read();
    await reader.cancel();
    await expect(filled).rejects.toThrow("no space");
    expect(state.cancelled).toBe(true);
    expect(state.pulled).toBeLessThan(1000);
  });

  it("fails both sides when the body is larger than allowed", async () => {
    const { body, state } = source(10);
    let ends = 0;
    const { client, filled } = streamWhileFilling(body, { maxBytes: 15, onEnd: () => ends++, write: async () => {} });
    await expect(readAll(client)).rejects.toBeInstanceOf(UpstreamError);
    await expect(filled).rejects.toThrow(/exceeds 15 bytes/);
    expect(state.cancelled).toBe(true);
    expect(ends).toBe(1);
  });

  it("passes an upstream failure on to the client and the fill", async () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 2) controller.enqueue(new Uint8Array(4));
        else controller.error(new Error("connection reset"));
      },
    });
    const { client, filled } = streamWhileFilling(body, { maxBytes: 1000, onEnd: () => {}, write: async () => {} });
    await expect(readAll(client)).rejects.toThrow("connection reset");
    await expect(filled).rejects.toThrow("connection reset");
  });
});

describe("fetchUpstream", () => {
  it("connects to the address it checked, so a name that rebinds to a private address between lookups cannot steer it", async () => {
    // A resolver that answers a public address first and a private one afterwards (DNS rebinding).
    const answers = [["93.184.216.34"], ["10.0.0.7"]];
    let lookups = 0;
    const policy: HostPolicy = {
      configuredHosts: new Set(),
      privateHosts: new Set(),
      resolve: async () => answers[Math.min(lookups++, 1)]!,
    };
    const targets: Array<ConnectTarget | undefined> = [];
    // No traffic: the fake fetch records where it was told to connect.
    const fetchFn = async (_request: Request, target?: ConnectTarget) => {
      targets.push(target);
      return new Response("ok");
    };
    const signal = new AbortController().signal;
    const request = { method: "GET" as const, url: new URL("https://rebind.test/v2/"), headers: new Headers(), signal };
    await fetchUpstream(request, policy, fetchFn, 0);
    expect(lookups).toBe(1);
    expect(targets).toEqual([{ address: "93.184.216.34" }]);
    // The next request looks the name up again, sees the private address, and is refused before any connection.
    await expect(fetchUpstream(request, policy, fetchFn, 0)).rejects.toThrow(/resolves to private 10\.0\.0\.7/);
    expect(targets).toHaveLength(1);
  });
});
