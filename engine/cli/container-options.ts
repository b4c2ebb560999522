// The flags `docker create` and `docker run` share, and their translation into the Engine API's create body
// (Config + HostConfig). Validation errors are flag errors, as in docker (exit 125 with "See '… --help'").

import { ramInBytes } from "../conventions/index.ts";
import { familiarReference } from "../oci/index.ts";
import type { CommonContext } from "./command.ts";
import { CliError, DaemonError } from "./errors.ts";
import { FlagError, type FlagSpec, type FlagValues } from "./flags.ts";
import { type JsonMessage, JsonMessageRenderer, jsonLines } from "./jsonmessage.ts";
import { type ApiMount, parseMountOption } from "./mount-option.ts";
import type { Output } from "./output.ts";
import { parsePublish } from "./publish-option.ts";
import { cliReference, familiarName } from "./reference.ts";
import { interruptible } from "./signals.ts";

/** The flags of `docker create`; `docker run` adds -d and friends. */
export const CONTAINER_FLAGS = [
  { name: "add-host", type: "list", help: "Add a custom host-to-IP mapping (host:ip)" },
  { name: "attach", short: "a", type: "list", help: "Attach to STDIN, STDOUT or STDERR" },
  { name: "cap-add", type: "list", help: "Add Linux capabilities" },
  { name: "cap-drop", type: "list", help: "Drop Linux capabilities" },
  { name: "cpus", type: "string", valueName: "decimal", help: "Number of CPUs" },
  { name: "device", type: "list", help: "Add a host device to the container" },
  { name: "dns", type: "list", help: "Set custom DNS servers" },
  { name: "dns-option", type: "list", help: "Set DNS options" },
  { name: "dns-search", type: "list", help: "Set custom DNS search domains" },
  { name: "entrypoint", type: "string", help: "Overwrite the default ENTRYPOINT of the image" },
  { name: "env", short: "e", type: "list", help: "Set environment variables" },
  { name: "hostname", short: "h", type: "string", help: "Container host name" },
  { name: "interactive", short: "i", type: "bool", help: "Keep STDIN open even if not attached" },
  { name: "ip", type: "string", help: "IPv4 address (e.g., 172.30.100.104)" },
  { name: "label", short: "l", type: "list", help: "Set meta data on a container" },
  { name: "memory", short: "m", type: "string", valueName: "bytes", help: "Memory limit" },
  { name: "mount", type: "list", valueName: "mount", help: "Attach a filesystem mount to the container" },
  { name: "name", type: "string", help: "Assign a name to the container" },
  { name: "network", type: "string", help: "Connect a container to a network" },
  { name: "net", type: "string", help: "Connect a container to a network", hidden: true },
  { name: "network-alias", type: "list", help: "Add network-scoped alias for the container" },
  { name: "net-alias", type: "list", help: "Add network-scoped alias for the container", hidden: true },
  { name: "pids-limit", type: "int", help: "Tune container pids limit (set -1 for unlimited)" },
  { name: "platform", type: "string", help: "Set platform if server is multi-platform capable" },
  { name: "privileged", type: "bool", help: "Give extended privileges to this container" },
  { name: "publish", short: "p", type: "list", help: "Publish a container's port(s) to the host" },
  { name: "publish-all", short: "P", type: "bool", help: "Publish all exposed ports to random ports" },
  { name: "pull", type: "string", default: "missing", help: 'Pull image before running ("always"|"missing"|"never")' },
  { name: "read-only", type: "bool", help: "Mount the container's root filesystem as read only" },
  {
    name: "restart",
    type: "string",
    default: "no",
    help: "Restart policy to apply when a container exits",
  },
  { name: "rm", type: "bool", help: "Automatically remove the container when it exits" },
  { name: "runtime", type: "string", help: "Runtime to use for this container" },
  { name: "security-opt", type: "list", help: "Security Options" },
  { name: "tmpfs", type: "list", help: "Mount a tmpfs directory" },
  { name: "tty", short: "t", type: "bool", help: "Allocate a pseudo-TTY" },
  { name: "user", short: "u", type: "string", help: "Username or UID (format: <name|uid>[:<group|gid>])" },
  { name: "volume", short: "v", type: "list", help: "Bind mount a volume" },
  { name: "volumes-from", type: "list", help: "Mount volumes from the specified container(s)" },
  { name: "workdir", short: "w", type: "string", help: "Working directory inside the container" },
  { name: "help", type: "bool", help: "Print usage" },
] as const satisfies readonly FlagSpec[];

type ContainerFlags = FlagValues<typeof CONTAINER_FLAGS>;

