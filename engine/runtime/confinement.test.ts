import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import {
  CAPABILITIES,
  capabilityMask,
  containerCapabilities,
  DEFAULT_CAPABILITIES,
  DEFAULT_DEVICE_RULES,
  deviceProgram,
  parseSecurityOptions,
  runDeviceProgram,
} from "./confinement.ts";

describe("containerCapabilities: moby's TweakCapabilities", () => {
  const names = (caps: string[]) => caps.map((cap) => cap.replace(/^CAP_/, "").toLowerCase()).join(" ");
  it.each([
    [
      [],
      [],
      false,
      "chown dac_override fowner fsetid kill setgid setuid setpcap net_bind_service net_raw sys_chroot mknod audit_write setfcap",
    ],
    [
      ["net_admin"],
      ["CAP_CHOWN", "mknod"],
      false,
      "dac_override fowner fsetid kill setgid setuid setpcap net_bind_service net_admin net_raw sys_chroot audit_write setfcap",
    ],
    [["NET_ADMIN"], ["ALL"], false, "net_admin"],
    [["all"], ["sys_admin"], false, names(CAPABILITIES.filter((cap) => cap !== "CAP_SYS_ADMIN"))],
    [[], [], true, names([...CAPABILITIES])],
  ] as [string[], string[], boolean, string][])("add %o drop %o privileged %o", (add, drop, privileged, expected) => {
    expect(names(containerCapabilities(add, drop, privileged))).toBe(expected);
  });

  it("refuses a name it does not know, as dockerd does", () => {
    expect(() => containerCapabilities(["SYS_NOTHING"], [], false)).toThrow('unknown capability: "CAP_SYS_NOTHING"');
  });

  it("has Docker's default mask", () => {
    expect(capabilityMask(DEFAULT_CAPABILITIES).toString(16).padStart(16, "0")).toBe("00000000a80425fb");
  });
});

describe("deviceProgram: the cgroup device list as BPF", () => {
  const program = deviceProgram(DEFAULT_DEVICE_RULES);
  it.each([
    ["c", 1, 3, "rw", true, "/dev/null"],
    ["c", 1, 9, "r", true, "/dev/urandom"],
    ["c", 5, 2, "rw", true, "/dev/ptmx"],
    ["c", 136, 7, "rw", true, "a pty of the container"],
    ["c", 229, 0, "rw", false, "hvc0, a console of the guest"],
    ["c", 229, 0, "m", true, "mknod of hvc0 (any mknod is allowed; opening is not)"],
    ["c", 5, 1, "w", false, "the guest's console"],
    ["c", 4, 64, "r", false, "ttyS0"],
    ["b", 8, 0, "r", false, "a disk"],
    ["b", 8, 0, "m", true, "mknod of a disk"],
    ["c", 1, 1, "r", false, "/dev/mem"],
    ["c", 1, 3, "rwm", true, "/dev/null, all at once"],
  ] as ["c" | "b", number, number, string, boolean, string][])(
    "%s %d:%d %s → %s (%s)",
    (type, major, minor, access, allowed) => {
      expect(runDeviceProgram(program, type, major, minor, access)).toBe(allowed);
    },
  );

  it("has no unreachable instruction and no jump out of the program (the kernel's verifier refuses both)", () => {
    for (const rules of [
      DEFAULT_DEVICE_RULES,
      [{ allow: true, access: "rwm" }],
      [{ allow: true, type: "c", access: "r" }],
    ]) {
      const bytes = deviceProgram(rules as typeof DEFAULT_DEVICE_RULES);
      const view = new DataView(bytes.buffer);
      const count = bytes.length / 8;
      const seen = new Set<number>();
      const todo = [0];
      while (todo.length) {
        const pc = todo.pop()!;
        if (seen.has(pc)) continue;
        expect(pc).toBeLessThan(count);
        seen.add(pc);
        const code = view.getUint8(pc * 8);
        if (code === 0x95) continue;
        todo.push(pc + 1);
        if (code === 0x55 || code === 0x5d) todo.push(pc + 1 + view.getInt16(pc * 8 + 2, true));
      }
      expect(seen.size).toBe(count);
    }
  });

  it("lets a later rule override an earlier one, and an added --device with its own permissions", () => {
    const rules = [
      ...DEFAULT_DEVICE_RULES,
      { allow: true, type: "c", major: 4, minor: 65, access: "r" },
      { allow: false, type: "c", major: 1, minor: 3, access: "w" },
    ] as const;
    const added = deviceProgram(rules);
    expect(runDeviceProgram(added, "c", 4, 65, "r")).toBe(true);
    expect(runDeviceProgram(added, "c", 4, 65, "rw")).toBe(false);
    expect(runDeviceProgram(added, "c", 1, 3, "w")).toBe(false);
    expect(runDeviceProgram(added, "c", 1, 3, "r")).toBe(true);
  });
});

describe("parseSecurityOptions: dockerd's forms", () => {
  it.each([
    [["no-new-privileges"], { noNewPrivileges: true }],
    [["no-new-privileges=false"], { noNewPrivileges: false }],
    [["no-new-privileges:true"], { noNewPrivileges: true }],
    [["seccomp=unconfined", "apparmor=unconfined", "label=disable"], { seccomp: "unconfined" }],
    [["seccomp=builtin"], { seccomp: "builtin" }],
  ] as [string[], object][])("%o", (options, parsed) => {
    expect(parseSecurityOptions(options)).toEqual(parsed);
  });
  it.each([
    ["nonsense", 'invalid --security-opt 1: "nonsense"'],
    ["unknown=1", 'invalid --security-opt 2: "unknown=1"'],
    ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', "does not load custom seccomp profiles"],
    ["apparmor=docker-default", "the guest kernel has no AppArmor"],
  ])("refuses %s", (option, message) => {
    try {
      parseSecurityOptions([option]);
      expect.unreachable();
    } catch (error) {
      expect(isEngineError(error, "invalidArgument")).toBe(true);
      expect((error as Error).message).toContain(message);
    }
  });
});
