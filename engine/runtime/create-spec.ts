// Translation: an image's run defaults plus checked run options → an OCI runtime spec. Pure, so every rule (which
// Cmd wins, how Env merges, what /dev holds) is a row in a table test.
import { EngineError } from "../errors.ts";
import type { ExecutionConfig } from "../oci/index.ts";
import type { ValidRunOptions } from "./options.ts";
import type { RuntimeDevice, RuntimeMount, RuntimeSpec } from "./spec.ts";

export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Where a container's own files (rootfs mount point, hostname, hosts, resolv.conf) live in the guest. */
export function containerDir(id: string): string {
  return `/run/drydock/containers/${id}`;
}

/** Docker's and runc's default devices, each a character device the container may open. */
const DEVICES: RuntimeDevice[] = [
  { type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o666 },
  { type: "c", path: "/dev/zero", major: 1, minor: 5, fileMode: 0o666 },
  { type: "c", path: "/dev/full", major: 1, minor: 7, fileMode: 0o666 },
  { type: "c", path: "/dev/random", major: 1, minor: 8, fileMode: 0o666 },
  { type: "c", path: "/dev/urandom", major: 1, minor: 9, fileMode: 0o666 },
  { type: "c", path: "/dev/tty", major: 5, minor: 0, fileMode: 0o666 },
];

/** The mounts of every container, as runc's default spec has them (minus mqueue, which the guest kernel lacks). */
function defaultMounts(id: string): RuntimeMount[] {
  const dir = containerDir(id);
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
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
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
 * the default mounts and devices, namespaces and cgroup limits.
 * @example
 * const spec = createRuntimeSpec(image.config.config ?? {}, validateRunOptions({ cmd: ["echo", "hi"] }), id);
 * spec.process.args; // ["echo", "hi"]
 */
export function createRuntimeSpec(image: ExecutionConfig, options: ValidRunOptions, id: string): RuntimeSpec {
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
    ["HOME=/root"].filter(() => !imageEnv.some((entry) => entry.startsWith("HOME="))),
    options.env,
  );
  const user = options.user ?? (image.User ? imageUser(image.User) : { uid: 0, gid: 0 });
  const spec: RuntimeSpec = {
    ociVersion: "1.0.2",
    process: {
      terminal: options.tty,
      user,
      args,
      env,
      cwd: options.workdir ?? (image.WorkingDir || "/"),
    },
    root: { path: "rootfs", readonly: false },
    hostname,
    mounts: defaultMounts(id),
    linux: {
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      devices: DEVICES.map((device) => ({ ...device, uid: 0, gid: 0 })),
      cgroupsPath: `/drydock/${id}`,
    },
  };
  if (options.tty && options.consoleSize) {
    spec.process.consoleSize = { height: options.consoleSize.rows, width: options.consoleSize.cols };
  }
  const resources: NonNullable<RuntimeSpec["linux"]["resources"]> = {};
  if (options.memoryMax !== undefined) resources.memory = { limit: options.memoryMax };
  if (options.cpuQuota !== undefined) resources.cpu = { quota: options.cpuQuota, period: options.cpuPeriod! };
  if (options.pidsMax !== undefined) resources.pids = { limit: options.pidsMax };
  if (Object.keys(resources).length) spec.linux.resources = resources;
  return spec;
}

function imageUser(user: string): { uid: number; gid: number } {
  if (user === "root") return { uid: 0, gid: 0 };
  const match = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!match) {
    throw new EngineError(
      "invalidArgument",
      `the image runs as user "${user}"; give --user uid:gid (names are not resolved yet)`,
    );
  }
  return { uid: Number(match[1]), gid: Number(match[2] ?? 0) };
}
