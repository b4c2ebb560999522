import { describe, expect, it } from "vitest";
import { LogBuffer, type LogEntry } from "./logs.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

async function texts(stream: ReadableStream<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for (const reader = stream.getReader(); ; ) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(`${value.stream}:${new TextDecoder().decode(value.data)}`);
  }
}

describe("LogBuffer live reads (attach)", () => {
  it("an attach before the first start sees that run's output and ends when it ends", async () => {
    const logs = new LogBuffer();
    const attached = texts(logs.read({ live: true }));
    logs.reopen();
    logs.append("stdout", bytes("hi\n"));
    logs.append("stderr", bytes("oops\n"));
    logs.close();
    expect(await attached).toEqual(["stdout:hi\n", "stderr:oops\n"]);
  });

  it("sees nothing kept from before it attached", async () => {
    const logs = new LogBuffer();
    logs.append("stdout", bytes("old\n"));
    const attached = texts(logs.read({ live: true }));
    logs.append("stdout", bytes("new\n"));
    logs.close();
    expect(await attached).toEqual(["stdout:new\n"]);
  });

  it("an attach to an exited container waits through the restart and ends with the next exit", async () => {
    const logs = new LogBuffer();
    logs.append("stdout", bytes("first run\n"));
    logs.close();
    const attached = texts(logs.read({ live: true }));
    logs.reopen();
    logs.append("stdout", bytes("second run\n"));
    logs.close();
    expect(await attached).toEqual(["stdout:second run\n"]);
  });

  it("follow still ends at once on a closed buffer and ignores restarts", async () => {
    const logs = new LogBuffer();
    logs.append("stdout", bytes("a\n"));
    logs.close();
    expect(await texts(logs.read({ follow: true }))).toEqual(["stdout:a\n"]);
  });
});

describe("LogBuffer followers under a slow reader", () => {
  it("hold no copy of the output: a follower that reads nothing while 10 MiB go by reads what the buffer kept", async () => {
    const logs = new LogBuffer(1024 * 1024);
    logs.append("stdout", bytes("first\n"));
    for (const options of [{ follow: true }, { live: true }]) {
      const reader = logs.read(options).getReader();
      const chunk = new Uint8Array(64 * 1024).fill(120);
      for (let i = 0; i < 160; i++) logs.append("stdout", chunk);
      logs.append("stdout", bytes("last\n"));
      logs.close();
      let received = 0;
      let sawLast = false;
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        received += next.value.data.length;
        sawLast = new TextDecoder().decode(next.value.data) === "last\n";
      }
      // What was dropped for everyone is skipped; what is left ends with the last line, then the run's end.
      expect(received).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);
      expect(received).toBeGreaterThan(512 * 1024);
      expect(sawLast).toBe(true);
      logs.reopen();
    }
  });
});

describe("LogBuffer: an attached client slows the writer instead of losing output", () => {
  const chunk = () => new Uint8Array(16 * 1024).fill(97);

  it("room() waits while an attached reader is a window behind, and a reader that catches up lets it go on", async () => {
    const logs = new LogBuffer(1024 * 1024, Date.now, 64 * 1024);
    const reader = logs.read({ live: true }).getReader();
    logs.reopen();
    for (let i = 0; i < 4; i++) logs.append("stdout", chunk());
    let roomy = false;
    const waiting = logs.room().then(() => {
      roomy = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(roomy).toBe(false);
    await reader.read();
    await waiting;
    expect(roomy).toBe(true);
    // A writer that waits for room loses nothing, however much goes by a slow reader.
    const total = 200;
    const writer = (async () => {
      for (let i = 0; i < total; i++) {
        logs.append("stdout", chunk());
        await logs.room();
      }
      logs.close();
    })();
    let received = 1;
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      received++;
      if (received % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await writer;
    expect(received).toBe(4 + total);
  });

  it("logs -f readers never hold the writer up, and an attach that goes away releases it", async () => {
    const logs = new LogBuffer(1024 * 1024, Date.now, 64 * 1024);
    const follower = logs.read({ follow: true }).getReader();
    for (let i = 0; i < 8; i++) logs.append("stdout", chunk());
    await logs.room();
    const attached = logs.read({ live: true });
    for (let i = 0; i < 8; i++) logs.append("stdout", chunk());
    let roomy = false;
    const waiting = logs.room().then(() => {
      roomy = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(roomy).toBe(false);
    await attached.cancel();
    await waiting;
    await follower.cancel();
  });
});
