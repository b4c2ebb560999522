// Files in and out of a container as tar streams (`docker cp`, `docker export`), made by busybox tar in the guest so
// modes, owners, symlinks and hard links are the kernel's own. tar runs in a helper process of its own mount
// namespace whose root is a fresh tmpfs holding only the guest's /bin (read-only) and the container's root at /c:
// the container's filesystem bind-mounted while it runs, or its overlay mounted just for the helper while it does not.
// Paths are resolved inside the container's root (an absolute symlink means the container's /, as dockerd's
// FollowSymlinkInScope does), and a symlink met during extraction can only reach the throwaway tmpfs, never the guest.
import type { AgentClient, MountSpec } from "../agent/index.ts";
import { EngineError } from "../errors.ts";
import type { Mount } from "../snapshots/index.ts";
import type { Tracer } from "../trace/index.ts";
import { mountFlags } from "./task.ts";

/** What `X-Docker-Container-Path-Stat` says of a path (dockerd's ContainerPathStat; mode in Go's FileMode bits). */
export interface ContainerPathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** Where the container's root comes from for the helper: a bind of the running root, or the stopped one's overlay. */
export type ContainerRootSource = { running: string } | { mounts: Mount[] };

const HELPER_ROOT = "/run/drydock/cp";
const MS_BIND = 4096;
const MS_REC = 16384;
const MS_REMOUNT = 32;
const MS_RDONLY = 1;

/** Resolves $1 inside /c following symlinks in scope ($2=1: the last component too); prints it, or fails. */
const RESOLVE = `resolve() {
  cur=""; rest="$1"; hops=0
  while :; do
    while [ "\${rest#/}" != "$rest" ]; do rest="\${rest#/}"; done
    [ -z "$rest" ] && break
    comp="\${rest%%/*}"
    if [ "$comp" = "$rest" ]; then rest=""; else rest="\${rest#*/}"; fi
    case "$comp" in .) continue ;; ..) cur="\${cur%/*}"; continue ;; esac
    next="$cur/$comp"
    if [ -L "/c$next" ] && { [ -n "$rest" ] || [ "$2" = 1 ]; }; then
      hops=$((hops + 1))
      if [ $hops -gt 40 ]; then echo "too many levels of symbolic links in $1" >&2; exit 40; fi
      target=$(readlink "/c$next")
      case "$target" in /*) cur="" ;; esac
      rest="$target/$rest"
    else
      cur="$next"
    fi
  done
  echo "\${cur:-/}"
}
`;

/** Prints `resolved|rawmode-hex|size|mtime|link target` of $1 (not following its last component), or exits 2. */
const STAT_SCRIPT = `${RESOLVE}
p=$(resolve "$1" 0) || exit 1
[ -e "/c$p" ] || [ -L "/c$p" ] || exit 2
link=""; [ -L "/c$p" ] && link=$(readlink "/c$p")
printf '%s|%s|%s\\n' "$p" "$(stat -c '%f|%s|%Y' "/c$p")" "$link"
`;

/** Extracts stdin into the directory $1 (followed in scope); exits 2 if missing, 3 if not a directory. */
const EXTRACT_SCRIPT = `${RESOLVE}
d=$(resolve "$1" 1) || exit 1
[ -e "/c$d" ] || exit 2
[ -d "/c$d" ] || exit 3
exec tar -x -f - -C "/c$d" $2
`;

/** Go's os.FileMode bits for a Linux st_mode. */
export function goFileMode(mode: number): number {
  let bits = mode & 0o777;
  const type = mode & 0o170000;
  if (type === 0o040000) bits |= 0x80000000;
  else if (type === 0o120000) bits |= 0x08000000;
  else if (type === 0o010000) bits |= 0x02000000;
  else if (type === 0o140000) bits |= 0x01000000;
  else if (type === 0o060000) bits |= 0x04000000;
  else if (type === 0o020000) bits |= 0x04000000 | 0x00200000;
  if (mode & 0o4000) bits |= 0x00800000;
  if (mode & 0o2000) bits |= 0x00400000;
  if (mode & 0o1000) bits |= 0x00100000;
  return bits >>> 0;
}

function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1) || "/";
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(stream).text();
}

/**
 * Copies between a container's filesystem and tar streams.
 * @example
 * const files = new ContainerFiles(agent, tracer);
 * const { stat, tar } = await files.archive(id, source, "/etc/hostname");
 */
export class ContainerFiles {
  constructor(
    readonly agent: Pick<AgentClient, "spawn" | "mkdir">,
    readonly tracer?: Tracer,
  ) {}

