// Translation: an image's run defaults plus checked run options → an OCI runtime spec. Pure, so every rule (which
// Cmd wins, how Env merges, what /dev holds) is a row in a table test.
import { EngineError } from "../errors.ts";
import type { ExecutionConfig } from "../oci/index.ts";
import {
  DEFAULT_DEVICE_RULES,
  type DeviceRule,
  MASKED_PATHS,
  parseSecurityOptions,
  READONLY_PATHS,
} from "./confinement.ts";
import type { ValidRunOptions } from "./options.ts";
import type { RuntimeDevice, RuntimeMount, RuntimeSpec } from "./spec.ts";

export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Where a container's own files (rootfs mount point, hostname, hosts, resolv.conf) live in the guest. */
export function containerDir(id: string): string {
  return `/run/drydock/containers/${id}`;
}

/** Docker's and runc's default devices, each a character device the container may open. */
export const DEFAULT_DEVICES: readonly RuntimeDevice[] = [
  { type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o666 },
  { type: "c", path: "/dev/zero", major: 1, minor: 5, fileMode: 0o666 },
  { type: "c", path: "/dev/full", major: 1, minor: 7, fileMode: 0o666 },
  { type: "c", path: "/dev/random", major: 1, minor: 8, fileMode: 0o666 },
  { type: "c", path: "/dev/urandom", major: 1, minor: 9, fileMode: 0o666 },
  { type: "c", path: "/dev/tty", major: 5, minor: 0, fileMode: 0o666 },
];

/**
 * The mounts of every container, as Docker's default spec has them (minus mqueue, which the guest kernel lacks):
 * /sys and the container's own cgroup (cgroup2 at /sys/fs/cgroup) read-only unless privileged.
 */
function defaultMounts(id: string, privileged: boolean): RuntimeMount[] {
  const dir = containerDir(id);
  const ro = privileged ? [] : ["ro"];
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", ...ro] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup2",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", ...ro],
    },
    { destination: "/etc/hostname", type: "bind", source: `${dir}/hostname`, options: ["rbind", "rprivate"] },
    { destination: "/etc/hosts", type: "bind", source: `${dir}/hosts`, options: ["rbind", "rprivate"] },
    { destination: "/etc/resolv.conf", type: "bind", source: `${dir}/resolv.conf`, options: ["rbind", "rprivate"] },
  ];
}

/** Sets NAME=value entries over a list, later entries replacing earlier ones of the same name, order kept. */
export function mergeEnv(...lists: string[][]): string[] {
  const merged = new Map<string, string>();
  for (const list of lists) {
    for (const entry of list) {
      const eq = entry.indexOf("=");
      merged.set(eq < 0 ? entry : entry.slice(0, eq), entry);
    }
  }
  return [...merged.values()];
}

/**
 * The entrypoint and cmd a container runs: the options' where given, else the image's. A new entrypoint drops the
 * image's Cmd, which was written for the old one.
 * @example
 * resolveCommand({ Entrypoint: ["/init"], Cmd: ["serve"] }, validateRunOptions({ entrypoint: ["sh"] }));
 * // { entrypoint: ["sh"], cmd: [] }
 */
export function resolveCommand(
  image: ExecutionConfig,
  options: Pick<ValidRunOptions, "entrypoint" | "cmd">,
): { entrypoint: string[]; cmd: string[] } {
  const entrypoint = options.entrypoint ?? image.Entrypoint ?? [];
  const cmd = options.cmd ?? (options.entrypoint ? [] : (image.Cmd ?? []));
  return { entrypoint: [...entrypoint], cmd: [...cmd] };
}

/**
 * The OCI runtime spec for a container of an image: entrypoint and cmd, env, working dir, user, terminal, hostname,
 * the default mounts and devices, namespaces and cgroup limits, and Docker's confinement (capabilities,
 * no_new_privs, masked and read-only paths, the device list, the seccomp profile) or, with --privileged, none of it. `devices` are the
 * guest's device nodes that `--device` (or --privileged) adds, already looked up.
 * @example
 * const spec = createRuntimeSpec(image.config.config ?? {}, validateRunOptions({ cmd: ["echo", "hi"] }), id);
 * spec.process.args; // ["echo", "hi"]
 */
export function createRuntimeSpec(
  image: ExecutionConfig,
  options: ValidRunOptions,
  id: string,
  devices: readonly RuntimeDevice[] = [],
): RuntimeSpec {
  const { entrypoint, cmd } = resolveCommand(image, options);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new EngineError("invalidArgument", "no command specified: the image has no Cmd");
  const hostname = options.hostname ?? id.slice(0, 12);
  const imageEnv = image.Env ?? [];
  const env = mergeEnv(
    imageEnv.some((entry) => entry.startsWith("PATH=")) ? [] : [DEFAULT_PATH],
    [`HOSTNAME=${hostname}`],
    imageEnv,
    options.tty ? ["TERM=xterm"] : [],
    options.env,
  );
  const username = options.user ?? image.User ?? "";
  const numeric = /^(\d+)(?::(\d+))?$/.exec(username);
  const user = {
    uid: numeric ? Number(numeric[1]) : 0,
    gid: numeric?.[2] ? Number(numeric[2]) : 0,
    // Resolved at start against the container's own /etc/passwd and /etc/group (root's groups too, as runc does).
    username,
  };
  const caps = options.capabilities;
  const spec: RuntimeSpec = {
    ociVersion: "1.0.2",
    process: {
      terminal: options.tty,
      user,
      args,
      env,
      cwd: options.workdir ?? (image.WorkingDir || "/"),
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: options.noNewPrivileges,
    },
    root: { path: "rootfs", readonly: options.readonlyRootfs },
    hostname,
    mounts: defaultMounts(id, options.privileged),
    linux: {
      namespaces: [
        { type: "pid" },
        { type: "network" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "cgroup" },
      ],
      devices: [...DEFAULT_DEVICES, ...devices].map((device) => ({ uid: 0, gid: 0, ...device })),
      cgroupsPath: `/drydock/${id}`,
    },
  };
  if (!options.privileged) {
    spec.linux.maskedPaths = [...MASKED_PATHS];
    spec.linux.readonlyPaths = [...READONLY_PATHS];
    // As dockerd: --privileged or seccomp=unconfined runs without a filter; everything else gets the default one.
    if (parseSecurityOptions(options.securityOpt).seccomp !== "unconfined") spec.linux.seccomp = { profile: "builtin" };
  }
  if (options.tty && options.consoleSize) {
    spec.process.consoleSize = { height: options.consoleSize.rows, width: options.consoleSize.cols };
  }
  const resources: NonNullable<RuntimeSpec["linux"]["resources"]> = {};
  if (options.memoryMax !== undefined) resources.memory = { limit: options.memoryMax };
  if (options.cpuQuota !== undefined) resources.cpu = { quota: options.cpuQuota, period: options.cpuPeriod! };
  if (options.pidsMax !== undefined) resources.pids = { limit: options.pidsMax };
  if (!options.privileged) {
    const added: DeviceRule[] = options.devices.map((mapping) => {
      const device = devices.find((d) => d.path === mapping.pathInContainer);
      return {
        allow: true,
        type: device?.type === "b" ? "b" : "c",
        major: device?.major ?? 0,
        minor: device?.minor ?? 0,
        access: mapping.cgroupPermissions,
      };
    });
    resources.devices = [...DEFAULT_DEVICE_RULES, ...added];
  }
  if (Object.keys(resources).length) spec.linux.resources = resources;
  return spec;
}
