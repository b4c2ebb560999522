// What a container asks to have mounted, read from Docker's create body as dockerd reads it: `HostConfig.Binds`
// (`-v name:/path[:ro]`, `-v /guest/dir:/path`), `Config.Volumes` (`-v /path`: an anonymous volume),
// `HostConfig.Mounts` (`--mount type=volume|bind|tmpfs,…`) and `HostConfig.Tmpfs` (`--tmpfs /path[:options]`).
// Pure: the checks and dockerd's messages are table-tested in specs.test.ts.
import { EngineError } from "../errors.ts";

export type MountType = "volume" | "bind" | "tmpfs";

/** Which part of the create body a mount came from, so inspect can answer it back the way it was given. */
export type MountOrigin = "Binds" | "Volumes" | "Mounts" | "Tmpfs" | "image" | "VolumesFrom";

/** One mount a container asks for, checked. */
export interface MountRequest {
  type: MountType;
  /** A volume's name ("" for a new anonymous volume), a directory of the guest for a bind, "" for tmpfs. */
  source: string;
  /** Where it appears in the container: an absolute path. */
  target: string;
  readonly: boolean;
  /** A volume: do not fill an empty volume with what the image has at the target. */
  noCopy: boolean;
  /** A bind given with -v: a missing source directory is made (with --mount it is an error, as in Docker). */
  createSource: boolean;
  /** tmpfs: its size in bytes and mode, when given. */
  tmpfsSize?: number;
  tmpfsMode?: number;
  origin: MountOrigin;
  /** The -v or --tmpfs text, or the --mount object, as the client sent it (inspect answers it back). */
  raw?: string | Record<string, unknown>;
}

const invalid = (message: string) => new EngineError("invalidArgument", message);

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/**
 * Checks a local volume's name as dockerd does.
 * @example
 * checkVolumeName("data"); // ok; checkVolumeName("a/b") throws invalidArgument
 */