  #mounts(source: ContainerRootSource): MountSpec[] {
    const mounts: MountSpec[] = [
      { source: "tmpfs", target: "", fstype: "tmpfs", options: "mode=755" },
      { source: "/bin", target: "/bin", fstype: "", flags: MS_BIND },
      { source: "none", target: "/bin", fstype: "", flags: MS_REMOUNT | MS_BIND | MS_RDONLY },
    ];
    if ("running" in source) {
      mounts.push({ source: source.running, target: "/c", fstype: "", flags: MS_BIND | MS_REC });
    } else {
      for (const mount of source.mounts) {
        const { flags, data } = mountFlags(mount.options);
        mounts.push({
          source: mount.source,
          target: "/c",
          fstype: mount.type === "bind" ? "" : mount.type,
          options: data,
          flags: mount.type === "bind" ? flags | MS_BIND : flags,
        });
      }
    }
    return mounts;
  }

  /** Starts busybox `argv` in the helper root; the caller reads its output. */
  async #helper(id: string, source: ContainerRootSource, argv: string[]) {
    this.tracer?.emit({ op: "exec", argv }, id);
    await this.agent.mkdir(HELPER_ROOT, { parents: true });
    return this.agent.spawn({
      argv: ["/bin/busybox", ...argv],
      env: ["PATH=/bin"],
      namespaces: ["mount"],
      mounts: this.#mounts(source),
      root: HELPER_ROOT,
    });
  }

  /** Stat of a path in the container (its last component not followed). Throws notFound. */
  async stat(
    id: string,
    source: ContainerRootSource,
    path: string,
    name: string,
  ): Promise<ContainerPathStat & { resolved: string }> {
    const process = await this.#helper(id, source, ["sh", "-c", STAT_SCRIPT, "stat", path]);
    await process.stdin.close().catch(() => {});
    const [stdout, stderr, exit] = await Promise.all([text(process.stdout), text(process.stderr), process.exit]);
    if (exit.code === 2) throw new EngineError("notFound", `Could not find the file ${path} in container ${name}`);
    if (exit.code !== 0) {
      throw new EngineError(
        "invalidArgument",
        `cannot stat ${path} in container ${name}: ${stderr.trim() || `exit ${exit.code}`}`,
      );
    }
    const [resolved = "/", mode = "0", size = "0", mtime = "0", ...link] = stdout.trim().split("|");
    return {
      resolved,
      name: basename(path),
      size: Number(size),
      mode: goFileMode(Number.parseInt(mode, 16)),
      mtime: new Date(Number(mtime) * 1000).toISOString(),
      linkTarget: link.join("|"),
    };
  }

  /**
   * A tar of one path (named by its base name, a directory with everything in it), with its stat: `GET archive`.
   * Throws notFound when the path is not there.
   */
  async archive(
    id: string,
    source: ContainerRootSource,
    path: string,
    name: string,
  ): Promise<{ stat: ContainerPathStat; tar: ReadableStream<Uint8Array> }> {
    const { resolved, ...stat } = await this.stat(id, source, path, name);
    const slash = resolved.lastIndexOf("/");
    const dir = resolved === "/" ? "/" : resolved.slice(0, slash) || "/";
    const base = resolved === "/" ? "." : resolved.slice(slash + 1);
    const process = await this.#helper(id, source, ["tar", "-c", "-f", "-", "-C", `/c${dir}`, base]);
    await process.stdin.close().catch(() => {});
    void process.stderr.cancel().catch(() => {});
    return { stat, tar: process.stdout };
  }

  /** Everything in the container's filesystem as one tar (`docker export`). */
  async export(id: string, source: ContainerRootSource): Promise<ReadableStream<Uint8Array>> {
    const process = await this.#helper(id, source, ["tar", "-c", "-f", "-", "-C", "/c", "."]);
    await process.stdin.close().catch(() => {});
    void process.stderr.cancel().catch(() => {});
    return process.stdout;
  }

  /**
   * Extracts a tar into a directory of the container (`PUT archive`). Owners come from the archive with
   * `copyUIDGID`, else everything belongs to root, as dockerd does for `docker cp` without `-a`.
   */
  async extract(
    id: string,
    source: ContainerRootSource,
    path: string,
    name: string,
    tar: ReadableStream<Uint8Array>,
    options: { copyUIDGID?: boolean } = {},
  ): Promise<void> {
    const process = await this.#helper(id, source, [
      "sh",
      "-c",
      EXTRACT_SCRIPT,
      "extract",
      path,
      options.copyUIDGID ? "" : "-o",
    ]);
    const feeding = tar.pipeTo(process.stdin).catch(() => {});
    const [stderr, exit] = await Promise.all([text(process.stderr), process.exit, text(process.stdout), feeding]);
    if (exit.code === 2) throw new EngineError("notFound", `Could not find the file ${path} in container ${name}`);
    if (exit.code === 3) throw new EngineError("invalidArgument", `extraction point is not a directory: ${path}`);
    if (exit.code !== 0) {
      throw new EngineError(
        "invalidArgument",
        `could not extract the archive into ${path} in container ${name}: ${stderr.trim() || `exit ${exit.code}`}`,
      );
    }
  }
}
