// A container's own mounts (volumes, binds, tmpfs), set up from the guest's side once its root filesystem is mounted
// and before its process starts, so the process's new mount namespace is born with them. Two named steps:
//   1. mount points: drydockd looks each destination up inside the container's root as the container will see it
//      (RESOLVE: a symbolic link of the image on the way is followed there, an absolute one from the container's
//      root, `..` stops at it: runc's securejoin, in drydockd's securejoin.c), so a link can never send a mount
//      outside the root; then it is made if missing, and an empty volume is filled with what the image has there
//      (Docker's copy-up);
//   2. mounts: `mount --bind` (and a read-only remount for `:ro`) or `mount -t tmpfs`, each MOUNT given the root, so
//      drydockd looks its target up the same way.
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
 * Makes and fills the mount points; arguments: (kind, mount point in the guest, source) per mount, the mount points
 * already looked up inside the container's root.
 */
const MOUNT_POINTS_SCRIPT = `while [ $# -gt 0 ]; do
  kind=$1; p=$2; src=$3; shift 3
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
  agent: Pick<RuntimeAgent, "run" | "mount" | "resolve">,
  trace: (action: TraceAction) => void,
  root: string,
  mounts: readonly ContainerMount[],
  fileBinds: readonly string[] = [],
): Promise<void> {
  if (mounts.length === 0) return;
  const lookUp = (path: string) =>
    agent.resolve(root, path).catch((error: unknown) => {
      throw new EngineError(
        "invalidArgument",
        `the mount point ${path} cannot be looked up in the container's image: ${(error as Error).message}`,
        { cause: error },
      );
    });
  const targets = await Promise.all(mounts.map((mount) => lookUp(mount.destination)));
  const args = mounts.flatMap((mount, i) => [kindOf(mount), targets[i]!, mount.source]);
  const prepared = await agent.run([HOST_BUSYBOX, "sh", "-c", MOUNT_POINTS_SCRIPT, "mount-points", ...args]);
  if (prepared.code !== 0) {
    throw new EngineError(
      "invalidArgument",
      prepared.stderr.trim() || `preparing the mount points failed (exit ${prepared.code})`,
    );
  }
  const requests: Promise<void>[] = [];
  for (const [i, mount] of mounts.entries()) {
    const target = targets[i]!;
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
      requests.push(agent.mount("tmpfs", mount.destination, "tmpfs", options, flags, root));
      continue;
    }
    trace({ op: "mount", source: mount.source, target, bind: true, readonly: mount.readonly });
    // drydockd performs requests in order: the remount's look-up finds the new mount.
    requests.push(agent.mount(mount.source, mount.destination, "", "", MS_BIND | MS_REC, root));
    // A bind ignores MS_RDONLY: read-only takes a remount of the new mount (what `mount --bind -o ro` does too).
    if (mount.readonly) {
      requests.push(agent.mount("none", mount.destination, "", "", MS_REMOUNT | MS_BIND | MS_RDONLY, root));
    }
  }
  await Promise.all(requests);
  const covered = fileBinds.filter((file) => mounts.some((mount) => file.startsWith(`${mount.destination}/`)));
  if (covered.length) {
    // Looked up inside the root too: a volume over a linked /etc must not have a file made in the guest's own.
    const files = await Promise.all(covered.map(lookUp));
    for (const file of files) trace({ op: "exec", argv: ["touch", file] });
    const made = await agent.run([
      HOST_BUSYBOX,
      "sh",
      "-c",
      'for f; do [ -e "$f" ] || : > "$f" || exit 1; done',
      "mount-points",
      ...files,
    ]);
    if (made.code !== 0) throw new EngineError("invalidArgument", made.stderr.trim() || "making a mount point failed");
  }
}
