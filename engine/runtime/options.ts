// What a user asks for (`docker run` flags), and its validation. Validation is separate from translation: it turns
// loose input ("32m", "0.5", "1000:1000") into checked values or an invalidArgument error that names the flag, and
// createRuntimeSpec only ever sees checked values.
import { EngineError } from "../errors.ts";
import {
  checkPortBindings,
  type EndpointConfig,
  type ExtraHost,
  isIpv4,
  type PortBindings,
  parseExtraHost,
  parseNetworkMode,
} from "../network/index.ts";
import type { MountRequest } from "../volumes/index.ts";
import {
  containerCapabilities,
  type DeviceMapping,
  normalizeCapability,
  parseSecurityOptions,
  validateDeviceMapping,
} from "./confinement.ts";
import type { RestartPolicy } from "./restart.ts";
import { validateUserSpec } from "./user.ts";

/** `docker run` options, as a user gives them. */
export interface RunOptions {
  /** Replaces the image's Cmd. */
  cmd?: string[];
  /** Replaces the image's Entrypoint (and drops its Cmd unless `cmd` is given, as Docker does). */
  entrypoint?: string[];
  /** `NAME=value` entries added to (or replacing) the image's Env. */
  env?: string[];
  /** `--workdir`. */
  workdir?: string;
  /** `--user`: `name`, `uid`, `name:group` or `uid:gid` (names from the image's /etc/passwd and /etc/group). */
  user?: string;
  /** `--cap-add`: capabilities beyond Docker's default set (`NET_ADMIN`, `CAP_SYS_TIME`, `ALL`). */
  capAdd?: string[];
  /** `--cap-drop`: capabilities taken from it (`ALL` for every one). */
  capDrop?: string[];
  /** `--privileged`: every capability, every guest device, no masked or read-only /proc and /sys paths. */
  privileged?: boolean;
  /** `--security-opt`: `no-new-privileges[=true|false]` (and `seccomp=unconfined`, which the guest already is). */
  securityOpt?: string[];
  /** `--device`: a guest device node made available in the container. */
  devices?: DeviceMapping[];
  /** `--read-only`: mount the container's root filesystem read-only. */
  readonlyRootfs?: boolean;
  /** `--tty`: run on a pseudo-terminal. */
  tty?: boolean;
  /**
   * `--interactive`: keep the process's stdin open for attached clients to write to. Without it (and without a tty)
   * the process reads end-of-file at once, as Docker gives it /dev/null.
   */
  openStdin?: boolean;
  /** Size of that terminal. */
  consoleSize?: { rows: number; cols: number };
  /** `--hostname`; defaults to the first 12 characters of the container ID. */
  hostname?: string;
  /** `--memory`: bytes, or a number with a unit b, k, m or g (`32m`). */
  memory?: number | string;
  /** `--cpus`: how many CPUs' worth of time per period (`0.2`). */
  cpus?: number | string;
  /** `--pids-limit`: most processes at once; 0 or -1 for no limit. */
  pidsLimit?: number;
  /** `--name`. */
  name?: string;
  /** `--rm`: remove the container when it exits. */
  rm?: boolean;
  /** `--stop-timeout`: seconds between SIGTERM and SIGKILL on stop (default 10). */
  stopTimeout?: number;
  /** `--restart`: `no` (the default), `always`, `unless-stopped` or `on-failure[:N]`. */
  restartPolicy?: RestartPolicy;
  /** `--volumes-from CONTAINER[:ro|:rw]`: that container's volumes and binds, at the same paths. */
  volumesFrom?: string[];
  /** `--label`: added to (or replacing) the image's labels. */
  labels?: Record<string, string>;
  /** `--expose`: ports such as `80/tcp`, added to the image's exposed ports. */
  exposedPorts?: string[];
  /** `--runtime`: `drydock` (or `runc`) for the guest, `wasi` for WebAssembly; by default the image's platform decides. */
  runtime?: string;
  /** `--platform`: the image must be this one (`wasi/wasm`, `linux/386`). */
  platform?: string;
  /** `-v`, `--mount`, `--tmpfs`: volumes, binds and tmpfs, read from the create body by engine/volumes. */
  mounts?: MountRequest[];
  /** `--network`: `bridge` (the default), `none`, `host`, `container:<name|id>` or a user-defined network's name. */
  networkMode?: string;
  /** Per network name, `--network-alias`es and `--ip` (the create body's NetworkingConfig.EndpointsConfig). */
  endpoints?: Record<string, { aliases?: string[]; ipv4Address?: string }>;
  /** `-p`: container port (`80/tcp`) → host IP and port (an empty port: an ephemeral one). */
  portBindings?: PortBindings;
  /** `-P`: every exposed port on an ephemeral host port. */
  publishAllPorts?: boolean;
  /** `--add-host name:ip` (or `name:host-gateway`). */
  extraHosts?: string[];
  /** `--dns`, `--dns-search`, `--dns-option`. */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
}

