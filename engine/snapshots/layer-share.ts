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
): LayerShare {
  let mounted: Promise<void> | undefined;
  const mount = async () => {
    const table = new TextDecoder().decode(await agent.readFile("/proc/mounts"));
    if (table.split("\n").some((line) => line.split(" ")[1] === root)) return;
    tracer?.emit({ op: "mkdir", path: root });
    await agent.mkdir(root, { parents: true });
    tracer?.emit({ op: "mount", source: "host9p", target: root, fstype: "9p", options: NINEP_OPTIONS, readonly: true });
    await agent.mount("host9p", root, "9p", NINEP_OPTIONS, MS_RDONLY);
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
