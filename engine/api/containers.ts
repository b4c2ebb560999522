// Container routes: create (Docker's ContainerConfig + HostConfig → RunOptions, refusing what Drydock cannot do),
// start, stop, kill, restart, pause, unpause, wait, attach (hijacked), resize, logs, json, inspect, top, stats, delete.
import type { Context, Hono } from "hono";
import type {
  BlockIo,
  CgroupSample,
  ContainerDetails,
  ContainerService,
  ContainerSummary,
  ExitInfo,
  LogEntry,
  RunOptions,
  WaitCondition,
} from "../container-service.ts";
import { WASI_RUNTIME } from "../container-service.ts";
import { encodeFrame, humanDuration } from "../conventions/index.ts";
import { EngineError, isEngineError } from "../errors.ts";
import { readPortBindings } from "../network/index.ts";
import { familiarReference } from "../oci/index.ts";
import { checkRestartPolicy } from "../runtime/index.ts";
import { type ContainerMount, mountsOfCreateBody } from "../volumes/index.ts";
import {
  type ApiOptions,
  dockerReference,
  empty,
  flag,
  goTime,
  json,
  jsonBody,
  requestApiVersion,
  requireContainers,
  unixSeconds,
  withContainer,
} from "./common.ts";
import { acceptFilters, invalidFilterValue, labelsMatch, parseFilters } from "./filters.ts";
import { containerNetworksJson, endpointConfigOf, portBindingsJson, portListJson, portMapJson } from "./networks.ts";
import { detachKeysParam, hijacked, pumpStdin, streamContentType } from "./streams.ts";

/** What a container was created with through the API, kept to answer inspect as Docker does. */
export interface CreateRequest {
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  stdinOnce: boolean;
}

/** A container's state as dockerd names it: `restarting` while its restart policy waits to start it again. */
function stateName(container: ContainerSummary): string {
  if (container.restarting) return "restarting";
  return container.status === "removed" ? "removing" : container.status;
}

/** A container as `GET /containers/json` lists it. */
export function containerJson(
  container: ContainerSummary,
  details?: { startedAt?: number; exitCode?: number; finishedAt?: number },
) {
  const now = Date.now();
  let status = "Created";
  if (container.status === "running") status = `Up ${humanDuration(now - (details?.startedAt ?? container.created))}`;
  else if (container.status === "paused")
    status = `Up ${humanDuration(now - (details?.startedAt ?? container.created))} (Paused)`;
  else if (container.restarting)
    status = `Restarting (${details?.exitCode ?? 0}) ${humanDuration(now - (details?.finishedAt ?? now))} ago`;
  else if (container.status === "exited")
    status = `Exited (${details?.exitCode ?? 0}) ${humanDuration(now - (details?.finishedAt ?? now))} ago`;
  return {
    Id: container.id,
    Names: [`/${container.name}`],
    Image: container.image,
    ImageID: container.imageId,
    // As dockerd lists it: an argument with a space in single quotes.
    Command: container.command.map((arg) => (arg.includes(" ") ? `'${arg}'` : arg)).join(" "),
    Created: unixSeconds(container.created),
    // A running container lists its published ports with their host side and what else it exposes, as `80/tcp`.
    Ports:
      container.status === "running" || container.status === "paused"
        ? portListJson(container.exposedPorts, container.network.ports)
        : [],
    Labels: container.labels,
    State: stateName(container),
    Status: status,
    HostConfig: { NetworkMode: container.network.mode },
    NetworkSettings: { Networks: containerNetworksJson(container.network, container) },
    Mounts: [],
  };
}

/** The filters `GET /containers/json` takes, as dockerd lists them. */
const CONTAINER_FILTERS = [
  "ancestor",
  "before",
  "expose",
  "exited",
  "health",
  "id",
  "isolation",
  "is-task",
  "label",
  "name",
  "network",
  "publish",
  "since",
  "status",
  "volume",
] as const;

/** The states a container can be in, as `--filter status=` names them. */
const CONTAINER_STATES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/** Whether a container's exposed ports include one a `--filter expose=` value names (`80`, `80/tcp`, `8000-8080`). */
function exposes(ports: string[], wanted: string): boolean {
  const match = /^(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(wanted);
  if (!match) throw invalidFilterValue("expose", [wanted]);
  const low = Number(match[1]);
  const high = Number(match[2] ?? match[1]);
  const protocol = match[3] ?? "tcp";
  return ports.some((port) => {
    const [number, type] = port.split("/");
    return type === protocol && Number(number) >= low && Number(number) <= high;
  });
}

/** `--filter network=`: a network by name or id that the container is on (`none`/`host` by its mode). */
function onNetwork(container: ContainerSummary, ref: string): boolean {
  if (container.network.mode === ref) return true;
  return container.network.networks.some(({ network }) => network.name === ref || network.id.startsWith(ref));
}

/** `--filter publish=`: a published container port (`80`, `80/tcp`, `8000-8080`), while it runs. */
function publishes(container: ContainerSummary, wanted: string): boolean {
  return exposes(
    container.network.ports.map((port) => `${port.containerPort}/${port.proto}`),
    wanted,
  );
}

const SIGNALS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  WINCH: 28,
};

/**
 * A signal as `docker kill --signal` takes it: a number, `KILL` or `SIGKILL`.
 * @example
 * parseSignal("SIGTERM"); // 15
 */
export function parseSignal(value: string | undefined, fallback = 9): number {
  if (value === undefined || value === "") return fallback;
  if (/^\d+$/.test(value)) {
    const number = Number(value);
    if (number >= 1 && number <= 64) return number;
  } else {
    const number = SIGNALS[value.toUpperCase().replace(/^SIG/, "")];
    if (number !== undefined) return number;
  }
  throw new EngineError("invalidArgument", `Invalid signal: ${value}`);
}

