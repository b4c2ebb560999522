// What a user asks for (`docker run` flags), and its validation. Validation is separate from translation: it turns
// loose input ("32m", "0.5", "1000:1000") into checked values or an invalidArgument error that names the flag, and
// createRuntimeSpec only ever sees checked values.
import { EngineError } from "../errors.ts";

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
  /** `--user`: `uid`, `uid:gid`, or `root`. */
  user?: string;
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
  /** `--label`: added to (or replacing) the image's labels. */
  labels?: Record<string, string>;
  /** `--expose`: ports such as `80/tcp`, added to the image's exposed ports. */
  exposedPorts?: string[];
  /** `--runtime`: `drydock` (or `runc`) for the guest, `wasi` for WebAssembly; by default the image's platform decides. */
  runtime?: string;
  /** `--platform`: the image must be this one (`wasi/wasm`, `linux/386`). */
  platform?: string;
}

/** Run options after validation: every value checked and in the unit the kernel wants. */
export interface ValidRunOptions {
  cmd?: string[];
  entrypoint?: string[];
  env: string[];
  workdir?: string;
  user?: { uid: number; gid: number };
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
  labels: Record<string, string>;
  /** `port/protocol`, as Docker keys them. */
  exposedPorts: string[];
}

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
  };
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
  if (options.user !== undefined) valid.user = parseUser(options.user);
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
  return valid;
}

/** A port as `--expose` takes it (`80`, `53/udp`), keyed as Docker keys it: `80/tcp`. */
function exposedPort(port: string): string {
  const match = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(port.trim());
  if (!match || Number(match[1]) > 65535)
    throw invalid(`invalid port "${port}": use a number with /tcp, /udp or /sctp`);
  return `${Number(match[1])}/${(match[2] ?? "tcp").toLowerCase()}`;
}

/** `uid`, `uid:gid` or `root`. Names other than root need the image's /etc/passwd, which Drydock does not read yet. */
export function parseUser(user: string): { uid: number; gid: number } {
  if (user === "" || user === "root") return { uid: 0, gid: 0 };
  const match = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!match) throw invalid(`invalid user "${user}": use uid or uid:gid (user names are not supported yet)`);
  const uid = Number(match[1]);
  // Docker gives a uid without a group gid 0 when the image does not know the user.
  const gid = match[2] === undefined ? 0 : Number(match[2]);
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw invalid(`invalid user "${user}": out of range`);
  return { uid, gid };
}