/** The create body: docker's container.Config with its HostConfig inside. */
export interface CreateBody {
  Image: string;
  Cmd: string[] | null;
  Entrypoint: string[] | null;
  Env: string[];
  WorkingDir: string;
  User: string;
  Hostname: string;
  Labels: Record<string, string>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  /** Anonymous volumes (`-v /data`). */
  Volumes?: Record<string, Record<string, never>>;
  /** Ports published with -p are exposed too. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** The network's `--network-alias` and `--ip`. */
  NetworkingConfig?: {
    EndpointsConfig: Record<string, { Aliases?: string[]; IPAMConfig?: { IPv4Address: string } }>;
  };
  HostConfig: {
    Memory: number;
    NanoCpus: number;
    PidsLimit: number | null;
    AutoRemove: boolean;
    Runtime?: string;
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
    PublishAllPorts?: boolean;
    ExtraHosts?: string[];
    Dns?: string[];
    DnsOptions?: string[];
    DnsSearch?: string[];
    Binds?: string[];
    Mounts?: ApiMount[];
    Tmpfs?: Record<string, string>;
    NetworkMode?: string;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    Privileged: boolean;
    SecurityOpt: string[] | null;
    Devices: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[];
    ReadonlyRootfs: boolean;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    VolumesFrom?: string[];
  };
}

/**
 * `--restart NAME[:COUNT]`, split as docker's client splits it (the daemon checks the name and the count).
 * @example
 * parseRestartFlag("on-failure:3"); // { Name: "on-failure", MaximumRetryCount: 3 }
 */
export function parseRestartFlag(value: string): { Name: string; MaximumRetryCount: number } {
  const colon = value.indexOf(":");
  const name = colon < 0 ? value : value.slice(0, colon);
  const count = colon < 0 ? "" : value.slice(colon + 1);
  if (count !== "" && !/^[+-]?\d+$/.test(count)) {
    throw new FlagError("invalid restart policy format: maximum retry count must be an integer");
  }
  return { Name: name, MaximumRetryCount: count === "" ? 0 : Number(count) };
}

/** `-v`: a spec with a source goes to Binds, a path alone (`/data`, `/data:ro`) to Config.Volumes, as docker splits them. */
function volumeFlags(volumes: string[]): { binds: string[]; anonymous: string[] } {
  const binds: string[] = [];
  const anonymous: string[] = [];
  for (const spec of volumes) {
    if (spec === "") throw new FlagError(`invalid argument "" for "-v, --volume" flag: invalid empty volume spec`);
    const parts = spec.split(":");
    // `/data:ro` is a path with a mode; `data:relative` is a named volume with a bad target (the daemon says so).
    const pathWithMode = parts.length === 2 && parts[0]!.startsWith("/") && /^[a-zA-Z,]+$/.test(parts[1]!);
    if (parts.length === 1 || pathWithMode) anonymous.push(parts[0]!);
    else binds.push(spec);
  }
  return { binds, anonymous };
}

/** The flags for ports, volumes and networks, in the create body's own fields. */
function networkAndMountConfig(flags: ContainerFlags): Pick<
  CreateBody,
  "Volumes" | "ExposedPorts" | "NetworkingConfig"
