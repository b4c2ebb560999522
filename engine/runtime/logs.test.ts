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
