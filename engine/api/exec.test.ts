// The exec routes over a fake container service: what a client of `docker exec` sees of the process's output.
import { describe, expect, it } from "vitest";
import type { GuestProcess } from "../agent/index.ts";
import type { ContainerService } from "../container-service.ts";
import { ImageService } from "../image-service.ts";
import { createApiApp } from "./app.ts";

const CHUNK = 64 * 1024;

/** A container whose exec'd process writes to stdout as fast as it is read (`yes`), counting what was taken. */
function chattyContainers() {
  const state = { pulled: 0, ended: false };
  const process = {
    stdout: new ReadableStream<Uint8Array>(
      {
        // As from the guest: a chunk per tick, and an end once the test is over (an exec nobody reads is drained).
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          if (state.ended) return controller.close();
          state.pulled += CHUNK;
          controller.enqueue(new Uint8Array(CHUNK).fill(121));
        },
      },
      { highWaterMark: 0 },
    ),
    stderr: new ReadableStream<Uint8Array>(),
    stdin: new WritableStream<Uint8Array>(),
    exit: new Promise<{ code: number }>(() => {}),
  } as unknown as GuestProcess;
  const containers = {
    inspect: async () => ({ id: "c0ffee", status: "running", runtime: "drydock" }),
    list: () => [{ id: "c0ffee" }],
    event: () => {},
    exec: async () => process,
  } as unknown as ContainerService;
  return { containers, state };
}

describe("exec output", () => {
  it("waits for a client that does not read: the process is read no further than a window ahead", async () => {
    const { containers, state } = chattyContainers();
    const app = createApiApp({ images: await ImageService.open(), containers });
    const post = (path: string, body: unknown) =>
      app.fetch(
        new Request(`http://docker${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
      );
    const created = await post("/containers/c0ffee/exec", { Cmd: ["yes"], AttachStdout: true });
    const { Id } = (await created.json()) as { Id: string };
    const started = await post(`/exec/${Id}/start`, { Detach: false, Tty: false });
    expect(started.status).toBe(200);
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setTimeout(resolve, 1));
    // 256 KiB may wait unread, plus the chunk that filled the window: not the endless output of `yes`.
    expect(state.pulled).toBeLessThanOrEqual(256 * 1024 + 2 * CHUNK);
    const reader = started.body!.getReader();
    let read = 0;
    while (read < 1024 * 1024) read += (await reader.read()).value!.length;
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setTimeout(resolve, 1));
    // Reading a MiB let about a MiB more through, no more.
    expect(state.pulled).toBeLessThanOrEqual(read + 256 * 1024 + 3 * CHUNK);
    await reader.cancel();
    state.ended = true;
  });
});