> & {
  HostConfig: Partial<CreateBody["HostConfig"]>;
} {
  const host: Partial<CreateBody["HostConfig"]> = {};
  const extra: Pick<CreateBody, "ExposedPorts" | "NetworkingConfig"> = {};
  const published = parsePublish(flags.publish);
  if (flags.publish.length > 0) {
    host.PortBindings = published.bindings;
    extra.ExposedPorts = Object.fromEntries(published.exposed.map((port) => [port, {}]));
  }
  if (flags["publish-all"]) host.PublishAllPorts = true;
  for (const entry of flags["add-host"]) {
    if (!/^[^:=]+[:=].+$/.test(entry))
      throw new FlagError(`invalid argument "${entry}" for "--add-host" flag: bad format for add-host: "${entry}"`);
  }
  if (flags["add-host"].length) host.ExtraHosts = flags["add-host"].map((entry) => entry.replace("=", ":"));
  if (flags.dns.length) host.Dns = flags.dns;
  if (flags["dns-option"].length) host.DnsOptions = flags["dns-option"];
  if (flags["dns-search"].length) host.DnsSearch = flags["dns-search"];
  const { binds, anonymous } = volumeFlags(flags.volume);
  if (binds.length > 0) host.Binds = binds;
  if (flags["volumes-from"].length > 0) host.VolumesFrom = flags["volumes-from"];
  if (flags.mount.length > 0) host.Mounts = flags.mount.map(parseMountOption);
  if (flags.tmpfs.length > 0) {
    host.Tmpfs = {};
    for (const entry of flags.tmpfs) {
      const colon = entry.indexOf(":");
      host.Tmpfs[colon < 0 ? entry : entry.slice(0, colon)] = colon < 0 ? "" : entry.slice(colon + 1);
    }
  }
  const network = flags.network || flags.net;
  // docker sends `default` when no --network is given.
  host.NetworkMode = network || "default";
  const aliases = [...flags["network-alias"], ...flags["net-alias"]];
  if (aliases.length || flags.ip) {
    if (!network || network === "default" || network === "bridge") {
      throw new FlagError(
        aliases.length
          ? "network-scoped alias is supported only for containers in user defined networks"
          : "user specified IP address is supported on user defined networks only",
      );
    }
    extra.NetworkingConfig = {
      EndpointsConfig: {
        [network]: {
          ...(aliases.length ? { Aliases: aliases } : {}),
          ...(flags.ip ? { IPAMConfig: { IPv4Address: flags.ip } } : {}),
        },
      },
    };
  }
  return {
    ...(anonymous.length > 0 ? { Volumes: Object.fromEntries(anonymous.map((path) => [path, {}])) } : {}),
    ...extra,
    HostConfig: host,
  };
}

/**
 * Translates create/run flags into the create body; `env` resolves `-e NAME` (no value) from the CLI's environment.
 * @example
 * containerConfig({ ...flags, tty: true }, changed, "busybox", ["sh"], {});
 */
export function containerConfig(
  flags: ContainerFlags,
  changed: Set<string>,
  image: string,
  args: string[],
  env: Record<string, string>,
): CreateBody {
  let memory = 0;
  if (flags.memory !== "") {
    const bytes = ramInBytes(flags.memory);
    if (bytes === undefined)
      throw new FlagError(
        `invalid argument "${flags.memory}" for "-m, --memory" flag: invalid size: '${flags.memory}'`,
      );
    memory = bytes;
  }
  let nanoCpus = 0;
  if (flags.cpus !== "") {
    const cpus = Number(flags.cpus);
    if (!/^\d*\.?\d+$/.test(flags.cpus) || !Number.isFinite(cpus))
      throw new FlagError(
        `invalid argument "${flags.cpus}" for "--cpus" flag: failed to parse ${flags.cpus} as a rational number`,
      );
    nanoCpus = Math.round(cpus * 1e9);
  }
  const attach = new Set(flags.attach.map((stream) => stream.toLowerCase()));
  for (const stream of attach) {
    if (stream !== "stdin" && stream !== "stdout" && stream !== "stderr")
      throw new FlagError(
        `invalid argument "${stream}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`,
      );
  }
  const attachAll = attach.size === 0;
  const attachStdin = attach.has("stdin") || (attachAll && flags.interactive);
  const environment: string[] = [];
  for (const entry of flags.env) {
    if (entry.includes("=")) environment.push(entry);
    else if (entry in env) environment.push(`${entry}=${env[entry]}`);
  }
  const devices = flags.device.map(parseDeviceFlag);
  // docker's client spells capabilities CAP_… in upper case before sending them (ALL stays ALL).
  const capabilities = (names: string[]) =>
    names.length
      ? names.map((name) => {
          const upper = name.trim().toUpperCase();
          return upper === "ALL" || upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
        })
      : null;
  const labels: Record<string, string> = {};
  for (const label of flags.label) {
    const equals = label.indexOf("=");
    labels[equals === -1 ? label : label.slice(0, equals)] = equals === -1 ? "" : label.slice(equals + 1);
  }
  const unsupported = networkAndMountConfig(flags);
  const restartPolicy = parseRestartFlag(flags.restart);
  if (flags.rm && restartPolicy.Name !== "" && restartPolicy.Name !== "no") {
    throw new FlagError("Conflicting options: cannot specify both --restart and --rm");
  }
  return {
    ...unsupported,
    Image: image,
    Cmd: args.length > 0 ? args : null,
    Entrypoint: changed.has("entrypoint") ? (flags.entrypoint === "" ? [""] : [flags.entrypoint]) : null,
    Env: environment,
    WorkingDir: flags.workdir,
    User: flags.user,
    Hostname: flags.hostname,
    Labels: labels,
    Tty: flags.tty,
    OpenStdin: flags.interactive,
    StdinOnce: attachStdin && flags.interactive,
    AttachStdin: attachStdin,
    AttachStdout: attachAll || attach.has("stdout"),
    AttachStderr: attachAll || attach.has("stderr"),
    HostConfig: {
      Memory: memory,
      NanoCpus: nanoCpus,
      PidsLimit: changed.has("pids-limit") ? flags["pids-limit"] : null,
      AutoRemove: flags.rm,
      ...(flags.runtime ? { Runtime: flags.runtime } : {}),
      CapAdd: capabilities(flags["cap-add"]),
      CapDrop: capabilities(flags["cap-drop"]),
      Privileged: flags.privileged,
      SecurityOpt: flags["security-opt"].length ? flags["security-opt"] : null,
      Devices: devices,
      ReadonlyRootfs: flags["read-only"],
      RestartPolicy: restartPolicy,
      ...unsupported.HostConfig,
    },
  };
}

