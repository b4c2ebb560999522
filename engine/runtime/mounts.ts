// A container's own mounts (volumes, binds, tmpfs), set up from the guest's side once its root filesystem is mounted
// and before its process starts, so the process's new mount namespace is born with them. Two named steps:
//   1. mount points: each destination is looked up inside the container's root as the container will see it (a
//      symbolic link of the image on the way is followed there, an absolute one from the container's root, `..`
//      stops at it: runc's securejoin), so a link can never send a mount outside the root; then it is made if missing,
//      and an empty volume is filled with what the image has there (Docker's copy-up);
//   2. mounts: `mount --bind` (and a read-only remount for `:ro`) or `mount -t tmpfs`.
// The container's root is unmounted lazily when its task ends, which takes these mounts with it.
import { EngineError } from "../errors.ts";
import type { TraceAction } from "../trace/index.ts";
import type { ContainerMount } from "../volumes/index.ts";
import type { RuntimeAgent } from "./task.ts";

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MS_REMOUNT = 32;
const MS_BIND = 4096;
const MS_REC = 16384;
const HOST_BUSYBOX = "/bin/busybox";

/**
 * Resolves, makes and fills the mount points; arguments: the root, then (kind, destination, source) per mount. Prints
 * each mount point's path in the guest, one per line, in the order given.
 */
const MOUNT_POINTS_SCRIPT = `root=$1; shift
resolve() {
  p=$root; rest=\${1#/}; hops=0
  while [ -n "$rest" ]; do
    part=\${rest%%/*}
    case $rest in */*) rest=\${rest#*/} ;; *) rest= ;; esac
    case $part in
    ''|.) continue ;;
    ..) [ "$p" = "$root" ] || p=\${p%/*}; continue ;;
    esac
    if [ -L "$p/$part" ]; then
      hops=$((hops + 1))
      [ $hops -le 40 ] || { echo "the mount point $1 has too many levels of symbolic links in the container's image" >&2; return 1; }
      link=$(readlink "$p/$part") || return 1
      case $link in /*) p=$root ;; esac
      rest=\${link#/}\${rest:+/$rest}
    else
      p=$p/$part
    fi
  done
  echo "$p"
}
while [ $# -gt 0 ]; do
  kind=$1; dest=$2; src=$3; shift 3
  p=$(resolve "$dest") || exit 1
  echo "$p"
  case $kind in
  bind-create) [ -e "$src" ] || mkdir -p "$src" || exit 1 ;;
  bind) [ -e "$src" ] || { echo "invalid mount config for type \\"bind\\": bind source path does not exist: $src" >&2; exit 1; } ;;
  esac
  if [ "$kind" != tmpfs ] && [ ! -d "$src" ]; then
    mkdir -p "\${p%/*}" && { [ -e "$p" ] || : > "$p"; } || exit 1
  else
    mkdir -p "$p" || exit 1
  fi
  if [ "$kind" = volume-copy ] && [ -z "$(ls -A "$src")" ] && [ -n "$(ls -A "$p")" ]; then
    cp -a "$p/." "$src/" || exit 1
  fi
done`;

function kindOf(mount: ContainerMount): string {
  if (mount.type === "volume") return mount.copyUp ? "volume-copy" : "volume";
  if (mount.type === "bind") return mount.createSource ? "bind-create" : "bind";
  return "tmpfs";
}

/**
 * Mounts a container's volumes, binds and tmpfs under its root (`<container dir>/rootfs`), tracing each step.
 * `fileBinds` are the files the runtime binds later (/etc/hostname…): one that falls inside a mount here gets its
 * mount point made there, as dockerd makes it in a volume mounted over /etc.
 * @example
 * await setUpContainerMounts(agent, (action) => tracer.emit(action, id), root, mounts, ["/etc/hostname"]);
 */
export async function setUpContainerMounts(
  agent: Pick<RuntimeAgent, "run" | "mount">,
  trace: (action: TraceAction) => void,
  root: string,
  mounts: readonly ContainerMount[],
  fileBinds: readonly string[] = [],
): Promise<void> {
  if (mounts.length === 0) return;
  const args = mounts.flatMap((mount) => [kindOf(mount), mount.destination, mount.source]);
  const prepared = await agent.run([HOST_BUSYBOX, "sh", "-c", MOUNT_POINTS_SCRIPT, "mount-points", root, ...args]);
  if (prepared.code !== 0) {
    throw new EngineError(
      "invalidArgument",
      prepared.stderr.trim() || `preparing the mount points failed (exit ${prepared.code})`,
    );
  }
  const targets = prepared.stdout.split("\n").slice(0, mounts.length);
  const requests: Promise<void>[] = [];
  for (const [i, mount] of mounts.entries()) {
    const target = targets[i] ?? `${root}${mount.destination}`;
    if (mount.type === "bind" && mount.createSource) trace({ op: "mkdir", path: mount.source });
    trace({ op: "mkdir", path: target });
    if (kindOf(mount) === "volume-copy") trace({ op: "exec", argv: ["cp", "-a", `${target}/.`, `${mount.source}/`] });
    if (mount.type === "tmpfs") {
      const flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (mount.readonly ? MS_RDONLY : 0);
      const options = mount.tmpfsOptions ?? "";
      trace({
        op: "mount",
        source: "tmpfs",
        target,
        fstype: "tmpfs",
        options: ["nosuid", "nodev", "noexec", options].filter(Boolean).join(","),
        readonly: mount.readonly,
      });
      requests.push(agent.mount("tmpfs", target, "tmpfs", options, flags));
      continue;
    }
    trace({ op: "mount", source: mount.source, target, bind: true, readonly: mount.readonly });
    requests.push(agent.mount(mount.source, target, "", "", MS_BIND | MS_REC));
    // A bind ignores MS_RDONLY: read-only takes a remount of the new mount (what `mount --bind -o ro` does too).
    if (mount.readonly) requests.push(agent.mount("none", target, "", "", MS_REMOUNT | MS_BIND | MS_RDONLY));
  }
  await Promise.all(requests);
  const covered = fileBinds.filter((file) => mounts.some((mount) => file.startsWith(`${mount.destination}/`)));
  if (covered.length) {
    for (const file of covered) trace({ op: "exec", argv: ["touch", `${root}${file}`] });
    const made = await agent.run([
      HOST_BUSYBOX,
      "sh",
      "-c",
      'for f; do [ -e "$f" ] || : > "$f" || exit 1; done',
      "mount-points",
      ...covered.map((file) => `${root}${file}`),
    ]);
    if (made.code !== 0) throw new EngineError("invalidArgument", made.stderr.trim() || "making a mount point failed");
  }
}
