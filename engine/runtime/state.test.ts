import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { type ContainerAction, type ContainerStatus, LogBuffer, requireTask, transition } from "./index.ts";

const ID = "3f2a9c0d1e2f3a4b5c6d7e8f";

describe("the container state machine", () => {
  const legal: [ContainerStatus, ContainerAction, ContainerStatus][] = [
    ["created", "start", "running"],
    ["exited", "start", "running"],
    ["running", "pause", "paused"],
    ["paused", "unpause", "running"],
    ["running", "exit", "exited"],
    ["paused", "exit", "exited"],
    ["created", "remove", "removed"],
    ["exited", "remove", "removed"],
  ];
  it.each(legal)("%s --%s--> %s", (from, action, to) => {
    expect(transition(from, action, ID)).toBe(to);
  });

  const illegal: [ContainerStatus, ContainerAction][] = [
    ["running", "start"],
    ["paused", "start"],
    ["removed", "start"],
    ["created", "pause"],
    ["paused", "pause"],
    ["running", "unpause"],
    ["running", "remove"],
    ["paused", "remove"],
    ["removed", "remove"],
  ];
  it.each(illegal)("%s cannot %s: a conflict naming the state", (from, action) => {
    try {
      transition(from, action, ID);
      expect.unreachable();
    } catch (error) {
      expect(isEngineError(error, "conflict")).toBe(true);
      expect((error as Error).message).toBe(`cannot ${action} container 3f2a9c0d1e2f: it is ${from}`);
    }
  });

  it("exec needs a running task, kill and stop a running or paused one", () => {
    expect(() => requireTask("running", "exec", ID)).not.toThrow();
    expect(() => requireTask("paused", "exec", ID)).toThrow(/cannot exec container 3f2a9c0d1e2f: it is paused/);
    expect(() => requireTask("paused", "kill", ID)).not.toThrow();
    expect(() => requireTask("exited", "stop", ID)).toThrow(/it is exited/);
  });
});

describe("LogBuffer", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const texts = async (stream: ReadableStream<{ data: Uint8Array }>) => {
    const out: string[] = [];
    for (const reader = stream.getReader(); ; ) {
      const { value, done } = await reader.read();
      if (done) return out;
      out.push(new TextDecoder().decode(value.data));
    }
  };

  it("keeps output with times, tails it, and follows until the task ends", async () => {
    let now = 1000;
    const logs = new LogBuffer(1024, () => now++);
    logs.append("stdout", bytes("a"));
    logs.append("stderr", bytes("b"));
    expect(await texts(logs.read())).toEqual(["a", "b"]);
    expect(await texts(logs.read({ tail: 1 }))).toEqual(["b"]);
    expect(await texts(logs.read({ since: 1001 }))).toEqual(["b"]);
    const following = texts(logs.read({ follow: true }));
    logs.append("stdout", bytes("c"));
    logs.close();
    expect(await following).toEqual(["a", "b", "c"]);
  });

  it("drops the oldest output beyond its limit", async () => {
    const logs = new LogBuffer(4);
    for (const text of ["ab", "cd", "ef"]) logs.append("stdout", bytes(text));
    expect(await texts(logs.read())).toEqual(["cd", "ef"]);
  });
});