/** Run options after validation: every value checked and in the unit the kernel wants. */
export interface ValidRunOptions {
  cmd?: string[];
  entrypoint?: string[];
  env: string[];
  workdir?: string;
  /** The user spec as given (resolved against the image's files at start). */
  user?: string;
  /** Normalized (`CAP_NET_ADMIN`, `ALL`), as given: inspect shows them. */
  capAdd: string[];
  capDrop: string[];
  /** The capabilities the process gets. */
  capabilities: string[];
  privileged: boolean;
  securityOpt: string[];
  noNewPrivileges: boolean;
  devices: DeviceMapping[];
  readonlyRootfs: boolean;
  tty: boolean;
  openStdin: boolean;
  consoleSize?: { rows: number; cols: number };
  hostname?: string;
  /** Bytes. */
  memoryMax?: number;
  /** CPU time per period, in microseconds, for cpu.max. */
  cpuQuota?: number;
  cpuPeriod?: number;
  pidsMax?: number;
  name?: string;
  rm: boolean;
  stopTimeoutSeconds: number;
  /** Absent in records kept before restart policies existed: `no`. */
  restartPolicy?: RestartPolicy;
  /** `--volumes-from` as given (inspect shows it); resolved into mounts when the container is created. */
  volumesFrom?: string[];
  labels: Record<string, string>;
  /** `port/protocol`, as Docker keys them. */
  exposedPorts: string[];
  mounts: MountRequest[];
  /** As given; `default` when not. */
  networkMode: string;
  endpoints: Record<string, EndpointConfig>;
  portBindings: PortBindings;
  publishAllPorts: boolean;
  /** `--add-host` as given (inspect shows them) and read. */
  extraHostsGiven: string[];
  extraHosts: ExtraHost[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
}

/** Every container execs with no_new_privs unless it passes `--security-opt no-new-privileges=false`. */
export const DEFAULT_NO_NEW_PRIVILEGES = true;

/** Docker refuses less; the kernel would OOM-kill the container before it started. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
export const CPU_PERIOD_US = 100_000;
/** The guest has one CPU (no SMP in its kernel). */
export const GUEST_CPUS = 1;

const invalid = (message: string) => new EngineError("invalidArgument", message);

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses a byte size as Docker does: `67108864`, `64m`, `512k`, `1g`, `64MiB`. */
export function parseBytes(value: number | string, flag: string): number {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) throw invalid(`invalid ${flag} value ${value}: not a byte count`);
    return value;
  }
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)(?:i?b)?$/i.exec(value.trim());
  if (!match) throw invalid(`invalid ${flag} value "${value}": use a number with an optional unit b, k, m or g`);
  return Math.round(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!);
}

/**
 * Checks run options and converts them to kernel units.
 * @example
 * validateRunOptions({ memory: "32m", cpus: "0.2" }); // { memoryMax: 33554432, cpuQuota: 20000, … }
 */