export function checkVolumeName(name: string): void {
  if (name.length < 2) throw invalid(`volume name is too short, names should be at least two alphanumeric characters`);
  if (!VOLUME_NAME.test(name)) {
    throw invalid(
      `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

function checkTarget(type: MountType, target: string): string {
  if (!target) throw invalid(`invalid mount config for type "${type}": field Target must not be empty`);
  if (!target.startsWith("/"))
    throw invalid(
      `invalid mount config for type "${type}": invalid mount path: '${target}' mount path must be absolute`,
    );
  const clean = `/${target.split("/").filter(Boolean).join("/")}`;
  if (clean === "/") throw invalid(`invalid specification: destination can't be '/'`);
  if (clean.split("/").includes("..")) throw invalid(`invalid mount path: '${target}': '..' is not allowed`);
  return clean;
}

const BIND_MODES = new Set(["ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave"]);

/**
 * One `-v` / `HostConfig.Binds` entry: `name:/path[:mode]` (a named volume), `/dir:/path[:mode]` (a bind of a
 * guest directory) or, from `Config.Volumes`, `/path` alone (an anonymous volume).
 * @example
 * parseBind("data:/var/lib/db:ro"); // { type: "volume", source: "data", target: "/var/lib/db", readonly: true, … }
 */
export function parseBind(spec: string): MountRequest {
  const parts = spec.split(":");
  const bad = (why?: string) => invalid(`invalid volume specification: '${spec}'${why ? `: ${why}` : ""}`);
  if (parts.length > 3 || parts.some((part) => part === "")) throw bad();
  let source = "";
  let target: string;
  let mode = "";
  if (parts.length === 1) target = parts[0]!;
  else if (parts.length === 2 && parts[0]!.startsWith("/") && parts[1]!.split(",").every((m) => BIND_MODES.has(m))) {
    // `/path:ro`: an anonymous volume with a mode.
    [target, mode] = parts as [string, string];
  } else if (parts.length === 2) [source, target] = parts as [string, string];
  else [source, target, mode] = parts as [string, string, string];
  const modes = mode ? mode.split(",") : [];
  for (const each of modes) if (!BIND_MODES.has(each)) throw bad(`invalid mode: ${mode}`);
  const type: MountType = source.startsWith("/") ? "bind" : "volume";
  let cleanTarget: string;
  try {
    cleanTarget = checkTarget(type, target);
  } catch (error) {
    throw bad((error as Error).message);
  }
  if (type === "volume" && source) checkVolumeName(source);
  return {
    type,
    source: type === "bind" ? checkTarget("bind", source) : source,
    target: cleanTarget,
    readonly: modes.includes("ro"),
    noCopy: modes.includes("nocopy"),
    createSource: type === "bind",
    origin: parts.length === 1 ? "Volumes" : "Binds",
    raw: spec,
  };
}

/** tmpfs options as `--tmpfs /path:size=64m,mode=1777` gives them. */
function parseTmpfsOptions(
  target: string,
  options: string,
): Pick<MountRequest, "tmpfsSize" | "tmpfsMode" | "readonly"> {
  const parsed: Pick<MountRequest, "tmpfsSize" | "tmpfsMode" | "readonly"> = { readonly: false };
  for (const option of options.split(",").filter(Boolean)) {
    const [key, value = ""] = option.split("=", 2) as [string, string?];
    if (key === "size") parsed.tmpfsSize = tmpfsSize(value, target);
    else if (key === "mode" && /^[0-7]{1,4}$/.test(value)) parsed.tmpfsMode = Number.parseInt(value, 8);
    else if (key === "ro") parsed.readonly = true;
    else if (!["rw", "noexec", "nosuid", "nodev", "exec", "suid", "dev"].includes(key))
      throw invalid(`invalid tmpfs option ${JSON.stringify(option)} for ${target}: use size=, mode=, ro or rw`);
  }
  return parsed;
}

function tmpfsSize(value: string | number, target: string): number {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  const match = /^(\d+)([kmg]?)$/i.exec(String(value));
  if (!match)
    throw invalid(`invalid tmpfs size ${JSON.stringify(value)} for ${target}: use bytes or a k, m or g suffix`);
  return Number(match[1]) * 1024 ** "_kmg".indexOf((match[2] || "_").toLowerCase());
}

/**
 * One `HostConfig.Tmpfs` entry: its path and `size=…,mode=…` options.
 * @example
 * parseTmpfs("/run", "size=64m"); // { type: "tmpfs", target: "/run", tmpfsSize: 67108864, … }
 */
export function parseTmpfs(target: string, options: string): MountRequest {
  return {
    type: "tmpfs",
    source: "",
    target: checkTarget("tmpfs", target),
    noCopy: true,
    createSource: false,
    ...parseTmpfsOptions(target, options),
    origin: "Tmpfs",
    raw: options,
  };
}

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

/**
 * One `HostConfig.Mounts` entry (what `--mount` sends): `{Type, Source, Target, ReadOnly, VolumeOptions, TmpfsOptions}`.
 * @example
 * parseApiMount({ Type: "tmpfs", Target: "/scratch", TmpfsOptions: { SizeBytes: 1048576 } });
 */
export function parseApiMount(value: unknown): MountRequest {
  const mount = record(value);
  const type = mount.Type;
  if (type !== "volume" && type !== "bind" && type !== "tmpfs") {
    throw invalid(
      typeof type === "string" && type
        ? `mount type unknown: "${type}": Drydock mounts volume, bind and tmpfs`
        : "invalid mount config: mount type unknown",
    );
  }
  const source = typeof mount.Source === "string" ? mount.Source : "";
  const target = checkTarget(type, typeof mount.Target === "string" ? mount.Target : "");
  const readonly = mount.ReadOnly === true;
  const base = { target, readonly, noCopy: true, createSource: false, origin: "Mounts" as const, raw: mount };
  if (type === "tmpfs") {
    if (source) throw invalid(`invalid mount config for type "tmpfs": field Source must not be specified`);
    const options = record(mount.TmpfsOptions);
    const request: MountRequest = { ...base, type, source: "" };
    if (options.SizeBytes !== undefined) request.tmpfsSize = tmpfsSize(options.SizeBytes as number, target);
    if (typeof options.Mode === "number") request.tmpfsMode = options.Mode;
    return request;
  }
  if (type === "bind") {
    if (!source) throw invalid(`invalid mount config for type "bind": field Source must not be empty`);
    if (!source.startsWith("/"))
      throw invalid(
        `invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`,
      );
    return { ...base, type, source: checkTarget("bind", source) };
  }
  if (source) checkVolumeName(source);
  return { ...base, type, source, noCopy: record(mount.VolumeOptions).NoCopy === true };
}

/**
 * Every mount of a create body, checked, in the order Docker applies them; two at one target are refused with
 * dockerd's "Duplicate mount point".
 * @example
 * mountsOfCreateBody({ Volumes: { "/data": {} } }, { Binds: ["logs:/logs"] }).map((m) => m.target); // ["/logs", "/data"]
 */
export function mountsOfCreateBody(config: Record<string, unknown>, host: Record<string, unknown>): MountRequest[] {
  const requests: MountRequest[] = [];
  const binds = host.Binds;
  if (binds !== undefined && binds !== null) {
    if (!Array.isArray(binds) || binds.some((bind) => typeof bind !== "string"))
      throw invalid("HostConfig.Binds must be a list of strings");
    for (const bind of binds as string[]) requests.push(parseBind(bind));
  }
  const mounts = host.Mounts;
  if (mounts !== undefined && mounts !== null) {
    if (!Array.isArray(mounts)) throw invalid("HostConfig.Mounts must be a list");
    for (const mount of mounts) requests.push(parseApiMount(mount));
  }
  for (const [target, options] of Object.entries(record(host.Tmpfs))) {
    requests.push(parseTmpfs(target, typeof options === "string" ? options : ""));
  }
  const seen = new Set<string>();
  for (const request of requests) {
    if (seen.has(request.target)) throw invalid(`Duplicate mount point: ${request.target}`);
    seen.add(request.target);
  }
  // Anonymous volumes from Config.Volumes yield to a mount at the same path (as `-v name:/data` over `VOLUME /data`).
  for (const target of Object.keys(record(config.Volumes))) {
    const request = parseBind(target);
    if (!seen.has(request.target)) requests.push(request);
    seen.add(request.target);
  }
  return requests;
}
