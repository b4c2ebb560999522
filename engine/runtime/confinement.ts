// Docker's default confinement, as data: the capabilities a container keeps, the devices it may use (and the
// BPF_PROG_TYPE_CGROUP_DEVICE program that enforces that on cgroup v2, as runc loads one), the /proc and /sys paths
// it may not read or write, and the options users pass to change them (--cap-add, --cap-drop, --privileged,
// --security-opt, --device). Pure: the runtime spec carries the result and the task runner applies it.
import { EngineError } from "../errors.ts";

const invalid = (message: string) => new EngineError("invalidArgument", message);

/** Linux's capabilities, by number (include/uapi/linux/capability.h; 6.1 ends at CHECKPOINT_RESTORE, 40). */
export const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
] as const;

/** What Docker grants a container by default (moby's oci/caps): effective set 00000000a80425fb. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** `chown`, `CAP_CHOWN`, `cap_chown` → `CAP_CHOWN`; `all` → `ALL`. Docker's message for a name it does not know. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === "ALL") return "ALL";
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!(CAPABILITIES as readonly string[]).includes(full)) throw invalid(`unknown capability: "${full}"`);
  return full;
}

/**
 * The capabilities a container gets, as moby's TweakCapabilities computes them: everything with --privileged;
 * with ALL in --cap-add every capability but the dropped ones; with ALL in --cap-drop only the added ones;
 * otherwise the defaults less the dropped plus the added.
 * @example
 * containerCapabilities(["NET_ADMIN"], ["ALL"], false); // ["CAP_NET_ADMIN"]
 */
export function containerCapabilities(capAdd: readonly string[], capDrop: readonly string[], privileged: boolean) {
  if (privileged) return [...CAPABILITIES];
  const add = capAdd.map(normalizeCapability);
  const drop = capDrop.map(normalizeCapability);
  let caps: string[];
  if (add.includes("ALL")) caps = CAPABILITIES.filter((cap) => !drop.includes(cap));
  else if (drop.includes("ALL")) caps = add;
  else caps = [...DEFAULT_CAPABILITIES.filter((cap) => !drop.includes(cap)), ...add];
  return [...new Set(caps)].sort(
    (a, b) => CAPABILITIES.indexOf(a as (typeof CAPABILITIES)[number]) - CAPABILITIES.indexOf(b as never),
  );
}