export function validateRunOptions(options: RunOptions): ValidRunOptions {
  const valid: ValidRunOptions = {
    env: [],
    tty: options.tty ?? false,
    openStdin: options.openStdin ?? false,
    rm: options.rm ?? false,
    stopTimeoutSeconds: 10,
    labels: { ...options.labels },
    exposedPorts: (options.exposedPorts ?? []).map(exposedPort),
    capAdd: (options.capAdd ?? []).map(normalizeCapability),
    capDrop: (options.capDrop ?? []).map(normalizeCapability),
    capabilities: [],
    privileged: options.privileged ?? false,
    securityOpt: [...(options.securityOpt ?? [])],
    // Drydock's daemon runs as `dockerd --no-new-privileges` does: on unless a container turns it off.
    noNewPrivileges: parseSecurityOptions(options.securityOpt ?? []).noNewPrivileges ?? DEFAULT_NO_NEW_PRIVILEGES,
    devices: (options.devices ?? []).map(validateDeviceMapping),
    readonlyRootfs: options.readonlyRootfs ?? false,
    mounts: [],
    networkMode: options.networkMode || "default",
    endpoints: {},
    portBindings: checkPortBindings(options.portBindings ?? {}),
    publishAllPorts: options.publishAllPorts ?? false,
    extraHostsGiven: [...(options.extraHosts ?? [])],
    extraHosts: (options.extraHosts ?? []).map(parseExtraHost),
    dns: [...(options.dns ?? [])],
    dnsSearch: [...(options.dnsSearch ?? [])],
    dnsOptions: [...(options.dnsOptions ?? [])],
  };
  const mode = parseNetworkMode(valid.networkMode);
  for (const server of valid.dns) {
    if (!isIpv4(server)) throw invalid(`${server} is not an ip address`);
  }
  for (const [network, config] of Object.entries(options.endpoints ?? {})) {
    const aliases = config.aliases ?? [];
    if (config.ipv4Address && !isIpv4(config.ipv4Address)) throw invalid(`invalid IPv4 address: ${config.ipv4Address}`);
    if ((aliases.length || config.ipv4Address) && mode.kind !== "bridge") {
      throw invalid(
        aliases.length
          ? "network-scoped alias is supported only for containers in user defined networks"
          : "user specified IP address is supported on user defined networks only",
      );
    }
    valid.endpoints[network] = {
      aliases: [...aliases],
      ...(config.ipv4Address ? { ipv4Address: config.ipv4Address } : {}),
    };
  }
  if (mode.kind === "container" && options.hostname !== undefined && options.hostname !== "") {
    throw invalid("conflicting options: hostname and the network mode");
  }
  valid.capabilities = containerCapabilities(valid.capAdd, valid.capDrop, valid.privileged);
  if (options.cmd) valid.cmd = [...options.cmd];
  if (options.entrypoint) valid.entrypoint = [...options.entrypoint];
  for (const entry of options.env ?? []) {
    if (!/^[^=\s]+=/.test(entry)) throw invalid(`invalid environment entry "${entry}": use NAME=value`);
    valid.env.push(entry);
  }
  if (options.workdir !== undefined) {
    if (!options.workdir.startsWith("/")) throw invalid(`invalid workdir "${options.workdir}": it must be absolute`);
    valid.workdir = options.workdir;
  }
  if (options.user !== undefined && options.user !== "") valid.user = validateUserSpec(options.user);
  if (options.consoleSize) {
    const { rows, cols } = options.consoleSize;
    if (![rows, cols].every((n) => Number.isInteger(n) && n > 0 && n < 65536)) {
      throw invalid(`invalid console size ${rows}x${cols}`);
    }
    valid.consoleSize = { rows, cols };
  }
  if (options.hostname !== undefined) {
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(options.hostname)) {
      throw invalid(`invalid hostname "${options.hostname}": letters, digits and inner hyphens, at most 63`);
    }
    valid.hostname = options.hostname;
  }
  if (options.memory !== undefined) {
    const bytes = parseBytes(options.memory, "--memory");
    if (bytes < MIN_MEMORY_BYTES) throw invalid(`invalid --memory ${options.memory}: the minimum is 6m`);
    valid.memoryMax = bytes;
  }
  if (options.cpus !== undefined) {
    const cpus = typeof options.cpus === "number" ? options.cpus : Number(options.cpus.trim() || Number.NaN);
    if (!Number.isFinite(cpus) || cpus < 0.01 || cpus > GUEST_CPUS) {
      throw invalid(`invalid --cpus ${options.cpus}: the range is 0.01 to ${GUEST_CPUS}`);
    }
    valid.cpuQuota = Math.round(cpus * CPU_PERIOD_US);
    valid.cpuPeriod = CPU_PERIOD_US;
  }
  if (options.pidsLimit !== undefined) {
    const limit = options.pidsLimit;
    if (!Number.isSafeInteger(limit) || limit < -1) throw invalid(`invalid --pids-limit ${limit}`);
    if (limit > 0) valid.pidsMax = limit;
  }
  if (options.name !== undefined) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(options.name)) {
      throw invalid(`invalid container name "${options.name}": use letters, digits, _ . -`);
    }
    valid.name = options.name;
  }
  if (options.stopTimeout !== undefined) {
    if (!Number.isFinite(options.stopTimeout) || options.stopTimeout < 0) {
      throw invalid(`invalid --stop-timeout ${options.stopTimeout}`);
    }
    valid.stopTimeoutSeconds = options.stopTimeout;
  }
  if (options.restartPolicy && options.restartPolicy.name !== "no") {
    if (valid.rm) {
      throw invalid(
        `can't create 'AutoRemove' container with restart policy: --rm removes it when it exits, --restart ${options.restartPolicy.name} starts it again; choose one`,
      );
    }
    valid.restartPolicy = options.restartPolicy;
  }
  if (options.volumesFrom?.length) {
    for (const from of options.volumesFrom) parseVolumesFrom(from);
    valid.volumesFrom = [...options.volumesFrom];
  }
  const targets = new Set<string>();
  for (const mount of options.mounts ?? []) {
    if (targets.has(mount.target)) throw invalid(`Duplicate mount point: ${mount.target}`);
    targets.add(mount.target);
    valid.mounts.push(mount);
  }
  return valid;
}

/**
 * One `--volumes-from` entry: the container and the mode its mounts get (`ro`, `rw`, or each as it is there).
 * @example
 * parseVolumesFrom("web:ro"); // { container: "web", mode: "ro" }
 */
export function parseVolumesFrom(value: string): { container: string; mode?: "ro" | "rw" } {
  const [container = "", mode, ...rest] = value.split(":");
  if (!container || rest.length) throw invalid(`invalid --volumes-from "${value}": use CONTAINER or CONTAINER:ro|rw`);
  if (mode === undefined) return { container };
  if (mode !== "ro" && mode !== "rw") throw invalid(`invalid mode for volumes-from: ${mode} (use ro or rw)`);
  return { container, mode };
}

/** A port as `--expose` takes it (`80`, `53/udp`), keyed as Docker keys it: `80/tcp`. */
function exposedPort(port: string): string {
  const match = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(port.trim());
  if (!match || Number(match[1]) > 65535)
    throw invalid(`invalid port "${port}": use a number with /tcp, /udp or /sctp`);
  return `${Number(match[1])}/${(match[2] ?? "tcp").toLowerCase()}`;
}
