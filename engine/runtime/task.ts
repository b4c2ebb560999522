// Running a container's process from its runtime spec, as runc would, composed from drydockd's primitives: the
// cgroup and its limits, the root filesystem (the snapshot's overlay, a tmpfs /dev with the default devices), then
// one spawn that clones the namespaces, joins the cgroup, mounts /proc, /sys, /dev/pts…, pivots into the root and
// execs. Each step is traced as the command behind it.
import type {
  AgentClient,
  CapabilitySets,
  DeviceNode,
  ExitStatus,
  GuestProcess,
  MountSpec,
  Namespace,
} from "../agent/index.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { InterfaceCounters } from "../network/index.ts";
import type { Mount } from "../snapshots/index.ts";
import type { TraceAction, Tracer } from "../trace/index.ts";
import type { ContainerMount } from "../volumes/index.ts";
import { CAPABILITIES, capabilityMask, deviceProgram, formatDeviceRule } from "./confinement.ts";
import { containerDir } from "./create-spec.ts";
import { setUpContainerMounts } from "./mounts.ts";
import type { NamespaceType, RuntimeMount, RuntimeSpec } from "./spec.ts";
import { type ResolvedUser, resolveUser } from "./user.ts";

export type RuntimeAgent = Pick<
  AgentClient,
  | "spawn"
  | "run"
  | "mkdir"
  | "remove"
  | "mount"
  | "resolve"
  | "umount"
  | "readFile"
  | "writeFile"
  | "stat"
  | "readdir"
  | "attachDeviceFilter"
  | "xattrTree"
  | "setXattrs"
>;

/** The links runc makes in every container's /dev. */
const DEV_SYMLINKS = [
  { target: "/proc/self/fd", path: "/dev/fd" },
  { target: "/proc/self/fd/0", path: "/dev/stdin" },
  { target: "/proc/self/fd/1", path: "/dev/stdout" },
  { target: "/proc/self/fd/2", path: "/dev/stderr" },
  // The new devpts instance's, or a pty opened in the container would belong to the guest's.
  { target: "pts/ptmx", path: "/dev/ptmx" },
];

/** The spec's capability sets as the bit masks drydockd applies. */
function capabilitySets(spec: RuntimeSpec): CapabilitySets | undefined {
  const caps = spec.process.capabilities;
  if (!caps) return undefined;
  return {
    bounding: capabilityMask(caps.bounding),
    effective: capabilityMask(caps.effective),
    permitted: capabilityMask(caps.permitted),
    inheritable: capabilityMask(caps.inheritable),
    ambient: capabilityMask(caps.ambient),
  };
}

/**
 * The capability mask Docker's default seccomp profile is computed for (the container's bounding set, as moby
 * computes it; drydockd builds the filter), or undefined when the container runs without one.
 */
function seccompMask(spec: RuntimeSpec): bigint | undefined {
  return spec.linux.seccomp ? capabilityMask(spec.process.capabilities?.bounding ?? []) : undefined;
}

/** `setpriv`'s spelling of a capability list: `-all,+chown,+kill`, or `+all` when it holds every one. */
function setprivCaps(caps: readonly string[]): string {
  if (CAPABILITIES.every((cap) => caps.includes(cap))) return "+all";
  return ["-all", ...caps.map((cap) => `+${cap.replace(/^CAP_/, "").toLowerCase()}`)].join(",");
}

export const CGROUP_ROOT = "/sys/fs/cgroup";

const MS = {
  ro: 1,
  nosuid: 2,
  nodev: 4,
  noexec: 8,
  bind: 4096,
  rec: 16384,
  strictatime: 1 << 24,
} as const;
const MNT_DETACH = 2;

const NAMESPACES: Record<NamespaceType, Namespace> = {
  pid: "pid",
  network: "net",
  mount: "mount",
  ipc: "ipc",
  uts: "uts",
  user: "user",
  cgroup: "cgroup",
};
const CLONE_NAMES: Record<NamespaceType, string> = {
  pid: "CLONE_NEWPID",
  network: "CLONE_NEWNET",
  mount: "CLONE_NEWNS",
  ipc: "CLONE_NEWIPC",
  uts: "CLONE_NEWUTS",
  user: "CLONE_NEWUSER",
  cgroup: "CLONE_NEWCGROUP",
};

