import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import type { ExecutionConfig } from "../oci/index.ts";
import {
  CAPABILITIES,
  capabilityMask,
  createRuntimeSpec,
  DEFAULT_CAPABILITIES,
  DEFAULT_DEVICE_RULES,
  DEFAULT_PATH,
  MASKED_PATHS,
  READONLY_PATHS,
  type RunOptions,
  validateRunOptions,
} from "./index.ts";

const ID = "3f2a9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d";
/** In kernel order, as the spec lists them. */
const DEFAULT_CAPS = CAPABILITIES.filter((cap) => DEFAULT_CAPABILITIES.includes(cap));
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
      "a default PATH and HOSTNAME (HOME comes from the user's passwd entry at start)",
      { Cmd: ["sh"] },
      {},
      { env: [DEFAULT_PATH, `HOSTNAME=${ID.slice(0, 12)}`] },
    ],
    [
      "the image's PATH and env, a given value wins",
      { Cmd: ["sh"], Env: ["PATH=/opt/bin", "A=1", "B=2"] },
      { env: ["B=3", "C=4"] },
      { env: ["HOSTNAME=3f2a9c0d1e2f", "PATH=/opt/bin", "A=1", "B=3", "C=4"] },
    ],
    [
      "TERM on a tty",
      { Cmd: ["sh"] },
      { tty: true },
      { terminal: true, env: [DEFAULT_PATH, "HOSTNAME=3f2a9c0d1e2f", "TERM=xterm"] },
    ],
    ["/ by default", { Cmd: ["sh"] }, {}, { cwd: "/" }],
    ["the image's WorkingDir", { Cmd: ["sh"], WorkingDir: "/srv" }, {}, { cwd: "/srv" }],
    ["--workdir wins", { Cmd: ["sh"], WorkingDir: "/srv" }, { workdir: "/tmp" }, { cwd: "/tmp" }],
    ["root by default", { Cmd: ["sh"] }, {}, { user: { uid: 0, gid: 0, username: "" } }],
    [
      "the image's User",
      { Cmd: ["sh"], User: "1000:100" },
      {},
      { user: { uid: 1000, gid: 100, username: "1000:100" } },
    ],
    [
      "--user wins",
      { Cmd: ["sh"], User: "1000:100" },
      { user: "65534" },
      { user: { uid: 65534, gid: 0, username: "65534" } },
    ],
    [
      "a name, resolved at start",
      { Cmd: ["sh"] },
      { user: "nobody:nogroup" },
      { user: { uid: 0, gid: 0, username: "nobody:nogroup" } },
    ],
    [
      "Docker's default capabilities, no_new_privs",
      { Cmd: ["sh"] },
      {},
      {
        capabilities: {
          bounding: [...DEFAULT_CAPS],
          effective: [...DEFAULT_CAPS],
          permitted: [...DEFAULT_CAPS],
          inheritable: [],
          ambient: [],
        },
        noNewPrivileges: true,
      },
    ],
    [
      "--security-opt no-new-privileges=false",
      { Cmd: ["sh"] },
      { securityOpt: ["no-new-privileges=false"] },
      { noNewPrivileges: false },
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
    expect(s.linux.namespaces.map((n) => n.type).sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "uts"]);
    expect(s.mounts.map((m) => m.destination)).toEqual([
      "/proc",
      "/dev",
      "/dev/pts",
      "/dev/shm",
      "/sys",
      "/sys/fs/cgroup",
      "/etc/hostname",
      "/etc/hosts",
      "/etc/resolv.conf",
    ]);
    expect(s.mounts.find((m) => m.destination === "/sys")?.options).toContain("ro");
    expect(s.mounts.find((m) => m.destination === "/sys/fs/cgroup")).toMatchObject({ type: "cgroup2" });
    expect(s.mounts.find((m) => m.destination === "/sys/fs/cgroup")?.options).toContain("ro");
    expect(s.linux.maskedPaths).toEqual(MASKED_PATHS);
    expect(s.linux.readonlyPaths).toEqual(READONLY_PATHS);
    expect(s.linux.seccomp).toEqual({ profile: "builtin" });
    expect(s.root.readonly).toBe(false);
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
    expect(s.linux.resources).toEqual({ devices: DEFAULT_DEVICE_RULES });
    expect(spec({ Cmd: ["sh"] }).hostname).toBe(ID.slice(0, 12));
  });

  it("runs without a seccomp filter with --security-opt seccomp=unconfined, and with the default one for builtin", () => {
    expect(spec({ Cmd: ["sh"] }, { securityOpt: ["seccomp=unconfined"] }).linux.seccomp).toBeUndefined();
    expect(spec({ Cmd: ["sh"] }, { securityOpt: ["seccomp=builtin"] }).linux.seccomp).toEqual({ profile: "builtin" });
    // The profile follows the capabilities (drydockd computes it from the bounding set): --cap-add keeps it.
    expect(spec({ Cmd: ["sh"] }, { capAdd: ["SYS_ADMIN"] }).linux.seccomp).toEqual({ profile: "builtin" });
  });

  it("gives the default set Docker's mask, 00000000a80425fb", () => {
    expect(capabilityMask(spec({ Cmd: ["sh"] }).process.capabilities!.effective).toString(16)).toBe("a80425fb");
  });

  it("lifts the confinement with --privileged: every capability, no device list, masks, read-only paths or seccomp", () => {
    const s = spec({ Cmd: ["sh"] }, { privileged: true });
    expect(s.process.capabilities?.bounding).toEqual([...CAPABILITIES]);
    expect(s.linux.seccomp).toBeUndefined();
    expect(s.linux.resources).toBeUndefined();
    expect(s.linux.maskedPaths).toBeUndefined();
    expect(s.linux.readonlyPaths).toBeUndefined();
    expect(s.mounts.find((m) => m.destination === "/sys")?.options).not.toContain("ro");
    expect(s.mounts.find((m) => m.destination === "/sys/fs/cgroup")?.options).not.toContain("ro");
  });

  it("adds a --device to the device list with its permissions, and --read-only", () => {
    const s = createRuntimeSpec(
      { Cmd: ["sh"] },
      validateRunOptions({
        devices: [{ pathOnHost: "/dev/ttyS1", pathInContainer: "/dev/serial", cgroupPermissions: "r" }],
        readonlyRootfs: true,
      }),
      ID,
      [{ type: "c", path: "/dev/serial", major: 4, minor: 65, fileMode: 0o620 }],
    );
    expect(s.linux.devices?.at(-1)).toEqual({
      type: "c",
      path: "/dev/serial",
      major: 4,
      minor: 65,
      fileMode: 0o620,
      uid: 0,
      gid: 0,
    });
    expect(s.linux.resources?.devices?.at(-1)).toEqual({ allow: true, type: "c", major: 4, minor: 65, access: "r" });
    expect(s.root.readonly).toBe(true);
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
    expect(spec({ Cmd: ["sh"] }, options).linux.resources).toEqual({
      ...(resources ?? {}),
      devices: DEFAULT_DEVICE_RULES,
    });
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
    [{ user: "no body" }, /invalid user/],
    [{ user: "a:b:c" }, /invalid user/],
    [{ capAdd: ["SYS_NOTHING"] }, /unknown capability: "CAP_SYS_NOTHING"/],
    [{ securityOpt: ["no-new-privileges=maybe"] }, /invalid --security-opt 2/],
    [{ securityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ERRNO"}'] }, /custom seccomp profiles/],
    [{ devices: [{ pathOnHost: "/dev/null", pathInContainer: "", cgroupPermissions: "rx" }] }, /invalid device mode/],
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
