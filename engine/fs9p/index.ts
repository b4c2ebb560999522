// The layer share: a 9P2000.L server, in TypeScript and free of Node APIs, that shows the image store's unpacked
// layers to the guest read-only and lazily (an index is read when a layer is first walked to, file bytes when they
// are read). Attach it with `machine.set9pHandler(...)`; overlayfs stacks its directories into container roots.
//
// Contract (the snapshotter relies on it):
//
//   createLayerServer(source: LayerSource, options?): NinePHandler
//     source.layerIndex(chainId)                 the layer's index (engine/images' LayerIndex), or undefined
//     source.readContent(digest, offset, length) a byte range of a file's content blob
//     source.chainIds?()                         what the share's root lists (optional)
//   imageStoreLayers(store: ImageStore): LayerSource      every layer of every image in the store
//
//   Share layout: the root has one directory per layer, named by its chain id's hex (no `sha256:`); a name that is
//   not a layer the source knows answers ENOENT. Each shows that layer's own diff, not the applied stack: files,
//   directories, symlinks, hard links (one inode, the target's, with its link count), whiteouts as character
//   devices 0:0, and opaque directories answering the xattr `trusted.overlay.opaque` = `y`. Other xattrs come from
//   the layer tar; listings name only user.* and trusted.* (what any kernel can read back, so overlayfs' copy-up
//   never trips on one). Device nodes have the numbers of the layer's tar (an index made before those were kept
//   shows UNKNOWN_DEVICE, 0:1, since 0:0 would make them whiteouts). Qids are stable for the server's life: inode
//   numbers and page cache stay valid.
//
//   Mount it once per boot, after a restore (a saved state must hold no 9P fids; a second mount of host9p fails with
//   EBUSY: the virtio channel takes one client), then stack layers top first:
//     mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose host9p /run/drydock/layers
//     mount -t overlay overlay -o lowerdir=/run/drydock/layers/<top>:…:/run/drydock/layers/<bottom>,upperdir=…,workdir=…
//   cache=loose is right because layers never change; msize=512000 is the largest the kernel's virtio transport
//   takes (fewer, larger reads). Upper and work dirs must not be on 9P (use tmpfs).
//
//   Speed: what needs no I/O is answered synchronously inside v86's virtio notification, and streamed files are read
//   ahead (a 1 MiB window), so the guest's CPU, not the server, bounds stats and reads.
//
//   Messages: Tversion, Tattach (aname "" for the root, or a layer's hex to attach to it directly), Twalk, Tgetattr,
//   Tlopen, Tread, Treaddir, Treadlink, Tstatfs, Txattrwalk (a name, or "" for the list; the value is read with Tread
//   on the new fid), Tclunk, Tflush, and Tfsync/Tlock/Tgetlock (trivially granted). Writes and creations answer
//   EROFS; anything else EOPNOTSUPP; a malformed message EPROTO; an unknown fid EBADF; a missing xattr ENODATA.
export { createLayerServer, LayerServer, type LayerServerOptions } from "./server.ts";
export { BINDS_DIR, createShareServer, type ShareServerOptions, VOLUMES_DIR } from "./share.ts";
export { imageStoreLayers, type LayerSource } from "./source.ts";
export { OPAQUE_XATTR, UNKNOWN_DEVICE } from "./tree.ts";
export {
  type ServedInode,
  type ServedNewNode,
  type ServedTree,
  VOLUME_QID_BASE,
  VolumeServer,
} from "./volume-server.ts";