/**
 * `--device SRC[:DST][:PERMISSIONS]`, parsed as docker's client parses it (a second part made of r, w and m is the
 * permissions).
 * @example
 * parseDeviceFlag("/dev/null:/dev/mine:r"); // { PathOnHost: "/dev/null", PathInContainer: "/dev/mine", CgroupPermissions: "r" }
 */
export function parseDeviceFlag(value: string): CreateBody["HostConfig"]["Devices"][number] {
  const parts = value.split(":");
  const mode = (text: string) => /^[rwm]{1,3}$/.test(text);
  const bad = (reason: string) => new FlagError(`invalid argument "${value}" for "--device" flag: ${reason}`);
  let permissions = "rwm";
  let dst = "";
  if (parts.length === 3) {
    if (!mode(parts[2]!)) throw bad(`invalid device mode: ${parts[2]}`);
    permissions = parts[2]!;
    dst = parts[1]!;
  } else if (parts.length === 2) {
    if (mode(parts[1]!)) permissions = parts[1]!;
    else dst = parts[1]!;
  } else if (parts.length !== 1) {
    throw bad(`invalid device specification: ${value}`);
  }
  return { PathOnHost: parts[0]!, PathInContainer: dst || parts[0]!, CgroupPermissions: permissions };
}

/**
 * Pulls an image showing docker's progress on `out` (a terminal redraws lines in place); with no `out` the progress
 * is read to its end (an error comes last) but not shown.
 * @example
 * await pullImage(context, "busybox:latest", context.err);
 */
export async function pullImage(
  context: CommonContext,
  image: string,
  out: Pick<Output, "write"> | undefined,
  platform = "",
): Promise<void> {
  const reference = cliReference(image);
  const client = await context.client();
  const body = await client.request("POST", "/images/create", {
    query: {
      fromImage: familiarName(reference),
      tag: reference.digest ?? reference.tag,
      platform: platform || undefined,
    },
  });
  const renderer = new JsonMessageRenderer(context.out.isTerminal, context.io.size()?.cols ?? 200);
  if (!body.body) return;
  try {
    // Ctrl-C stops following the pull (exit 130), as it stops docker's.
    for await (const message of jsonLines(interruptible(context.io, body.body))) {
      const text = renderer.render(message as JsonMessage);
      if (out) await out.write(text);
    }
  } catch (error) {
    if (error instanceof Error && error.name === "JsonMessageError") throw new CliError(error.message);
    throw error;
  }
}

/**
 * docker's createContainer: create, and when the image is missing say so, pull it (progress on stderr) and retry.
 * Returns the new container's id.
 * @example
 * const id = await createContainer(context, body, "web", "missing");
 */
export async function createContainer(
  context: CommonContext,
  body: CreateBody,
  name: string,
  pull: string,
  platform = "",
): Promise<string> {
  const reference = cliReference(body.Image, 125);
  const client = await context.client();
  if (pull !== "always" && pull !== "missing" && pull !== "never")
    throw new CliError(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`, 125);
  const create = () =>
    client.json<{ Id: string; Warnings?: string[] | null }>("POST", "/containers/create", {
      query: { name: name || undefined, platform: platform || undefined },
      body,
    });
  if (pull === "always") await pullImage(context, body.Image, context.err, platform);
  let created: { Id: string; Warnings?: string[] | null };
  try {
    created = await create();
  } catch (error) {
    if (!(error instanceof DaemonError) || error.httpStatus !== 404 || pull !== "missing") throw error;
    await context.err.line(`Unable to find image '${familiarReference(reference)}' locally`);
    await pullImage(context, body.Image, context.err, platform);
    created = await create();
  }
  for (const warning of created.Warnings ?? []) await context.err.line(`WARNING: ${warning}`);
  return created.Id;
}
