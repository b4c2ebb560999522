// The 9P layer share in the guest: v86's 9P device (mount tag host9p) answered by the engine's layer server
// (engine/fs9p), which shows each unpacked layer as a directory named by its chain id. It is mounted once per boot:
// a saved state is taken before the mount, so every restored guest mounts it afresh.
import type { AgentClient } from "../agent/index.ts";
import type { Tracer } from "../trace/index.ts";
import type { LayerShare } from "./overlay.ts";

const MS_RDONLY = 1;
export const LAYER_SHARE_ROOT = "/run/drydock/layers";
const NINEP_OPTIONS = "trans=virtio,version=9p2000.L,msize=512000,cache=loose";

/**
 * The layer share mounted read-only at `root` the first time a snapshot needs it.
 * @example
 * const layers = ninePLayerShare(drydock.agent, tracer);
 * await layers.ready(); // mount -t 9p -o ro,trans=virtio,… host9p /run/drydock/layers
 */
export function ninePLayerShare(
  agent: Pick<AgentClient, "mkdir" | "mount" | "readFile">,
  tracer?: Tracer,
  root = LAYER_SHARE_ROOT,
  /** Mount it writable: the share also serves the volumes (the layers still answer EROFS to any write). */
  writable = false,
): LayerShare {
  let mounted: Promise<void> | undefined;
  const mount = async () => {
    const table = new TextDecoder().decode(await agent.readFile("/proc/mounts"));
    if (table.split("\n").some((line) => line.split(" ")[1] === root)) return;
    tracer?.emit({ op: "mkdir", path: root });
    await agent.mkdir(root, { parents: true });
    tracer?.emit({
      op: "mount",
      source: "host9p",
      target: root,
      fstype: "9p",
      options: NINEP_OPTIONS,
      readonly: !writable,
    });
    await agent.mount("host9p", root, "9p", NINEP_OPTIONS, writable ? 0 : MS_RDONLY);
  };
  return {
    root,
    ready() {
      mounted ??= mount().catch((error) => {
        mounted = undefined;
        throw error;
      });
      return mounted;
    },
  };
}

const MS_BIND = 4096;

/**
 * How long (in hundredths of a second) a page a container wrote to a volume may stay dirty in the guest's page cache
 * before the kernel's flusher writes it to the share, and how often the flusher wakes. Linux's defaults (30 s and
 * 5 s) suit a disk; here the share is the only thing the flusher writes back (the layers are read-only, tmpfs is
 * never written back), and a closed tab or a failed guest loses whatever is still dirty, so a running container's
 * writes reach the engine's storage within about two seconds without it calling `sync`.
 */
export const VOLUME_WRITEBACK_CENTISECS = 100;

/**
 * Binds the share's volumes directory at `target` (the local driver's /var/lib/drydock/volumes), once per guest, so
 * a volume's files are the engine's stored ones, and shortens the kernel's writeback delay for them
 * (`VOLUME_WRITEBACK_CENTISECS`).
 * @example
 * const ready = shareVolumes(drydock.agent, layers, "/var/lib/drydock/volumes");
 * await ready(); // mount --bind /run/drydock/layers/volumes /var/lib/drydock/volumes
 */
export function shareVolumes(
  agent: Pick<AgentClient, "mkdir" | "mount" | "readFile" | "writeFile">,
  layers: LayerShare,
  target: string,
  tracer?: Tracer,
): () => Promise<void> {
  let bound: Promise<void> | undefined;
  const bind = async () => {
    await layers.ready();
    const table = new TextDecoder().decode(await agent.readFile("/proc/mounts"));
    if (table.split("\n").some((line) => line.split(" ")[1] === target)) return;
    const source = `${layers.root}/volumes`;
    tracer?.emit({ op: "mkdir", path: target });
    await agent.mkdir(target, { parents: true });
    tracer?.emit({ op: "mount", source, target, bind: true });
    await agent.mount(source, target, "", "", MS_BIND);
    for (const knob of ["dirty_expire_centisecs", "dirty_writeback_centisecs"]) {
      tracer?.emit({ op: "exec", argv: ["sysctl", "-w", `vm.${knob}=${VOLUME_WRITEBACK_CENTISECS}`] });
      await agent.writeFile(`/proc/sys/vm/${knob}`, `${VOLUME_WRITEBACK_CENTISECS}\n`);
    }
  };
  return () => {
    bound ??= bind().catch((error) => {
      bound = undefined;
      throw error;
    });
    return bound;
  };
}