/** A capability list as a bit mask (bit n = capability n), as /proc/PID/status shows CapEff. */
export function capabilityMask(caps: readonly string[]): bigint {
  let mask = 0n;
  for (const cap of caps) {
    const bit = CAPABILITIES.indexOf(cap as (typeof CAPABILITIES)[number]);
    if (bit >= 0) mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** runc's masked paths in Docker's default spec: unreadable in every container but a privileged one. */
export const MASKED_PATHS: readonly string[] = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Docker's read-only paths: a container's root may read them but not write. */
export const READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** One rule of a cgroup's device list (OCI's LinuxDeviceCgroup); a missing type, major or minor matches any. */
export interface DeviceRule {
  allow: boolean;
  type?: "a" | "c" | "b";
  major?: number;
  minor?: number;
  /** Any of r (read), w (write), m (mknod). */
  access: string;
}

/**
 * Docker's default device list: everything denied, then runc's allowed devices (any mknod; null, zero, full,
 * random, urandom, tty, ptmx, the container's own ptys, tun). One difference: runc also allows the console, c 5:1,
 * because it binds the container's pty there; in the guest an mknod'ed c 5:1 is the guest's own console (its serial
 * shell), so Drydock leaves it out.
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { allow: false, access: "rwm" },
  { allow: true, type: "c", access: "m" },
  { allow: true, type: "b", access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" },
  { allow: true, type: "c", major: 136, access: "rwm" },
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" },
];

/** A rule as cgroup v1's devices.allow wrote it: `c 1:3 rwm`, `a *:* rwm`. */
export function formatDeviceRule(rule: DeviceRule): string {
  const n = (value: number | undefined) => (value === undefined ? "*" : String(value));
  return `${rule.type ?? "a"} ${n(rule.major)}:${n(rule.minor)} ${rule.access}`;
}

// eBPF encoding (include/uapi/linux/bpf.h): 8 bytes an instruction, code | dst:4 src:4 | off:16 | imm:32.
const LDX_MEM_W = 0x61;
const ALU32_AND_K = 0x54;
const ALU32_RSH_K = 0x74;
const ALU32_MOV_K = 0xb4;
const ALU32_MOV_X = 0xbc;
const JNE_K = 0x55;
const JNE_X = 0x5d;
const EXIT = 0x95;
const ACCESS = { m: 1, r: 2, w: 4 } as const;
const DEVICE_TYPE = { b: 1, c: 2 } as const;

/**
 * The BPF_PROG_TYPE_CGROUP_DEVICE program for a device list, built as runc's devicefilter builds it: the context
 * (`struct bpf_cgroup_dev_ctx`: access_type = access << 16 | type, major, minor) is loaded into r2–r5, then the
 * rules are tried last to first (a later rule overrides an earlier one), the first that matches answers 1 (allow)
 * or 0 (deny), and nothing matched denies.
 * @example
 * await agent.attachDeviceFilter(cgroup, deviceProgram(DEFAULT_DEVICE_RULES));
 */
export function deviceProgram(rules: readonly DeviceRule[]): Uint8Array {
  const insns: [number, number, number, number, number][] = [];
  const emit = (code: number, dst: number, src: number, off: number, imm: number) =>
    insns.push([code, dst, src, off, imm]);
  emit(LDX_MEM_W, 2, 1, 0, 0); // r2 = access_type
  emit(ALU32_AND_K, 2, 0, 0, 0xffff); // r2 = type
  emit(LDX_MEM_W, 3, 1, 0, 0);
  emit(ALU32_RSH_K, 3, 0, 0, 16); // r3 = access
  emit(LDX_MEM_W, 4, 1, 4, 0); // r4 = major
  emit(LDX_MEM_W, 5, 1, 8, 0); // r5 = minor
  for (const rule of [...rules].reverse()) {
    // One block per rule; `next` marks the jumps to the next rule's block when a check fails.
    const block: { insn: [number, number, number, number, number]; next?: boolean }[] = [];
    if (rule.type && rule.type !== "a") block.push({ insn: [JNE_K, 2, 0, 0, DEVICE_TYPE[rule.type]], next: true });
    let mask = 0;
    for (const letter of rule.access) mask |= ACCESS[letter as keyof typeof ACCESS] ?? 0;
    if (mask !== 7) {
      // The access asked for must be within the rule's: (access & mask) == access.
      block.push({ insn: [ALU32_MOV_X, 1, 3, 0, 0] });
      block.push({ insn: [ALU32_AND_K, 1, 0, 0, mask] });
      block.push({ insn: [JNE_X, 1, 3, 0, 0], next: true });
    }
    if (rule.major !== undefined) block.push({ insn: [JNE_K, 4, 0, 0, rule.major], next: true });
    if (rule.minor !== undefined) block.push({ insn: [JNE_K, 5, 0, 0, rule.minor], next: true });
    block.push({ insn: [ALU32_MOV_K, 0, 0, 0, rule.allow ? 1 : 0] });
    block.push({ insn: [EXIT, 0, 0, 0, 0] });
    block.forEach(({ insn: [code, dst, src, , imm], next }, i) => {
      emit(code, dst, src, next ? block.length - i - 1 : 0, imm);
    });
    // A rule that matches every request answers all of them: what follows could never run, and the verifier
    // refuses unreachable instructions.
    if (!block.some(({ next }) => next)) return encode(insns);
  }
  emit(ALU32_MOV_K, 0, 0, 0, 0);
  emit(EXIT, 0, 0, 0, 0);
  return encode(insns);
}

function encode(insns: [number, number, number, number, number][]): Uint8Array {
  const bytes = new Uint8Array(insns.length * 8);
  const view = new DataView(bytes.buffer);
  insns.forEach(([code, dst, src, off, imm], i) => {
    view.setUint8(i * 8, code);
    view.setUint8(i * 8 + 1, (src << 4) | dst);
    view.setInt16(i * 8 + 2, off, true);
    view.setInt32(i * 8 + 4, imm, true);
  });
  return bytes;
}

/**
 * Runs a device program as the kernel would for one request, so the unit tests check the bytes themselves (the real
 * kernel runs it in the integration suite). Only the instructions deviceProgram emits are known.
 */
export function runDeviceProgram(program: Uint8Array, type: "c" | "b", major: number, minor: number, access: string) {
  let accessBits = 0;
  for (const letter of access) accessBits |= ACCESS[letter as keyof typeof ACCESS] ?? 0;
  const ctx = [(accessBits << 16) | DEVICE_TYPE[type], major, minor];
  const r = new Array<number>(11).fill(0);
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  for (let pc = 0; pc * 8 < program.length; pc++) {
    const code = view.getUint8(pc * 8);
    const regs = view.getUint8(pc * 8 + 1);
    const dst = regs & 15;
    const src = regs >> 4;
    const off = view.getInt16(pc * 8 + 2, true);
    const imm = view.getInt32(pc * 8 + 4, true) >>> 0;
    switch (code) {
      case LDX_MEM_W:
        r[dst] = ctx[off / 4]! >>> 0;
        break;
      case ALU32_AND_K:
        r[dst] = (r[dst]! & imm) >>> 0;
        break;
      case ALU32_RSH_K:
        r[dst] = r[dst]! >>> imm;
        break;
      case ALU32_MOV_K:
        r[dst] = imm;
        break;
      case ALU32_MOV_X:
        r[dst] = r[src]!;
        break;
      case JNE_K:
        if (r[dst] !== imm) pc += off;
        break;
      case JNE_X:
        if (r[dst] !== r[src]) pc += off;
        break;
      case EXIT:
        return r[0] === 1;
      default:
        throw new Error(`unknown instruction 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error("the program ran off its end");
}

/** What `--security-opt` changes, parsed as dockerd parses it. */
export interface SecurityOptions {
  /** Undefined: the daemon's default. */
  noNewPrivileges?: boolean;
  /** `seccomp=unconfined`: no filter; undefined (or `seccomp=builtin`): Docker's default profile. */
  seccomp?: "builtin" | "unconfined";
}

/**
 * Parses `--security-opt` values as dockerd does (`no-new-privileges`, `no-new-privileges=false`, the old `:` form).
 * seccomp takes `unconfined` or `builtin` (Docker's default profile, which drydockd holds); a custom profile (the
 * JSON the docker CLI reads from `seccomp=<file>`) is refused, as are AppArmor and SELinux settings other than
 * "unconfined"/"disable": the guest kernel has neither, so there is no profile to load.
 * @example
 * parseSecurityOptions(["no-new-privileges=false", "seccomp=unconfined"]); // { noNewPrivileges: false, seccomp: "unconfined" }
 */
export function parseSecurityOptions(options: readonly string[]): SecurityOptions {
  const parsed: SecurityOptions = {};
  for (const option of options) {
    if (option === "no-new-privileges") {
      parsed.noNewPrivileges = true;
      continue;
    }
    if (option === "disable") continue;
    const separator = option.includes("=") ? "=" : option.includes(":") ? ":" : "";
    const at = separator ? option.indexOf(separator) : -1;
    if (at < 0) throw invalid(`invalid --security-opt 1: "${option}"`);
    const key = option.slice(0, at);
    const value = option.slice(at + 1);
    switch (key) {
      case "no-new-privileges": {
        const flag = parseGoBool(value);
        if (flag === undefined) throw invalid(`invalid --security-opt 2: "${option}"`);
        parsed.noNewPrivileges = flag;
        break;
      }
      case "seccomp":
        if (value !== "unconfined" && value !== "builtin")
          throw invalid(
            "Drydock does not load custom seccomp profiles (--security-opt seccomp=<profile.json>): every container gets Docker's default profile; use seccomp=unconfined to run without one",
          );
        parsed.seccomp = value;
        break;
      case "apparmor":
        if (value !== "unconfined")
          throw invalid(
            "Drydock does not support apparmor profiles (--security-opt apparmor=…): the guest kernel has no AppArmor; only apparmor=unconfined is accepted",
          );
        break;
      case "label":
        if (value !== "disable")
          throw invalid("Drydock does not support SELinux labels (--security-opt label=…): only label=disable");
        break;
      default:
        throw invalid(`invalid --security-opt 2: "${option}"`);
    }
  }
  return parsed;
}

/** Go's strconv.ParseBool. */
function parseGoBool(value: string): boolean | undefined {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  return undefined;
}

/** One `--device` (HostConfig.Devices entry). */
export interface DeviceMapping {
  pathOnHost: string;
  pathInContainer: string;
  /** Any of r, w, m. */
  cgroupPermissions: string;
}

/**
 * Checks a `--device` mapping as dockerd does: absolute paths, permissions made of r, w and m.
 * @example
 * validateDeviceMapping({ pathOnHost: "/dev/null", pathInContainer: "", cgroupPermissions: "" });
 * // { pathOnHost: "/dev/null", pathInContainer: "/dev/null", cgroupPermissions: "rwm" }
 */
export function validateDeviceMapping(device: DeviceMapping): DeviceMapping {
  const permissions = device.cgroupPermissions || "rwm";
  if (!/^[rwm]{1,3}$/.test(permissions)) throw invalid(`invalid device mode: ${permissions}`);
  if (!device.pathOnHost.startsWith("/")) throw invalid(`invalid device path: ${device.pathOnHost}`);
  const inContainer = device.pathInContainer || device.pathOnHost;
  // The node is made inside the container's root: a `..` would name a place outside it.
  if (!inContainer.startsWith("/") || inContainer.split("/").includes(".."))
    throw invalid(`invalid device path in container: ${inContainer}`);
  return { pathOnHost: device.pathOnHost, pathInContainer: inContainer, cgroupPermissions: permissions };
}
