import { describe, expect, it } from "vitest";
import { validateRunOptions } from "./options.ts";
import {
  afterEngineRestart,
  type ContainerRecord,
  decodeContainerRecords,
  encodeContainerRecords,
  LOST_TASK_EXIT_CODE,
} from "./records.ts";

const record: ContainerRecord = {
  id: "a".repeat(64),
  name: "web",
  image: "busybox",
  imageId: `sha256:${"b".repeat(64)}`,
  runtime: "drydock",
  options: validateRunOptions({ cmd: ["sleep", "9"], labels: { lesson: "12" } }),
  entrypoint: [],
  cmd: ["sleep", "9"],
  spec: { ociVersion: "1.0.2" } as ContainerRecord["spec"],
  mounts: [],
  status: "running",
  created: 1_700_000_000_000,
  labels: { lesson: "12" },
  exposedPorts: [],
  startedAt: 1_700_000_001_000,
  restartCount: 0,
  stoppedByUser: false,
};

describe("container records", () => {
  it("read back what was written", () => {
    expect(decodeContainerRecords(encodeContainerRecords([record]))).toEqual([record]);
    expect(decodeContainerRecords(undefined)).toEqual([]);
  });

  it("refuse a document Drydock does not know, naming the file and what to do", () => {
    const bad = [
      new TextEncoder().encode("{not json"),
      new TextEncoder().encode(JSON.stringify({ version: 2, containers: [] })),
      new TextEncoder().encode(JSON.stringify({ version: 1, containers: [{ id: "../etc" }] })),
    ];
    for (const bytes of bad) {
      expect(() => decodeContainerRecords(bytes)).toThrow(/containers\.json .* move the file aside/);
    }
  });

  it("turn a container that ran when the engine stopped into an exited one, and leave the others", () => {
    const after = afterEngineRestart(record, 1_800_000_000_000);
    expect(after.status).toBe("exited");
    expect(after.exit).toMatchObject({ code: LOST_TASK_EXIT_CODE, finishedAt: 1_800_000_000_000 });
    expect(afterEngineRestart({ ...record, status: "paused" }, 1).status).toBe("exited");
    const exited = { ...record, status: "exited" as const, exit: { code: 3, oomKilled: false, finishedAt: 5 } };
    expect(afterEngineRestart(exited, 9)).toBe(exited);
    expect(afterEngineRestart({ ...record, status: "created" }, 9).status).toBe("created");
  });
});
