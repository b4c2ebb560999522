import { describe, expect, it } from "vitest";
import { EngineError } from "../errors.ts";
import { createRuntimeSpec } from "./create-spec.ts";
import { validateRunOptions } from "./options.ts";
import { type RuntimeAgent, TaskRunner } from "./task.ts";

const ID = "c".repeat(64);
const CGROUP = `/sys/fs/cgroup/drydock/${ID}`;
const ROOT = `/run/drydock/containers/${ID}/rootfs`;

/** A guest whose requests are answered only when the test says so, to see which ones go out together. */
function setup(options: { memoryEvents?: string; busyRmdirs?: number } = {}) {
  const sent: string[] = [];
  const waiting: (() => void)[] = [];
  let busy = options.busyRmdirs ?? 0;
  const request = <T>(line: string, answer: () => T): Promise<T> => {
    sent.push(line);
    return new Promise<T>((resolve, reject) => {
      waiting.push(() => {
        try {
          resolve(answer());
        } catch (error) {
          reject(error);
        }
      });
    });
  };
  const unexpected = () => Promise.reject(new Error("unexpected request"));
  const agent: RuntimeAgent = {
    spawn: unexpected,
    run: unexpected,
    mkdir: unexpected,
    mount: unexpected,
    resolve: unexpected,
    readdir: unexpected,
    readFile: (path) =>
      request(`read ${path}`, () => new TextEncoder().encode(options.memoryEvents ?? "oom 0\noom_kill 0\n")),
    writeFile: (path, data) => request(`write ${path} ${String(data)}`, () => undefined),
    remove: (path) =>
      request(`rm ${path}`, () => {
        if (busy-- > 0) throw new EngineError("conflict", `remove ${path}: Device or resource busy`);
      }),
    umount: (target, flags) => request(`umount ${target} ${flags}`, () => undefined),
    stat: unexpected,
    attachDeviceFilter: unexpected,
    xattrTree: unexpected,
    setXattrs: unexpected,
  };
  /** Answers every request sent so far, and lets the runner send what follows. */
  const answer = async () => {
    for (const reply of waiting.splice(0)) reply();
    await new Promise((resolve) => setTimeout(resolve, 15));
  };
  const spec = createRuntimeSpec({ Cmd: ["true"] }, validateRunOptions({}), ID);
  return { runner: new TaskRunner(agent), spec, sent, answer };
}

describe("TaskRunner.finish", () => {
  it("reads memory.events with the cgroup.kill, then removes the cgroup and detaches the root in one round trip", async () => {
    const { runner, spec, sent, answer } = setup();
    const finished = runner.finish(ID, spec);
    await Promise.resolve();
    expect(sent).toEqual([`read ${CGROUP}/memory.events`, `write ${CGROUP}/cgroup.kill 1`]);
    await answer();
    expect(sent.slice(2)).toEqual([`rm ${CGROUP}`, `umount ${ROOT} 2`]);
    const { oomKilled, cleanedUp } = await finished;
    expect(oomKilled).toBe(false);
    await answer();
    await cleanedUp;
  });

  it("reports an OOM kill and retries the rmdir while the cgroup is still busy", async () => {
    const { runner, spec, sent, answer } = setup({ memoryEvents: "oom 1\noom_kill 1\n", busyRmdirs: 1 });
    const finished = runner.finish(ID, spec);
    await answer();
    await answer();
    await answer();
    const { oomKilled, cleanedUp } = await finished;
    await cleanedUp;
    expect(oomKilled).toBe(true);
    expect(sent.filter((line) => line === `rm ${CGROUP}`)).toHaveLength(2);
  });
});