type Body = Record<string, unknown>;

const strings = (value: unknown, field: string): string[] | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value as string[];
  throw new EngineError("invalidArgument", `${field} must be a list of strings`);
};
const numberOf = (value: unknown, field: string): number | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value))
    throw new EngineError("invalidArgument", `${field} must be a number`);
  return value;
};

/**
 * Docker's create body as Drydock's run options. What Drydock cannot do (published ports, volumes and binds,
 * networks) is refused with a message that says so, rather than silently ignored.
 * @example
 * createOptions({ Image: "busybox", Cmd: ["sleep", "9"], HostConfig: { Memory: 33554432 } }, "web");
 * // { cmd: ["sleep", "9"], memory: 33554432, name: "web", … }
 */
export function createOptions(body: Body, name: string | undefined): RunOptions {
  const host = (body.HostConfig ?? {}) as Body;
  if (typeof host !== "object") throw new EngineError("invalidArgument", "HostConfig must be an object");
  const options: RunOptions = {};
  if (host.VolumesFrom !== undefined && host.VolumesFrom !== null) {
    if (!Array.isArray(host.VolumesFrom) || host.VolumesFrom.some((from) => typeof from !== "string"))
      throw new EngineError("invalidArgument", "HostConfig.VolumesFrom must be a list of strings");
    if (host.VolumesFrom.length) options.volumesFrom = host.VolumesFrom as string[];
  }
  const restartPolicy = checkRestartPolicy((host.RestartPolicy ?? undefined) as Body | undefined);
  if (restartPolicy.name !== "no") options.restartPolicy = restartPolicy;
  if (typeof host.NetworkMode === "string" && host.NetworkMode) options.networkMode = host.NetworkMode;
  const networking = (body.NetworkingConfig ?? {}) as Body;
  const endpoints = (networking.EndpointsConfig ?? {}) as Body;
  if (typeof endpoints !== "object" || Array.isArray(endpoints))
    throw new EngineError("invalidArgument", "NetworkingConfig.EndpointsConfig must be an object");
  if (Object.keys(endpoints).length > 1) {
    throw new EngineError(
      "invalidArgument",
      "Container cannot be connected to network endpoints: give one network at create, then docker network connect",
    );
  }
  if (Object.keys(endpoints).length) {
    options.endpoints = Object.fromEntries(
      Object.entries(endpoints).map(([network, config]) => [network, endpointConfigOf(config)]),
    );
  }
  const bindings = readPortBindings(host.PortBindings);
  if (Object.keys(bindings).length) options.portBindings = bindings;
  if (host.PublishAllPorts === true) options.publishAllPorts = true;
  for (const [field, key] of [
    ["ExtraHosts", "extraHosts"],
    ["Dns", "dns"],
    ["DnsSearch", "dnsSearch"],
    ["DnsOptions", "dnsOptions"],
  ] as const) {
    const list = strings(host[field], `HostConfig.${field}`);
    if (list?.length) options[key] = list;
  }
  const cmd = strings(body.Cmd, "Cmd");
  if (cmd?.length) options.cmd = cmd;
  const entrypoint = strings(body.Entrypoint, "Entrypoint");
  // `--entrypoint ""` arrives as [""]: no entrypoint at all.
  if (entrypoint)
    options.entrypoint = entrypoint.filter((part, index) => !(index === 0 && part === "" && entrypoint.length === 1));
  const env = strings(body.Env, "Env");
  if (env?.length) options.env = env;
  if (typeof body.WorkingDir === "string" && body.WorkingDir) options.workdir = body.WorkingDir;
  if (typeof body.User === "string" && body.User) options.user = body.User;
  if (typeof body.Hostname === "string" && body.Hostname) options.hostname = body.Hostname;
  if (body.Tty === true) options.tty = true;
  if (body.OpenStdin === true) options.openStdin = true;
  const memory = numberOf(host.Memory, "HostConfig.Memory");
  if (memory) options.memory = memory;
  const nanoCpus = numberOf(host.NanoCpus, "HostConfig.NanoCpus");
  const quota = numberOf(host.CpuQuota, "HostConfig.CpuQuota");
  const period = numberOf(host.CpuPeriod, "HostConfig.CpuPeriod");
  if (nanoCpus) options.cpus = nanoCpus / 1e9;
  else if (quota && quota > 0) options.cpus = quota / (period || 100_000);
  const pids = numberOf(host.PidsLimit, "HostConfig.PidsLimit");
  if (pids !== undefined) options.pidsLimit = pids;
  if (host.AutoRemove === true) options.rm = true;
  if (typeof host.Runtime === "string" && host.Runtime) options.runtime = host.Runtime;
  const capAdd = strings(host.CapAdd, "HostConfig.CapAdd");
  if (capAdd?.length) options.capAdd = capAdd;
  const capDrop = strings(host.CapDrop, "HostConfig.CapDrop");
  if (capDrop?.length) options.capDrop = capDrop;
  if (host.Privileged === true) options.privileged = true;
  const securityOpt = strings(host.SecurityOpt, "HostConfig.SecurityOpt");
  if (securityOpt?.length) options.securityOpt = securityOpt;
  if (host.ReadonlyRootfs === true) options.readonlyRootfs = true;
  if (host.Devices !== undefined && host.Devices !== null) {
    if (!Array.isArray(host.Devices)) throw new EngineError("invalidArgument", "HostConfig.Devices must be a list");
    options.devices = host.Devices.map((entry: unknown) => {
      const device = (entry ?? {}) as Body;
      const text = (key: string) => (typeof device[key] === "string" ? (device[key] as string) : "");
      return {
        pathOnHost: text("PathOnHost"),
        pathInContainer: text("PathInContainer"),
        cgroupPermissions: text("CgroupPermissions"),
      };
    });
  }
  const stopTimeout = numberOf(body.StopTimeout, "StopTimeout");
  if (stopTimeout !== undefined) options.stopTimeout = stopTimeout;
  const size = host.ConsoleSize;
  if (Array.isArray(size) && size.length === 2 && Number(size[0]) > 0 && Number(size[1]) > 0) {
    options.consoleSize = { rows: Number(size[0]), cols: Number(size[1]) };
  }
  const labels = body.Labels;
  if (labels !== undefined && labels !== null) {
    if (
      typeof labels !== "object" ||
      Array.isArray(labels) ||
      !Object.values(labels).every((v) => typeof v === "string")
    )
      throw new EngineError("invalidArgument", "Labels must be an object of strings");
    options.labels = labels as Record<string, string>;
  }
  const exposed = body.ExposedPorts;
  if (exposed && typeof exposed === "object" && !Array.isArray(exposed)) options.exposedPorts = Object.keys(exposed);
  if (name) options.name = name.replace(/^\//, "");
  const mounts = mountsOfCreateBody(body, host);
  if (mounts.length) options.mounts = mounts;
  return options;
}

/** A container's mounts as inspect's Mounts lists them. */
export function mountsJson(mounts: readonly ContainerMount[]) {
  return mounts.map((mount) => ({
    Type: mount.type,
    ...(mount.name ? { Name: mount.name } : {}),
    Source: mount.hostPath ?? mount.source,
    Destination: mount.destination,
    ...(mount.type === "volume" ? { Driver: mount.driver ?? "local" } : {}),
    Mode: mount.request.origin === "Binds" ? ((mount.request.raw as string).split(":")[2] ?? "") : "",
    RW: !mount.readonly,
    Propagation: mount.type === "bind" ? "rprivate" : "",
  }));
}

/** The create body's own mount fields, answered back as the client sent them. */
function hostConfigMounts(mounts: readonly ContainerMount[]) {
  const binds = mounts.filter((m) => m.request.origin === "Binds").map((m) => m.request.raw as string);
  const given = mounts.filter((m) => m.request.origin === "Mounts").map((m) => m.request.raw);
  const tmpfs = mounts.filter((m) => m.request.origin === "Tmpfs");
  const volumes = mounts.filter((m) => m.request.origin === "Volumes" || m.request.origin === "image");
  return {
    binds: binds.length ? binds : null,
    mounts: given.length ? given : undefined,
    tmpfs: tmpfs.length
      ? Object.fromEntries(tmpfs.map((m) => [m.destination, String(m.request.raw ?? "")]))
      : undefined,
    volumes: volumes.length ? Object.fromEntries(volumes.map((m) => [m.destination, {}])) : null,
  };
}

/** `docker inspect` of a container: the fields the CLI and people read. */
export function inspectJson(
  details: ContainerDetails,
  request: CreateRequest | undefined,
  execIds: string[] = [],
): Record<string, unknown> {
  const { options, spec } = details;
  const running = details.status === "running" || details.status === "paused";
  const user = spec.process.user.username ?? options.user ?? "";
  const restartPolicy = options.restartPolicy ?? { name: "no", maximumRetryCount: 0 };
  const ports = Object.fromEntries(details.exposedPorts.map((port) => [port, {}]));
  const given = hostConfigMounts(details.mounts);
  return {
    Id: details.id,
    Created: goTime(details.created),
    Path: details.command[0] ?? "",
    Args: details.command.slice(1),
    State: {
      Status: stateName(details),
      // dockerd counts a container waiting for its restart policy as running.
      Running: running || details.restarting,
      Paused: details.status === "paused",
      Restarting: details.restarting,
      OOMKilled: details.exit?.oomKilled ?? false,
      Dead: false,
      Pid: running ? (details.pid ?? 0) : 0,
      ExitCode: details.exit?.code ?? 0,
      Error: details.exit?.error ?? "",
      StartedAt: goTime(details.startedAt),
      FinishedAt: goTime(running ? undefined : details.exit?.finishedAt),
    },
    Image: details.imageId,
    ResolvConfPath: "",
    HostnamePath: "",
    HostsPath: "",
    LogPath: "",
    Name: `/${details.name}`,
    RestartCount: details.restartCount,
    Driver: "overlay",
    Platform: details.runtime === WASI_RUNTIME ? "wasi" : "linux",
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: execIds.length ? execIds : null,
    HostConfig: {
      Binds: given.binds,
      VolumesFrom: options.volumesFrom?.length ? options.volumesFrom : null,
      ...(given.mounts ? { Mounts: given.mounts } : {}),
      ...(given.tmpfs ? { Tmpfs: given.tmpfs } : {}),
      NetworkMode: details.network.mode,
      PortBindings: portBindingsJson(options.portBindings),
      RestartPolicy: { Name: restartPolicy.name, MaximumRetryCount: restartPolicy.maximumRetryCount },
      AutoRemove: options.rm,
      Runtime: details.runtime,
      LogConfig: { Type: "json-file", Config: {} },
      Privileged: options.privileged,
      PublishAllPorts: options.publishAllPorts,
      Dns: options.dns,
      DnsOptions: options.dnsOptions,
      DnsSearch: options.dnsSearch,
      ExtraHosts: options.extraHostsGiven.length ? options.extraHostsGiven : null,
      ReadonlyRootfs: options.readonlyRootfs,
      CapAdd: options.capAdd.length ? options.capAdd : null,
      CapDrop: options.capDrop.length ? options.capDrop : null,
      SecurityOpt: options.securityOpt.length ? options.securityOpt : null,
      Devices: options.devices.map((device) => ({
        PathOnHost: device.pathOnHost,
        PathInContainer: device.pathInContainer,
        CgroupPermissions: device.cgroupPermissions,
      })),
      CgroupnsMode: "private",
      ConsoleSize: [options.consoleSize?.rows ?? 0, options.consoleSize?.cols ?? 0],
      Memory: options.memoryMax ?? 0,
      NanoCpus:
        options.cpuQuota !== undefined ? Math.round((options.cpuQuota / (options.cpuPeriod ?? 100_000)) * 1e9) : 0,
      CpuPeriod: 0,
      CpuQuota: 0,
      PidsLimit: options.pidsMax ?? null,
      CgroupParent: "",
      Init: null,
    },
    GraphDriver: {
      Name: "overlay",
      // Where the overlay's parts are in the guest (`ls` them in a guest shell).
      Data: details.graphDriver.upperDir
        ? {
            LowerDir: details.graphDriver.lowerDir,
            MergedDir: details.graphDriver.mergedDir,
            UpperDir: details.graphDriver.upperDir,
            WorkDir: details.graphDriver.workDir,
          }
        : null,
    },
    Mounts: mountsJson(details.mounts),
    Config: {
      Hostname: spec.hostname ?? "",
      Domainname: "",
      User: user,
      AttachStdin: request?.attachStdin ?? false,
      AttachStdout: request?.attachStdout ?? false,
      AttachStderr: request?.attachStderr ?? false,
      Tty: options.tty,
      OpenStdin: options.openStdin,
      StdinOnce: request?.stdinOnce ?? false,
      Env: spec.process.env,
      Cmd: details.cmd.length ? details.cmd : null,
      Image: details.image,
      Volumes: given.volumes,
      WorkingDir: spec.process.cwd === "/" && !options.workdir ? "" : spec.process.cwd,
      Entrypoint: details.entrypoint.length ? details.entrypoint : null,
      OnBuild: null,
      Labels: details.labels,
      ...(details.exposedPorts.length ? { ExposedPorts: ports } : {}),
      StopTimeout: options.stopTimeoutSeconds,
    },
    NetworkSettings: networkSettingsJson(details, running),
  };
}

/** `ps -ef`'s columns, as dockerd answers `top` without ps_args. */
const TOP_TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

function clock(ticks: number): string {
  const seconds = Math.floor(ticks / 100);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}

/**
 * `ps`'s C column: the share of a CPU a process has used over its life, in whole percent (at most 99), from its CPU
 * time and its age, both in clock ticks.
 * @example
 * cpuPercent(50, 200); // 25
 */
export function cpuPercent(cpuTicks: number, ageTicks: number): number {
  if (!(ageTicks > 0)) return 0;
  return Math.min(99, Math.floor((cpuTicks * 100) / ageTicks));
}

/**
 * Block I/O as dockerd reports it on cgroup v2: io.stat's bytes and operations per device, `read`/`write` entries
 * (what the CLI sums into BLOCK I/O); every list null when the cgroup has no io controller.
 */
function blkioJson(sample: CgroupSample): Record<string, unknown> {
  const entries = (read: keyof BlockIo, write: keyof BlockIo) =>
    sample.io?.flatMap((device) => [
      { major: device.major, minor: device.minor, op: "read", value: device[read] },
      { major: device.major, minor: device.minor, op: "write", value: device[write] },
    ]) ?? null;
  return {
    io_service_bytes_recursive: entries("rbytes", "wbytes"),
    io_serviced_recursive: entries("rios", "wios"),
    io_queue_recursive: null,
    io_service_time_recursive: null,
    io_wait_time_recursive: null,
    io_merged_recursive: null,
    io_time_recursive: null,
    sectors_recursive: null,
  };
}

/** The part of dockerd's stats answer the CLI reads, from two cgroup samples. */
export function statsJson(
  details: ContainerDetails,
  sample: CgroupSample,
  previous: CgroupSample | undefined,
  host: { ncpu: number; memTotal: number },
): Record<string, unknown> {
  // The CLI's CPU %: container CPU time over the host's, both in ns; the guest's time is wall time × CPUs.
  const cpu = (s: CgroupSample) => ({
    cpu_usage: {
      total_usage: (s.cpuStat.usage_usec ?? 0) * 1000,
      usage_in_kernelmode: (s.cpuStat.system_usec ?? 0) * 1000,
      usage_in_usermode: (s.cpuStat.user_usec ?? 0) * 1000,
    },
    system_cpu_usage: s.read * 1_000_000 * host.ncpu,
    online_cpus: host.ncpu,
    throttling_data: {
      periods: s.cpuStat.nr_periods ?? 0,
      throttled_periods: s.cpuStat.nr_throttled ?? 0,
      throttled_time: (s.cpuStat.throttled_usec ?? 0) * 1000,
    },
  });
  return {
    id: details.id,
    name: `/${details.name}`,
    read: new Date(sample.read).toISOString(),
    preread: previous ? new Date(previous.read).toISOString() : "0001-01-01T00:00:00Z",
    pids_stats: { current: sample.pidsCurrent, ...(sample.pidsMax !== undefined ? { limit: sample.pidsMax } : {}) },
    blkio_stats: blkioJson(sample),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu(sample),
    precpu_stats: previous ? cpu(previous) : { cpu_usage: { total_usage: 0 }, throttling_data: {} },
    memory_stats: {
      usage: sample.memoryCurrent,
      stats: sample.memoryStat,
      limit: sample.memoryMax ?? host.memTotal,
    },
    ...(sample.networks ? { networks: sample.networks } : {}),
  };
}

function waitBody(exit: ExitInfo): Record<string, unknown> {
  return { StatusCode: exit.code, Error: exit.error ? { Message: exit.error } : null };
}

/** A container's answer stream of log entries: raw bytes with a tty, frames otherwise, optionally timestamped. */
function entryBytes(entry: LogEntry, tty: boolean, timestamps: boolean): Uint8Array {
  let data = entry.data;
  if (timestamps) {
    const stamp = new Date(entry.time).toISOString().replace("Z", "000000Z");
    const text = new TextDecoder().decode(data);
    const lines = text.split(/(?<=\n)/);
    data = new TextEncoder().encode(lines.map((line) => `${stamp} ${line}`).join(""));
  }
  return tty ? data : encodeFrame(entry.stream, data);
}

/** Splits entries into one entry per line, so `--tail` counts lines as Docker does. */
function lineEntries(entries: LogEntry[]): LogEntry[] {
  const out: LogEntry[] = [];
  const encoder = new TextEncoder();
  for (const entry of entries) {
    const text = new TextDecoder().decode(entry.data);
    for (const line of text.split(/(?<=\n)/)) if (line) out.push({ ...entry, data: encoder.encode(line) });
  }
  return out;
}

/**
 * The container routes, with `created` remembering what each container was created with.
 * @example
 * registerContainerRoutes(app, { images, containers });
 */
export function registerContainerRoutes(
  app: Hono,
  options: ApiOptions,
  execIdsOf: (containerId: string) => string[] = () => [],
): void {
  const created = new Map<string, CreateRequest>();
  const service = () => requireContainers(options);
  /** `ps -s`: bytes in each container's writable layer, and with its image's. */
  const sizesOf = async (list: ContainerSummary[]) => {
    const s = service();
    const images = await options.images.images();
    return Promise.all(
      list.map(async (container) => {
        const rw = await s.diskUsage(container.id).catch(() => 0);
        const image = images.find((candidate) => candidate.id === container.imageId)?.size ?? 0;
        return { SizeRw: rw, SizeRootFs: rw + image };
      }),
    );
  };
  /** Resolves the ref to the container's details (Docker's 404 if none). */
  const find = (c: Context, s: ContainerService = service()) => {
    const ref = c.req.param("id") ?? "";
    return withContainer(ref, () => s.inspect(ref));
  };

  app.get("/containers/json", async (c) => {
    const s = options.containers;
    const filters = parseFilters(c.req.query("filters"));
    acceptFilters(filters, CONTAINER_FILTERS);
    for (const status of filters.status ?? []) {
      if (!CONTAINER_STATES.includes(status)) throw invalidFilterValue("status", [status]);
    }
    const exitCodes = filters.exited?.map((code) => {
      if (!/^-?\d+$/.test(code)) throw invalidFilterValue("exited", filters.exited!);
      return Number(code);
    });
    const health = filters.health ?? [];
    for (const value of health) {
      if (!["starting", "healthy", "unhealthy", "none"].includes(value))
        throw new EngineError("invalidArgument", `Unrecognised filter value for health: ${value}`);
    }
    const names = (filters.name ?? []).map((name) => {
      try {
        return new RegExp(name);
      } catch {
        throw invalidFilterValue("name", [name]);
      }
    });
    const limit = Number(c.req.query("limit") ?? -1);
    // Newest first, as dockerd lists them; before/since count from a container's place in that order.
    let list = [...(s?.list({ all: true }) ?? [])].sort((a, b) => b.created - a.created);
    const place = async (key: "before" | "since") => {
      const ref = filters[key]?.at(-1);
      if (ref === undefined) return undefined;
      const found = await withContainer(ref, () => requireContainers(options).inspect(ref));
      return list.findIndex((container) => container.id === found.id);
    };
    const before = await place("before");
    const since = await place("since");
    // An ancestor is an image, by name or ID: the containers made from it (an unknown image matches nothing).
    const ancestors = await Promise.all(
      (filters.ancestor ?? []).map((ref) =>
        options.images.image(ref).then(
          (image) => image.record.config.digest as string,
          () => undefined,
        ),
      ),
    );
    const all =
      flag(c.req.query("all")) ||
      filters.status !== undefined ||
      before !== undefined ||
      since !== undefined ||
      limit > 0;
    list = list.filter((container, index) => {
      const running = container.status === "running" || container.status === "paused" || container.restarting;
      const details = s?.inspect(container.id);
      return (
        (all || running) &&
        (before === undefined || index > before) &&
        (since === undefined || index < since) &&
        (!filters.status || filters.status.includes(stateName(container))) &&
        (names.length === 0 || names.some((name) => name.test(`/${container.name}`))) &&
        (!filters.id || filters.id.some((id) => container.id.startsWith(id))) &&
        (!filters.ancestor || ancestors.includes(container.imageId)) &&
        labelsMatch(container.labels, filters.label) &&
        (!exitCodes || (container.status === "exited" && exitCodes.includes(details?.exit?.code ?? Number.NaN))) &&
        (!filters.expose || filters.expose.some((port) => exposes(container.exposedPorts, port))) &&
        (health.length === 0 || health.includes("none")) &&
        (!filters.network || filters.network.some((ref) => onNetwork(container, ref))) &&
        (!filters["is-task"] || filters["is-task"].includes("false")) &&
        (!filters.isolation || filters.isolation.includes("default")) &&
        // A volume's name or a mount's path inside the container, as dockerd matches it.
        (!filters.volume ||
          filters.volume.some((v) => details?.mounts.some((m) => m.name === v || m.destination === v))) &&
        (!filters.publish || filters.publish.some((port) => publishes(container, port)))
      );
    });
    if (limit > 0) list = list.slice(0, limit);
    const size = flag(c.req.query("size"));
    const sizes = size ? await sizesOf(list) : undefined;
    return c.json(
      list.map((summary, index) => {
        const details = s?.inspect(summary.id);
        return {
          ...containerJson(summary, {
            startedAt: details?.startedAt,
            exitCode: details?.exit?.code,
            finishedAt: details?.exit?.finishedAt,
          }),
          ...sizes?.[index],
        };
      }),
    );
  });

  app.post("/containers/create", async (c) => {
    const s = service();
    const body = await jsonBody(c);
    const image = body.Image;
    if (typeof image !== "string" || image === "")
      throw new EngineError("invalidArgument", "config.Image is required: the image to run");
    const reference = dockerReference(image);
    const runOptions = createOptions(body, c.req.query("name"));
    const platform = c.req.query("platform");
    if (platform) runOptions.platform = platform;
    let details: ContainerDetails;
    try {
      details = await s.create(image, runOptions);
    } catch (error) {
      // The exact words matter: the docker CLI pulls and retries on this 404.
      if (isEngineError(error, "notFound") && /no such image/i.test(error.message)) {
        throw new EngineError("notFound", `No such image: ${familiarReference(reference)}`, { cause: error });
      }
      if (isEngineError(error, "conflict") && runOptions.name) {
        const holder = s.list({ all: true }).find((container) => container.name === runOptions.name);
        throw new EngineError(
          "conflict",
          `Conflict. The container name "/${runOptions.name}" is already in use by container "${holder?.id ?? ""}". You have to remove (or rename) that container to be able to reuse that name.`,
          { cause: error },
        );
      }
      throw error;
    }
    created.set(details.id, {
      attachStdin: body.AttachStdin === true,
      attachStdout: body.AttachStdout === true,
      attachStderr: body.AttachStderr === true,
      stdinOnce: body.StdinOnce === true,
    });
    return json({ Id: details.id, Warnings: [] }, 201);
  });

  app.get("/containers/:id/json", async (c) => {
    const details = await find(c);
    const answer = inspectJson(details, created.get(details.id), execIdsOf(details.id));
    if (flag(c.req.query("size"))) Object.assign(answer, (await sizesOf([details]))[0]);
    return c.json(answer);
  });

  app.post("/containers/:id/start", async (c) => {
    const s = service();
    const details = await find(c, s);
    if (details.status === "running" || details.status === "paused") return empty(304);
    try {
      await s.start(details.id);
    } catch (error) {
      // The CLI turns "executable file not found" / "permission denied" into exit codes 127 / 126.
      if (isEngineError(error) && /^cannot run /.test(error.message)) {
        const command = details.command[0] ?? "";
        const why =
          error.kind === "unauthorized"
            ? `exec: "${command}": permission denied`
            : `exec: "${command}": executable file not found in $PATH`;
        throw new EngineError("invalidArgument", `failed to create task for container: ${why}: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
    return empty(204);
  });

  app.post("/containers/:id/stop", async (c) => {
    const s = service();
    const details = await find(c, s);
    // One waiting for its restart policy is stopped too: the wait is cancelled.
    if (details.status !== "running" && details.status !== "paused" && !details.restarting) return empty(304);
    const t = c.req.query("t");
    await s.stop(details.id, t !== undefined && t !== "" ? { timeoutSeconds: Math.max(0, Number(t)) } : {});
    return empty(204);
  });

  app.post("/containers/:id/restart", async (c) => {
    const s = service();
    const details = await find(c, s);
    const t = c.req.query("t");
    await s.restart(details.id, t !== undefined && t !== "" ? { timeoutSeconds: Math.max(0, Number(t)) } : {});
    return empty(204);
  });

  app.post("/containers/:id/kill", async (c) => {
    const s = service();
    const details = await find(c, s);
    const signal = parseSignal(c.req.query("signal"));
    if (details.status !== "running" && details.status !== "paused" && !details.restarting) {
      throw new EngineError(
        "conflict",
        `Cannot kill container: ${c.req.param("id")}: Container ${details.id} is not running`,
      );
    }
    await s.kill(details.id, signal);
    return empty(204);
  });

  app.post("/containers/:id/pause", async (c) => {
    const s = service();
    const details = await find(c, s);
    if (details.status === "paused") throw new EngineError("conflict", `Container ${details.id} is already paused`);
    if (details.status !== "running") throw new EngineError("conflict", `Container ${details.id} is not running`);
    await s.pause(details.id);
    return empty(204);
  });

  app.post("/containers/:id/unpause", async (c) => {
    const s = service();
    const details = await find(c, s);
    if (details.status !== "paused") throw new EngineError("conflict", `Container ${details.id} is not paused`);
    await s.unpause(details.id);
    return empty(204);
  });

  app.post("/containers/:id/wait", async (c) => {
    const s = service();
    const details = await find(c, s);
    const condition = (c.req.query("condition") || "not-running") as WaitCondition;
    if (!["not-running", "next-exit", "removed"].includes(condition)) {
      throw new EngineError("invalidArgument", `invalid condition: "${condition}" (not-running, next-exit or removed)`);
    }
    // The wait begins now, before the answer's head goes out: the CLI starts the container once it has the head.
    const exited = s.waitFor(details.id, condition);
    const encoder = new TextEncoder();
    let open = true;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        void exited.then((exit) => {
          // The client may have gone meanwhile (its answer was cancelled): nobody to tell.
          if (!open) return;
          controller.enqueue(encoder.encode(`${JSON.stringify(waitBody(exit))}\n`));
          controller.close();
        });
      },
      cancel: () => {
        open = false;
      },
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  });

  app.post("/containers/:id/attach", async (c) => {
    const s = service();
    const details = await find(c, s);
    const id = details.id;
    const tty = details.options.tty;
    const wantStdin = flag(c.req.query("stdin"));
    const wantStdout = flag(c.req.query("stdout"));
    const wantStderr = flag(c.req.query("stderr"));
    const withLogs = flag(c.req.query("logs"));
    const streaming = c.req.query("stream") === undefined || flag(c.req.query("stream"));
    const detachKeys = detachKeysParam(c.req.query("detachKeys"));
    const kept = withLogs ? await collect(s.logs(id)) : [];
    const live = streaming ? s.attachOutput(id) : undefined;
    s.event(id, "attach");
    const wanted = (entry: LogEntry) => (entry.stream === "stdout" ? wantStdout : wantStderr);
    let finished!: () => void;
    const done = new Promise<void>((resolve) => {
      finished = resolve;
    });
    const reader = live?.getReader();
    let keptNext = 0;
    // Read as the client reads: a client that stops reading leaves the container's output waiting in the engine's
    // log buffer, which then holds the container's writes up (as dockerd's attach does), instead of queueing here.
    const body = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          while (keptNext < kept.length) {
            const entry = kept[keptNext++]!;
            if (wanted(entry)) {
              controller.enqueue(entryBytes(entry, tty, false));
              return;
            }
          }
          if (reader) {
            try {
              for (let next = await reader.read(); !next.done; next = await reader.read()) {
                if (wanted(next.value)) {
                  controller.enqueue(entryBytes(next.value, tty, false));
                  return;
                }
              }
            } catch {
              // The container went away.
            }
          }
          finished();
          controller.close();
        },
        cancel: () => {
          // The client went away: let go of the container's output.
          void reader?.cancel().catch(() => {});
          finished();
        },
      },
      { highWaterMark: 0 },
    );
    if (wantStdin && streaming && (details.options.openStdin || tty)) {
      const stdinOnce = created.get(id)?.stdinOnce ?? false;
      // As dockerd: with a tty, the end of the client's input (or its detach keys) ends this attach, not the
      // container's stdin, so a shell survives its user detaching.
      const endAttach = () => void reader?.cancel().catch(() => {});
      void runningOf(s, id, done).then((running) => {
        if (!running) return;
        return pumpStdin(
          c.req.raw.body,
          (bytes) => s.writeStdin(id, bytes),
          () => {
            if (tty) endAttach();
            else if (stdinOnce) tryClose(s, id);
          },
          done,
          tty ? { keys: detachKeys, onDetach: endAttach } : undefined,
        );
      });
    }
    return hijacked(body, streamContentType(tty, requestApiVersion(c)));
  });

  app.post("/containers/:id/resize", async (c) => {
    const s = service();
    const details = await find(c, s);
    const rows = Number(c.req.query("h"));
    const cols = Number(c.req.query("w"));
    if (!(rows > 0 && cols > 0)) throw new EngineError("invalidArgument", "h and w must be positive numbers");
    if (details.status !== "running") throw new EngineError("conflict", `Container ${details.id} is not running`);
    s.resize(details.id, rows, cols);
    return empty(200);
  });

  app.get("/containers/:id/logs", async (c) => {
    const s = service();
    const details = await find(c, s);
    const tty = details.options.tty;
    const stdout = flag(c.req.query("stdout"));
    const stderr = flag(c.req.query("stderr"));
    if (!stdout && !stderr)
      throw new EngineError("invalidArgument", "Bad parameters: you must choose at least one stream");
    const follow = flag(c.req.query("follow"));
    const timestamps = flag(c.req.query("timestamps"));
    const tailText = c.req.query("tail") ?? "all";
    const tail = tailText === "all" || tailText === "" ? undefined : Number(tailText);
    const sinceText = c.req.query("since");
    const since = sinceText && Number(sinceText) > 0 ? Number(sinceText) * 1000 : undefined;
    const untilText = c.req.query("until");
    const until = untilText && Number(untilText) > 0 ? Number(untilText) * 1000 : undefined;
    // Both reads start in this tick, so the follower's first entries are exactly the kept ones.
    const readOptions = since !== undefined ? { since } : {};
    const snapshot = s.logs(details.id, readOptions);
    const stream = s.logs(details.id, { ...readOptions, follow });
    const keptCount = (await collect(snapshot)).length;
    const wanted = (entry: LogEntry) =>
      (entry.stream === "stdout" ? stdout : stderr) && (until === undefined || entry.time <= until);
    const reader = stream.getReader();
    const body = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        const kept: LogEntry[] = [];
        for (let i = 0; i < keptCount; i++) {
          const next = await reader.read();
          if (next.done) break;
          kept.push(next.value);
        }
        let lines = lineEntries(kept.filter(wanted));
        if (tail !== undefined && Number.isFinite(tail)) lines = tail > 0 ? lines.slice(-tail) : [];
        for (const entry of lines) controller.enqueue(entryBytes(entry, tty, timestamps));
        try {
          for (let next = await reader.read(); !next.done; next = await reader.read()) {
            if (wanted(next.value)) controller.enqueue(entryBytes(next.value, tty, timestamps));
          }
        } catch {
          // The container went away.
        }
        controller.close();
      },
      // The follower's stream is locked by the reader: cancel through it (the client went away), which also ends
      // the follower's subscription.
      cancel: () => void reader.cancel().catch(() => {}),
    });
    return new Response(body, { headers: { "content-type": streamContentType(tty, requestApiVersion(c)) } });
  });

  app.get("/containers/:id/changes", async (c) => {
    const s = service();
    const details = await find(c, s);
    const kinds = { C: 0, A: 1, D: 2 } as const;
    const changes = await s.changes(details.id);
    // dockerd answers null, not [], for a container that changed nothing.
    return c.json(changes.length ? changes.map(({ kind, path }) => ({ Path: path, Kind: kinds[kind] })) : null);
  });

  app.get("/containers/:id/top", async (c) => {
    const s = service();
    const details = await find(c, s);
    if (details.status !== "running" && details.status !== "paused") {
      throw new EngineError("conflict", `Container ${details.id} is not running`);
    }
    const [processes, uptime] = await Promise.all([s.top(details.id), uptimeMs(s)]);
    const boot = Date.now() - uptime;
    return c.json({
      Titles: TOP_TITLES,
      Processes: processes.map((p) => [
        p.uid === 0 ? "root" : String(p.uid),
        String(p.pid),
        String(p.ppid),
        String(cpuPercent(p.utime + p.stime, uptime / 10 - p.startTime)),
        new Date(boot + p.startTime * 10).toISOString().slice(11, 16),
        p.ttyNr ? `pts/${p.ttyNr & 0xff}` : "?",
        clock(p.utime + p.stime),
        p.command,
      ]),
    });
  });

  app.get("/containers/:id/stats", async (c) => {
    const s = service();
    const details = await find(c, s);
    const host = await s.host();
    const stream = c.req.query("stream") === undefined || flag(c.req.query("stream"));
    const oneShot = flag(c.req.query("one-shot"));
    const running = () => {
      const status = s.list({ all: true }).find((container) => container.id === details.id)?.status;
      return status === "running" || status === "paused";
    };
    const sample = async () => (running() ? s.stats(details.id) : undefined);
    const idle = (): CgroupSample => ({
      read: Date.now(),
      memoryCurrent: 0,
      memoryStat: {},
      cpuStat: {},
      pidsCurrent: 0,
    });
    if (!stream) {
      const first = (await sample()) ?? idle();
      if (oneShot) return c.json(statsJson(details, first, undefined, host));
      // dockerd's single answer carries the previous reading too, so the CLI can compute a CPU percentage.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const second = (await sample()) ?? idle();
      return c.json(statsJson(details, second, first, host));
    }
    const encoder = new TextEncoder();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let previous: CgroupSample | undefined;
        const tick = async () => {
          if (stopped) return;
          try {
            const current = (await sample()) ?? idle();
            controller.enqueue(encoder.encode(`${JSON.stringify(statsJson(details, current, previous, host))}\n`));
            previous = current;
            timer = setTimeout(tick, 1000);
          } catch {
            // A sample that failed ends the stream; an answer cancelled meanwhile is already over.
            if (!stopped) controller.close();
          }
        };
        void tick();
      },
      cancel: () => {
        stopped = true;
        clearTimeout(timer);
      },
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  });

  // `docker container prune`: every stopped container goes, with what its upper layer held.
  app.post("/containers/prune", async (c) => {
    const s = service();
    const filters = parseFilters(c.req.query("filters"));
    acceptFilters(filters, ["label"]);
    const stopped = s
      .list({ all: true })
      .filter((container) => container.status !== "running" && container.status !== "paused" && !container.restarting)
      .filter((container) => labelsMatch(container.labels, filters.label));
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const container of stopped) {
      const size = await s.diskUsage(container.id).catch(() => 0);
      await s.remove(container.id);
      created.delete(container.id);
      deleted.push(container.id);
      reclaimed += size;
    }
    return c.json({ ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed });
  });

  app.delete("/containers/:id", async (c) => {
    const s = service();
    const details = await find(c, s);
    const force = flag(c.req.query("force"));
    if (!force && (details.status === "running" || details.status === "paused")) {
      throw new EngineError(
        "conflict",
        `You cannot remove a ${details.status} container ${details.id}. Stop the container before attempting removal or force remove`,
      );
    }
    await s.remove(details.id, { force, volumes: flag(c.req.query("v")) });
    created.delete(details.id);
    return empty(204);
  });
}

/** Waits until the container's task runs (now, or at its next start); false if `done` comes first. */
function runningOf(s: ContainerService, id: string, done: Promise<void>): Promise<boolean> {
  const status = () => s.list({ all: true }).find((container) => container.id === id)?.status;
  if (status() === "running") return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const off = s.events.on((event) => {
      if (event.type === "container" && event.id === id && event.action === "start") {
        off();
        resolve(true);
      }
    });
    void done.then(() => {
      off();
      resolve(false);
    });
  });
}

function tryClose(s: ContainerService, id: string): void {
  try {
    s.closeStdin(id);
  } catch {
    // Already gone.
  }
}

async function collect(stream: ReadableStream<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for (const reader = stream.getReader(); ; ) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

/** The guest's uptime, to turn a process's start (ticks since boot) into a clock time. */
async function uptimeMs(s: ContainerService): Promise<number> {
  try {
    const text = new TextDecoder().decode(await s.drydock.agent.readFile("/proc/uptime"));
    return Number(text.split(" ")[0]) * 1000;
  } catch {
    return 0;
  }
}

/** Inspect's NetworkSettings: the sandbox, published ports, each network's endpoint; the top-level address fields
 * are the default bridge's endpoint's, as dockerd fills them. */
function networkSettingsJson(details: ContainerDetails, running: boolean) {
  const bridge = details.network.networks.find((n) => n.network.name === "bridge")?.endpoint;
  const sandbox = running ? details.spec.linux.namespaces.find((ns) => ns.type === "network")?.path : undefined;
  return {
    Bridge: "",
    SandboxID: sandbox ? details.id : "",
    SandboxKey: sandbox ?? "",
    Ports: running ? portMapJson(details.exposedPorts, details.network.ports) : {},
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: bridge?.id ?? "",
    Gateway: bridge?.gateway ?? "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: bridge?.ip ?? "",
    IPPrefixLen: bridge?.prefix ?? 0,
    IPv6Gateway: "",
    MacAddress: bridge?.mac ?? "",
    Networks: containerNetworksJson(details.network, details),
  };
}
