import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import type { ExecutionConfig } from "../oci/index.ts";
import { createRuntimeSpec, DEFAULT_PATH, type RunOptions, validateRunOptions } from "./index.ts";

const ID = "3f2a9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d";
const spec = (image: ExecutionConfig, options: RunOptions = {}) =>
  createRuntimeSpec(image, validateRunOptions(options), ID);

describe("createRuntimeSpec: the command", () => {
  const cases: [string, ExecutionConfig, RunOptions, string[]][] = [
    ["the image's Cmd", { Cmd: ["sh"] }, {}, ["sh"]],
    ["a given cmd replaces Cmd", { Cmd: ["sh"] }, { cmd: ["echo", "hi"] }, ["echo", "hi"]],
    ["Entrypoint then Cmd", { Entrypoint: ["/init"], Cmd: ["--serve"] }, {}, ["/init", "--serve"]],
    ["Entrypoint then the given cmd", { Entrypoint: ["/init"], Cmd: ["--serve"] }, { cmd: ["-v"] }, ["/init", "-v"]],
    ["a new entrypoint drops Cmd", { Entrypoint: ["/init"], Cmd: ["--serve"] }, { entrypoint: ["top"] }, ["top"]],
    ["a new entrypoint with cmd", { Cmd: ["sh"] }, { entrypoint: ["ls"], cmd: ["/"] }, ["ls", "/"]],
  ];
  it.each(cases)("%s", (_, image, options, args) => {
    expect(spec(image, options).process.args).toEqual(args);
  });

  it("refuses an image without a command when none is given", () => {
    expect(() => spec({})).toThrow(/no command/);
  });
});

describe("createRuntimeSpec: environment, directory, user, terminal", () => {
  const cases: [string, ExecutionConfig, RunOptions, Partial<ReturnType<typeof spec>["process"]>][] = [
    [
      "a default PATH, HOSTNAME and HOME",
      { Cmd: ["sh"] },
      {},
      { env: [DEFAULT_PATH, `HOSTNAME=${ID.slice(0, 12)}`, "HOME=/root"] },
    ],
    [
      "the image's PATH and env, a given value wins",
      { Cmd: ["sh"], Env: ["PATH=/opt/bin", "A=1", "B=2"] },
      { env: ["B=3", "C=4"] },
      { env: ["HOSTNAME=3f2a9c0d1e2f", "PATH=/opt/bin", "A=1", "B=3", "HOME=/root", "C=4"] },
    ],
    [
      "TERM on a tty",
      { Cmd: ["sh"] },
      { tty: true },
      { terminal: true, env: [DEFAULT_PATH, "HOSTNAME=3f2a9c0d1e2f", "TERM=xterm", "HOME=/root"] },
    ],
    ["/ by default", { Cmd: ["sh"] }, {}, { cwd: "/" }],
    ["the image's WorkingDir", { Cmd: ["sh"], WorkingDir: "/srv" }, {}, { cwd: "/srv" }],
    ["--workdir wins", { Cmd: ["sh"], WorkingDir: "/srv" }, { workdir: "/tmp" }, { cwd: "/tmp" }],
    ["root by default", { Cmd: ["sh"] }, {}, { user: { uid: 0, gid: 0 } }],
    ["the image's User", { Cmd: ["sh"], User: "1000:100" }, {}, { user: { uid: 1000, gid: 100 } }],
    [
      "--user wins, gid 0 as Docker",
      { Cmd: ["sh"], User: "1000:100" },
      { user: "65534" },
      { user: { uid: 65534, gid: 0 } },
    ],
  ];
  it.each(cases)("%s", (_, image, options, process) => {
    expect(spec(image, options).process).toMatchObject(process);
  });
});

describe("createRuntimeSpec: isolation and limits", () => {
  it("gives every container its namespaces, mounts, devices and cgroup", () => {
    const s = spec({ Cmd: ["sh"] }, { hostname: "box" });
    expect(s.hostname).toBe("box");
    expect(s.linux.namespaces.map((n) => n.type).sort()).toEqual(["ipc", "mount", "network", "pid", "uts"]);
    expect(s.mounts.map((m) => m.destination)).toEqual([
      "/proc",
      "/dev",
      "/dev/pts",
      "/dev/shm",
      "/sys",
      "/etc/hostname",
      "/etc/hosts",
      "/etc/resolv.conf",
    ]);
    expect(s.mounts.find((m) => m.destination === "/sys")?.options).toContain("ro");
    expect(s.mounts.find((m) => m.destination === "/dev/pts")?.options).toContain("newinstance");
    expect(s.linux.devices?.map((d) => d.path)).toEqual([
      "/dev/null",
      "/dev/zero",
      "/dev/full",
      "/dev/random",
      "/dev/urandom",
      "/dev/tty",
    ]);
    expect(s.linux.cgroupsPath).toBe(`/drydock/${ID}`);
    expect(s.linux.resources).toBeUndefined();
    expect(spec({ Cmd: ["sh"] }).hostname).toBe(ID.slice(0, 12));
  });

  const limits: [RunOptions, unknown][] = [
    [{ memory: "32m" }, { memory: { limit: 33554432 } }],
    [{ memory: 67108864 }, { memory: { limit: 67108864 } }],
    [{ memory: "1g" }, { memory: { limit: 1073741824 } }],
    [{ cpus: 0.2 }, { cpu: { quota: 20000, period: 100000 } }],
    [{ cpus: "0.5" }, { cpu: { quota: 50000, period: 100000 } }],
    [{ pidsLimit: 10 }, { pids: { limit: 10 } }],
    [{ pidsLimit: -1 }, undefined],
  ];
  it.each(limits)("limits %o", (options, resources) => {
    expect(spec({ Cmd: ["sh"] }, options).linux.resources).toEqual(resources);
  });
});

describe("validateRunOptions refuses bad values as invalidArgument, naming the flag", () => {
  const bad: [RunOptions, RegExp][] = [
    [{ memory: "lots" }, /--memory/],
    [{ memory: "1m" }, /minimum is 6m/],
    [{ memory: -5 }, /--memory/],
    [{ cpus: 0 }, /--cpus/],
    [{ cpus: "two" }, /--cpus/],
    [{ cpus: 4 }, /range is 0.01 to 1/],
    [{ pidsLimit: 1.5 }, /--pids-limit/],
    [{ pidsLimit: -2 }, /--pids-limit/],
    [{ env: ["NOEQUALS"] }, /NAME=value/],
    [{ workdir: "relative" }, /absolute/],
    [{ user: "nobody" }, /user names/],
    [{ hostname: "-bad-" }, /hostname/],
    [{ name: "/x" }, /name/],
    [{ stopTimeout: -1 }, /stop-timeout/],
  ];
  it.each(bad)("%o", (options, message) => {
    try {
      validateRunOptions(options);
      expect.unreachable();
    } catch (error) {
      expect(isEngineError(error, "invalidArgument")).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
});
