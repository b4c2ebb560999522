// A container's own mounts (volumes, binds, tmpfs), set up from the guest's side once its root filesystem is mounted
// and before its process starts, so the process's new mount namespace is born with them. Two named steps:
//   1. mount points: each destination is checked to have no symbolic link on the way (a link in the image must not
//      send a mount outside the container's root), made if missing, and an empty volume is filled with what the
//      image has there (Docker's copy-up);
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

/** Checks, makes and fills the mount points; arguments: the root, then (kind, destination, source) per mount. */
const MOUNT_POINTS_SCRIPT = `root=$1; shift
while [ $# -gt 0 ]; do
  kind=$1; dest=$2; src=$3; shift 3
  p=$root
  old=$IFS; IFS=/; set -f
  for part in \${dest#/}; do
    p=$p/$part
    if [ -L "$p" ]; then echo "the mount point $dest is a symbolic link in the container's image ($p): Drydock does not follow it" >&2; exit 1; fi
  done
  IFS=$old; set +f
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
  const args: string[] = [];
  for (const mount of mounts) {
    const kind = kindOf(mount);
    args.push(kind, mount.destination, mount.source);
    if (kind === "bind-create") trace({ op: "mkdir", path: mount.source });
    trace({ op: "mkdir", path: `${root}${mount.destination}` });
    if (kind === "volume-copy")
      trace({ op: "exec", argv: ["cp", "-a", `${root}${mount.destination}/.`, `${mount.source}/`] });
  }
  const prepared = await agent.run([HOST_BUSYBOX, "sh", "-c", MOUNT_POINTS_SCRIPT, "mount-points", root, ...args]);
  if (prepared.code !== 0) {
    throw new EngineError(
      "invalidArgument",
      prepared.stderr.trim() || `preparing the mount points failed (exit ${prepared.code})`,
    );
  }
  const requests: Promise<void>[] = [];
  for (const mount of mounts) {
    const target = `${root}${mount.destination}`;
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