/** Splits OCI mount options into `MS_*` flags and the data string the filesystem parses. */
export function mountFlags(options: readonly string[] = []): { flags: number; data: string; bind: boolean } {
  let flags = 0;
  const data: string[] = [];
  for (const option of options) {
    if (option === "rbind") flags |= MS.bind | MS.rec;
    else if (option === "rprivate" || option === "rw") continue;
    else if (option in MS) flags |= MS[option as keyof typeof MS];
    else data.push(option);
  }
  return { flags, data: data.join(","), bind: (flags & MS.bind) !== 0 };
}

export function cgroupDir(spec: RuntimeSpec): string {
  return `${CGROUP_ROOT}${spec.linux.cgroupsPath}`;
}

/** A process of a container, from its /proc/<pid>/stat, status and cmdline (what `ps` shows). */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  uid: number;
  /** R, S, D, Z, T… */
  state: string;
  /** The controlling terminal's device number (0: none). */
  ttyNr: number;
  /** CPU time in clock ticks (USER_HZ, 100 a second). */
  utime: number;
  stime: number;
  /** When it started, in clock ticks since boot. */
  startTime: number;
  /** Its command line, or `[comm]` when it has none (a kernel thread, a zombie). */
  command: string;
}

/** One reading of a container cgroup's counters. */
export interface CgroupSample {
  /** When it was read (ms since the epoch). */
  read: number;
  /** memory.current: bytes charged to the cgroup. */
  memoryCurrent: number;
  /** memory.max in bytes; undefined for "max" (no limit). */
  memoryMax?: number;
  /** memory.stat, by key (anon, file, inactive_file…). */
  memoryStat: Record<string, number>;
  /** cpu.stat, by key (usage_usec, user_usec, system_usec…). */
  cpuStat: Record<string, number>;
  pidsCurrent: number;
  /** pids.max; undefined for "max". */
  pidsMax?: number;
  /**
   * io.stat, one entry per block device; undefined when the cgroup has no io controller (a kernel without a block
   * layer, as the guest's: it has no disks, so there is no block I/O to count).
   */
  io?: BlockIo[];
  /** Per interface of the container's endpoints (`eth0`…), its network counters; none without a network of its own. */
  networks?: Record<string, InterfaceCounters>;
}

/** One device's line of io.stat: `MAJ:MIN rbytes=… wbytes=… rios=… wios=…`. */
export interface BlockIo {
  major: number;
  minor: number;
  rbytes: number;
  wbytes: number;
  rios: number;
  wios: number;
}

/**
 * Parses a cgroup's io.stat.
 * @example
 * parseIoStat("254:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")[0].rbytes; // 4096
 */
export function parseIoStat(text: string): BlockIo[] {
  const devices: BlockIo[] = [];
  for (const line of text.split("\n")) {
    const [device, ...pairs] = line.trim().split(/\s+/);
    const match = /^(\d+):(\d+)$/.exec(device ?? "");
    if (!match) continue;
    const fields = Object.fromEntries(pairs.map((pair) => pair.split("=") as [string, string]));
    const count = (key: string) => Number(fields[key] ?? 0);
    devices.push({
      major: Number(match[1]),
      minor: Number(match[2]),
      rbytes: count("rbytes"),
      wbytes: count("wbytes"),
      rios: count("rios"),
      wios: count("wios"),
    });
  }
  return devices;
}

/**
 * Parses a `/proc/<pid>/stat` line with the `status` and `cmdline` files beside it.
 * @example
 * parseProcStat("1 (sh) S 0 1 1 34816 1 …", "Uid:\t0\t0\t0\t0\n", "sh\0-c\0sleep 9\0").command; // "sh -c sleep 9"
 */
