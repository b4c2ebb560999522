import { describe, expect, it } from "vitest";
import { parseIoStat, parseKeyedFile, parseProcStat } from "./task.ts";

describe("parseProcStat", () => {
  it("reads pid, ppid, state, times and the command line of a container's process", () => {
    const stat = "7 (sleep) S 1 7 1 34816 7 4194560 80 0 0 0 3 5 0 0 20 0 1 0 1234 1716224 51 4294967295";
    const info = parseProcStat(stat, "Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\n", "sleep\u0000600\u0000");
    expect(info).toEqual({
      pid: 7,
      ppid: 1,
      uid: 1000,
      state: "S",
      ttyNr: 34816,
      utime: 3,
      stime: 5,
      startTime: 1234,
      command: "sleep 600",
    });
  });

  it("keeps a command name with spaces and parentheses whole", () => {
    const info = parseProcStat("9 (a (b) c) R 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", "", "");
    expect(info?.pid).toBe(9);
    expect(info?.state).toBe("R");
    expect(info?.command).toBe("[a (b) c]");
  });

  it("drops the NUL padding the kernel leaves after an argv that was rewritten", () => {
    const info = parseProcStat("1 (init) S 0 1 1 0 -1 0 0 0 0 0 16 298 0 0 20 0 1 0 80 0 0", "", "init\0\0\0\0\0");
    expect(info?.command).toBe("init");
  });

  it("is undefined for a line that is not a stat line", () => {
    expect(parseProcStat("", "", "")).toBeUndefined();
  });
});

describe("parseKeyedFile", () => {
  it("reads cpu.stat", () => {
    expect(parseKeyedFile("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")).toEqual({
      usage_usec: 1500,
      user_usec: 1000,
      system_usec: 500,
    });
  });
});

describe("parseIoStat: a cgroup's io.stat", () => {
  it("reads each device's bytes and operations", () => {
    const devices = parseIoStat(
      "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=0 rios=1 wios=0\n",
    );
    expect(devices).toEqual([
      { major: 254, minor: 0, rbytes: 4096, wbytes: 8192, rios: 1, wios: 2 },
      { major: 8, minor: 16, rbytes: 1, wbytes: 0, rios: 1, wios: 0 },
    ]);
    expect(parseIoStat("")).toEqual([]);
  });
});
