// Snapshots: the overlay snapshotter (prepare, view, commit, remove, mounts in containerd's vocabulary). Image
// layers come read-only from the 9P layer share; upper and work dirs live on guest tmpfs.

export { type DiffAgent, diffUpperDir, type UpperDirDiff, type UpperDirDiffOptions } from "./diff.ts";
export { LAYER_SHARE_ROOT, ninePLayerShare, shareVolumes } from "./layer-share.ts";
export {
  type LayerShare,
  type Mount,
  OverlaySnapshotter,
  type OverlaySnapshotterOptions,
  type SnapshotAgent,
  type SnapshotInfo,
  type SnapshotKind,
} from "./overlay.ts";