export function parseProcStat(stat: string, status: string, cmdline: string): ProcessInfo | undefined {
  // The command name is in parentheses and may hold spaces and parentheses itself: split after the last ")".
  const open = stat.indexOf("(");
  const close = stat.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const comm = stat.slice(open + 1, close);
  const fields = stat
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const number = (index: number) => Number(fields[index] ?? 0);
  const args = cmdline
    .replace(/\0+$/, "")
    .split("\0")
    .filter((arg, i) => i === 0 || arg !== "");
  return {
    pid: Number(stat.slice(0, open).trim()),
    ppid: number(1),
    uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0),
    state: fields[0] ?? "?",
    ttyNr: number(4),
    utime: number(11),
    stime: number(12),
    startTime: number(19),
    command: args.length && args[0] ? args.join(" ") : `[${comm}]`,
  };
}

/** Parses a cgroup file of `key value` lines (cpu.stat, memory.stat). */
export function parseKeyedFile(text: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) values[key] = Number(value);
  }
  return values;
}

/** A cgroup limit file's value: a number, or undefined for "max". */
function limitOf(text: string): number | undefined {
  const value = text.trim();
  return value === "max" || value === "" ? undefined : Number(value);
}

/** A container's running process. */
export interface Task {
  /** Its pid in the guest's root pid namespace (1 inside the container). */
  readonly pid: number;
  readonly process: GuestProcess;
  /** Resolves once the loopback interface is up (or the task ended first). */
  readonly network: Promise<void>;
  /** Who it runs as (an exec without --user runs as the same); a WebAssembly task has no Linux user. */
  readonly user?: ResolvedUser;
}

/** What an exec in a running container asks for. */
export interface ExecRequest {
  argv: string[];
  env: string[];
  user: ResolvedUser;
  /** Absolute; the container's working directory when absent. */
  workdir?: string;
  pty?: { rows: number; cols: number };
  /** Leave it out of the trace. */
  quiet?: boolean;
  /** Every capability (`docker exec --privileged`). */
  privileged?: boolean;
}

export class TaskRunner {
  #parentReady: Promise<void> | undefined;
  /** Whether the guest's cgroup root offers the io controller (delegated to containers when it does). */
  #io = false;

  constructor(
    readonly agent: RuntimeAgent,
    readonly tracer?: Tracer,
  ) {}

  #trace(action: TraceAction, id: string): void {
    this.tracer?.emit(action, id);
  }

  /** The cgroup all containers live under, with the controllers they need delegated to it. */
  #ensureParent(id: string): Promise<void> {
    this.#parentReady ??= (async () => {
      const parent = `${CGROUP_ROOT}/drydock`;
      this.#trace({ op: "mkdir", path: parent }, id);
      await this.agent.mkdir(parent).catch((error) => {
        if (!isEngineError(error, "alreadyExists")) throw error;
      });
      const offered = await this.#readText(`${CGROUP_ROOT}/cgroup.controllers`).catch(() => "");
      this.#io = offered.split(/\s+/).includes("io");
      const controllers = `+cpu +memory +pids${this.#io ? " +io" : ""}`;
      this.#trace({ op: "write", path: `${parent}/cgroup.subtree_control`, value: controllers }, id);
      await this.agent.writeFile(`${parent}/cgroup.subtree_control`, controllers);
    })().catch((error) => {
      this.#parentReady = undefined;
      throw error;
    });
    return this.#parentReady;
  }

  /**
   * Sets up the cgroup and root filesystem of `spec` and starts its process.
   * `rootfs` is the snapshot's mounts, assembled at `<container dir>/rootfs`; `volumes` are the container's own
   * mounts (volumes, binds, tmpfs: in `spec.mounts` too), set up from the guest's side before the process starts.
   */
  async start(id: string, spec: RuntimeSpec, rootfs: Mount[], volumes: readonly ContainerMount[] = []): Promise<Task> {
    await this.#ensureParent(id);
    const cgroup = cgroupDir(spec);
    const root = `${containerDir(id)}/${spec.root.path}`;

    // Host-side steps go out together: drydockd handles requests in the order they arrive, so each sees the
    // previous one done, and the first failure fails the batch. One round trip instead of a dozen.
    const steps: Promise<unknown>[] = [];
    const step = (action: TraceAction, request: () => Promise<unknown>) => {
      this.#trace(action, id);
      steps.push(request());
    };
    step({ op: "mkdir", path: cgroup }, () => this.agent.mkdir(cgroup));
    const resources = spec.linux.resources;
    const limits: [string, string][] = [];
    if (resources?.memory?.limit !== undefined) limits.push(["memory.max", String(resources.memory.limit)]);
    if (resources?.cpu?.quota !== undefined) {
      limits.push(["cpu.max", `${resources.cpu.quota} ${resources.cpu.period ?? 100000}`]);
    }
    if (resources?.pids) limits.push(["pids.max", String(resources.pids.limit)]);
    for (const [file, value] of limits) {
      step({ op: "write", path: `${cgroup}/${file}`, value }, () => this.agent.writeFile(`${cgroup}/${file}`, value));
    }
    // Device access: a BPF program on the cgroup, before any process is in it (none with --privileged).
    const rules = resources?.devices;
    if (rules) {
      step(
        {
          op: "device-filter",
          cgroup,
          rules: rules.map((rule) => `${rule.allow ? "allow" : "deny"} ${formatDeviceRule(rule)}`),
        },
        () => this.agent.attachDeviceFilter(cgroup, deviceProgram(rules)),
      );
    }
    for (const mount of rootfs) {
      const { flags, data } = mountFlags(
        mount.options.filter((o) => o !== "rbind").concat(mount.type === "bind" ? ["rbind"] : []),
      );
      step(
        mount.type === "bind"
          ? { op: "mount", source: mount.source, target: root, bind: true, readonly: (flags & MS.ro) !== 0 }
          : { op: "mount", source: mount.source, target: root, fstype: mount.type, options: data },
        () => this.agent.mount(mount.source, root, mount.type === "bind" ? "" : mount.type, data, flags),
      );
    }
    // The image's own account files, read once its root is mounted (the same batch, answered in order).
    const accounts = this.#accountFiles(root);
    try {
      await Promise.all(steps);
    } catch (error) {
      await accounts.catch(() => {});
      await this.cleanup(id, spec).catch(() => {});
      throw error;
    }
    let user: ResolvedUser;
    try {
      const [passwd, group] = await accounts;
      user = resolveUser(userSpec(spec), passwd, group);
    } catch (error) {
      await this.cleanup(id, spec).catch(() => {});
      throw error;
    }
    try {
      // The files bound from the container's own dir (/etc/hostname, hosts, resolv.conf).
      const fileBinds = spec.mounts.filter((m) => m.type === "bind" && m.source?.startsWith(`${containerDir(id)}/`));
      await setUpContainerMounts(
        this.agent,
        (action) => this.#trace(action, id),
        root,
        volumes,
        fileBinds.map((m) => m.destination),
      );
    } catch (error) {
      await this.cleanup(id, spec).catch(() => {});
      throw error;
    }
    const ownMounts = new Set(volumes.map((mount) => mount.destination));

    const mounts: MountSpec[] = [];
    const childMount = (mount: RuntimeMount) => {
      const { flags, data, bind } = mountFlags(mount.options);
      mounts.push({
        source: mount.source ?? "none",
        target: mount.destination,
        fstype: mount.type === "bind" ? "" : (mount.type ?? ""),
        options: data,
        flags,
      });
      this.#trace(
        bind
          ? {
              op: "mount",
              source: mount.source ?? "none",
              target: mount.destination,
              bind: true,
              readonly: (flags & MS.ro) !== 0,
            }
          : {
              op: "mount",
              source: mount.source ?? "none",
              target: mount.destination,
              fstype: mount.type ?? "none",
              options: data,
              readonly: (flags & MS.ro) !== 0,
            },
        id,
      );
    };
    // A network entry with a path joins that sandbox (setns, as `nsenter --net=PATH`); one without makes a new
    // namespace with only `lo` (--network none); none at all is the guest's own (--network host).
    const netns = spec.linux.namespaces.find((ns) => ns.type === "network")?.path;
    const namespaces = spec.linux.namespaces.filter((ns) => !(ns.type === "network" && ns.path)).map((ns) => ns.type);
    this.#trace({ op: "clone", flags: namespaces.map((ns) => CLONE_NAMES[ns]) }, id);
    if (netns) this.#trace({ op: "net", argv: ["nsenter", `--net=${netns}`] }, id);
    if (namespaces.includes("network")) this.#trace({ op: "link-up", device: "lo" }, id);
    for (const mount of spec.mounts) if (!ownMounts.has(mount.destination)) childMount(mount);
    const devices: DeviceNode[] = (spec.linux.devices ?? []).map((device) => ({
      type: device.type,
      path: device.path,
      major: device.major,
      minor: device.minor,
      mode: device.fileMode ?? 0o666,
      uid: device.uid ?? 0,
      gid: device.gid ?? 0,
    }));
    for (const device of devices) this.#trace({ op: "mknod", ...device }, id);
    const hasDev = spec.mounts.some((mount) => mount.destination === "/dev");
    const symlinks = hasDev ? DEV_SYMLINKS : [];
    for (const link of symlinks) this.#trace({ op: "symlink", ...link }, id);
    const masks = spec.linux.maskedPaths ?? [];
    for (const path of masks) this.#trace({ op: "mask", path }, id);
    const readonly = [...(spec.linux.readonlyPaths ?? []), ...(spec.root.readonly ? ["/"] : [])];
    for (const path of readonly)
      this.#trace({ op: "mount", source: path, target: path, bind: true, readonly: true }, id);
    this.#trace({ op: "pivot_root", root }, id);
    this.#tracePrivileges(id, spec, user);
    this.#trace({ op: "exec", argv: spec.process.args }, id);
    const size = spec.process.consoleSize;
    const capabilities = capabilitySets(spec);
    let process: GuestProcess;
    try {
      process = await this.agent.spawn({
        argv: spec.process.args,
        env: withHome(spec.process.env, user),
        cwd: spec.process.cwd,
        uid: user.uid,
        gid: user.gid,
        groups: user.additionalGids,
        namespaces: namespaces.map((ns) => NAMESPACES[ns]),
        cgroup,
        mounts,
        devices,
        symlinks,
        masks,
        readonly,
        root,
        ...(capabilities ? { capabilities } : {}),
        ...(spec.process.noNewPrivileges ? { noNewPrivileges: true } : {}),
        ...(spec.linux.seccomp ? { seccomp: seccompMask(spec)! } : {}),
        ...(spec.hostname ? { hostname: spec.hostname } : {}),
        loopback: namespaces.includes("network"),
        ...(netns ? { netns } : {}),
        ...(spec.process.terminal ? { pty: { rows: size?.height ?? 24, cols: size?.width ?? 80 } } : {}),
      });
    } catch (error) {
      await this.cleanup(id, spec).catch(() => {});
      throw execError(error, spec.process.args[0]!);
    }
    return { pid: process.pid, process, network: Promise.resolve(), user };
  }

  /** The container's /etc/passwd and /etc/group (undefined when missing or not a regular file). */
  #accountFiles(root: string): Promise<[string | undefined, string | undefined]> {
    const read = (name: string) => {
      const path = `${root}/etc/${name}`;
      const stat = this.agent.stat(path).then(
        (info) => info.isFile,
        () => false,
      );
      const text = this.agent.readFile(path).then(
        (bytes) => new TextDecoder().decode(bytes),
        () => undefined,
      );
      return Promise.all([stat, text]).then(([isFile, content]) => (isFile ? content : undefined));
    };
    return Promise.all([read("passwd"), read("group")]);
  }

  /** Resolves a user spec (exec --user) against a running container's own account files. */
  async resolveUser(id: string, spec: RuntimeSpec, user: string): Promise<ResolvedUser> {
    const [passwd, group] = await this.#accountFiles(`${containerDir(id)}/${spec.root.path}`);
    return resolveUser(user, passwd, group);
  }

  #tracePrivileges(id: string, spec: RuntimeSpec, user: ResolvedUser): void {
    const caps = spec.process.capabilities;
    this.#trace(
      {
        op: "setpriv",
        uid: user.uid,
        gid: user.gid,
        groups: user.additionalGids,
        ...(caps
          ? {
              bounding: setprivCaps(caps.bounding),
              inheritable: setprivCaps(caps.inheritable),
              ambient: setprivCaps(caps.ambient),
            }
          : {}),
        noNewPrivs: spec.process.noNewPrivileges ?? false,
        ...(spec.linux.seccomp ? { seccomp: "docker-default" } : {}),
      },
      id,
    );
  }

  /**
   * Runs a process in a running container, as `runc exec` does: drydockd clones it into the container's pid
   * namespace, and it joins the cgroup, the other namespaces and the root of the container's pid 1, with the same
   * capabilities and no_new_privs as the container.
   */
  async exec(id: string, spec: RuntimeSpec, task: Task, request: ExecRequest): Promise<GuestProcess> {
    const cwd = request.workdir ?? spec.process.cwd;
    // The container's filter, even for exec --privileged (runc applies the container's seccomp to every exec).
    const seccomp = seccompMask(spec);
    if (request.privileged) {
      const all = [...CAPABILITIES];
      spec = {
        ...spec,
        process: {
          ...spec.process,
          capabilities: { bounding: all, effective: all, permitted: all, inheritable: [], ambient: [] },
        },
      };
    }
    if (!request.quiet) {
      this.#trace(
        { op: "exec", argv: ["nsenter", "-t", String(task.pid), "-a", "-r", `-w${cwd}`, "--", ...request.argv] },
        id,
      );
      this.#tracePrivileges(id, spec, request.user);
    }
    const capabilities = capabilitySets(spec);
    const spawned = this.agent.spawn({
      argv: request.argv,
      env: withHome(request.env, request.user),
      cwd,
      uid: request.user.uid,
      gid: request.user.gid,
      groups: request.user.additionalGids,
      enter: task.pid,
      cgroup: cgroupDir(spec),
      ...(capabilities ? { capabilities } : {}),
      ...(spec.process.noNewPrivileges ? { noNewPrivileges: true } : {}),
      ...(seccomp !== undefined ? { seccomp } : {}),
      ...(request.pty ? { pty: request.pty } : {}),
    });
    return spawned.catch((error: unknown) => {
      // As runc exec: a command that cannot start is a process that says why and exits 127 (not found) or 126.
      if (!isEngineError(error) || !/^exec /.test(error.message)) throw error;
      const code = error.kind === "notFound" ? 127 : 126;
      const why =
        code === 127
          ? `exec: "${request.argv[0]}": executable file not found in $PATH`
          : error.message.replace(/^exec [^:]*: /, "");
      return failedProcess(
        `OCI runtime exec failed: exec failed: unable to start container process: ${why}: unknown\r\n`,
        code,
      );
    });
  }

  /**
   * After the task has exited: did the kernel's OOM killer kill something in its cgroup (memory.events)? The read goes
   * out with the cgroup.kill (which does not count as an OOM kill); once it is answered, the cgroup's rmdir and the
   * root's umount are sent, and `cleanedUp` settles when they are done (it never rejects: a cgroup or mount left
   * behind must not lose the exit). The caller may send more requests meanwhile (`rm` of the container's files):
   * drydockd answers in order, so they run after the umount, in the same round trip.
   */
  async finish(id: string, spec: RuntimeSpec): Promise<{ oomKilled: boolean; cleanedUp: Promise<void> }> {
    const path = `${cgroupDir(spec)}/memory.events`;
    this.#trace({ op: "read", path }, id);
    const events = this.agent.readFile(path).then(
      (bytes) => new TextDecoder().decode(bytes),
      () => "",
    );
    const killed = this.#kill(id, spec);
    const oomKilled = Number(/^oom_kill (\d+)$/m.exec(await events)?.[1] ?? 0) > 0;
    await killed;
    return { oomKilled, cleanedUp: this.#removeCgroupAndRoot(id, spec).catch(() => {}) };
  }

  /** Kills what is left in the cgroup, removes it, and detaches the root filesystem. */
  async cleanup(id: string, spec: RuntimeSpec): Promise<void> {
    await this.#kill(id, spec);
    await this.#removeCgroupAndRoot(id, spec);
  }

  #kill(id: string, spec: RuntimeSpec): Promise<void> {
    const path = `${cgroupDir(spec)}/cgroup.kill`;
    this.#trace({ op: "write", path, value: "1" }, id);
    return this.agent.writeFile(path, "1").catch(() => {});
  }

  async #removeCgroupAndRoot(id: string, spec: RuntimeSpec): Promise<void> {
    const cgroup = cgroupDir(spec);
    const root = `${containerDir(id)}/${spec.root.path}`;
    this.#trace({ op: "rmdir", path: cgroup }, id);
    const removed = this.agent.remove(cgroup);
    this.#trace({ op: "umount", target: root, lazy: true }, id);
    // Lazy: the overlay and every mount below it (/dev, …) go at once. Sent with the rmdir: one round trip.
    const unmounted = this.agent.umount(root, MNT_DETACH).then(
      () => undefined,
      (error: unknown) =>
        isEngineError(error, "invalidArgument") || isEngineError(error, "notFound") ? undefined : error,
    );
    // The kernel frees a cgroup once its last process is reaped, which can be a moment after the exit is reported
    // (EBUSY until then).
    for (let attempt = 0, pending = removed; ; attempt++) {
      try {
        await pending;
        break;
      } catch (error) {
        if (isEngineError(error, "notFound")) break;
        if (!isEngineError(error, "conflict") || attempt >= 50) {
          await unmounted;
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
        // A privileged container may have made cgroups of its own below its cgroup (cgroup.kill emptied them).
        pending = this.#removeChildCgroups(id, cgroup).then(() => this.agent.remove(cgroup));
      }
    }
    const failed = await unmounted;
    if (failed) throw failed;
  }

  async #removeChildCgroups(id: string, cgroup: string): Promise<void> {
    const entries = await this.agent.readdir(cgroup).catch(() => []);
    for (const entry of entries) {
      if ((entry.mode & 0o170000) !== 0o040000) continue;
      const child = `${cgroup}/${entry.name}`;
      await this.#removeChildCgroups(id, child);
      this.#trace({ op: "rmdir", path: child }, id);
      await this.agent.remove(child).catch(() => {});
    }
  }

  /** Freezes or thaws every process of the container (`cgroup.freeze`). */
  async freeze(id: string, spec: RuntimeSpec, frozen: boolean): Promise<void> {
    const path = `${cgroupDir(spec)}/cgroup.freeze`;
    this.#trace({ op: "write", path, value: frozen ? "1" : "0" }, id);
    await this.agent.writeFile(path, frozen ? "1" : "0");
  }

  /** The processes in the container's cgroup: cgroup.procs, then each one's stat, status and cmdline at once. */
  async processes(id: string, spec: RuntimeSpec): Promise<ProcessInfo[]> {
    const procs = `${cgroupDir(spec)}/cgroup.procs`;
    this.#trace({ op: "read", path: procs }, id);
    const pids = (await this.#readText(procs)).split("\n").filter((line) => /^\d+$/.test(line.trim()));
    const read = (path: string) => this.#readText(path).catch(() => undefined);
    const found = await Promise.all(
      pids.map(async (pid) => {
        this.#trace({ op: "read", path: `/proc/${pid}/stat` }, id);
        const [stat, status, cmdline] = await Promise.all([
          read(`/proc/${pid}/stat`),
          read(`/proc/${pid}/status`),
          read(`/proc/${pid}/cmdline`),
        ]);
        // Gone between the list and the read.
        return stat === undefined ? undefined : parseProcStat(stat, status ?? "", cmdline ?? "");
      }),
    );
    return found.filter((info): info is ProcessInfo => info !== undefined);
  }

  /** Reads the cgroup's memory, CPU and pids counters together (one round trip). */
  async sample(id: string, spec: RuntimeSpec): Promise<CgroupSample> {
    const dir = cgroupDir(spec);
    const files = ["memory.current", "memory.max", "memory.stat", "cpu.stat", "pids.current", "pids.max"] as const;
    const texts = await Promise.all(
      files.map((file) => {
        this.#trace({ op: "read", path: `${dir}/${file}` }, id);
        return this.#readText(`${dir}/${file}`).catch(() => "");
      }),
    );
    // Only a kernel with a block layer has the io controller (the guest's has none: no io.stat, nothing to count).
    const ioStat = this.#io ? await this.#readText(`${dir}/io.stat`).catch(() => undefined) : undefined;
    const [memoryCurrent, memoryMax, memoryStat, cpuStat, pidsCurrent, pidsMax] = texts as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const sample: CgroupSample = {
      read: Date.now(),
      memoryCurrent: Number(memoryCurrent.trim() || 0),
      memoryStat: parseKeyedFile(memoryStat),
      cpuStat: parseKeyedFile(cpuStat),
      pidsCurrent: Number(pidsCurrent.trim() || 0),
    };
    const memoryLimit = limitOf(memoryMax);
    if (memoryLimit !== undefined) sample.memoryMax = memoryLimit;
    const pidsLimit = limitOf(pidsMax);
    if (pidsLimit !== undefined) sample.pidsMax = pidsLimit;
    if (ioStat !== undefined) sample.io = parseIoStat(ioStat);
    return sample;
  }

  async #readText(path: string): Promise<string> {
    return new TextDecoder().decode(await this.agent.readFile(path));
  }

  signal(id: string, task: Task, signal: number): void {
    this.#trace({ op: "kill", pid: task.pid, signal }, id);
    task.process.kill(signal);
  }

  traceExit(id: string, pid: number, status: ExitStatus): void {
    this.#trace({ op: "wait", pid, code: status.code, ...(status.signal ? { signal: status.signal } : {}) }, id);
  }
}

/** A process that never started: its error on stderr, then its exit code. */
function failedProcess(message: string, code: number): GuestProcess {
  const closed = () => new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  return {
    pid: 0,
    stdout: closed(),
    stderr: new ReadableStream<Uint8Array>({
      start: (c) => {
        c.enqueue(new TextEncoder().encode(message));
        c.close();
      },
    }),
    stdin: new WritableStream<Uint8Array>(),
    exit: Promise.resolve({ code }),
    resize: () => {},
    kill: () => {},
  };
}

/** The spec's user as runc is given it: the names to resolve, or the numbers. */
function userSpec(spec: RuntimeSpec): string {
  const { uid, gid, username } = spec.process.user;
  return username || (uid === 0 && gid === 0 ? "0" : `${uid}:${gid}`);
}

/** runc sets HOME from the user's passwd entry when the environment has none. */
function withHome(env: string[], user: ResolvedUser): string[] {
  return env.some((entry) => entry.startsWith("HOME=")) ? env : [...env, `HOME=${user.home}`];
}

/** drydockd names the failed step ("exec foo: No such file or directory"); say it as Docker users know it. */
function execError(error: unknown, command: string): unknown {
  if (isEngineError(error) && /^exec /.test(error.message)) {
    const kind = error.kind === "unauthorized" ? "unauthorized" : "notFound";
    return new EngineError(
      kind,
      `cannot run "${command}" in the container: ${error.message.replace(/^exec [^:]*: /, "")} (exit code ${kind === "notFound" ? 127 : 126})`,
      { cause: error },
    );
  }
  return error;
}
