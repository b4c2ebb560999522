// The one 9P share v86 offers (mount tag host9p), split in parts: the layers, read-only, one directory per chain id
// (server.ts); under the reserved directory `volumes` the volumes, writable, their bytes in the engine's storage
// (volume-server.ts); and, when the Node daemon allows host directories (--allow-bind), under `binds` those
// directories, writable, served by the same kind of server over the host's files. The kernel can mount host9p only
// once (a second mount fails with EBUSY), so one mount carries them all. This router owns no files: it remembers which
// server each fid belongs to, hands a walk from the share's root into `volumes` or `binds` to that tree's server, and
// sends every other message to the server of its first fid.
import type { NinePHandler } from "../vm/index.ts";
import { VolumeTree } from "../volumes/tree.ts";
import { LayerServer, type LayerServerOptions } from "./server.ts";
import type { LayerSource } from "./source.ts";
import { DT_DIR } from "./tree.ts";
import { type ServedTree, VolumeServer } from "./volume-server.ts";
import { Errno, errorReply, HEADER_SIZE, MessageReader, MessageWriter, Op, readHeader } from "./wire.ts";

/** The share's directory that holds the volumes (a layer's directory is always 64 hex digits, so never this). */
export const VOLUMES_DIR = "volumes";
/** The share's directory that holds the host directories the Node daemon allows (`--allow-bind`), one per entry. */
export const BINDS_DIR = "binds";
/** Qids of the binds tree start here, above every volume's and layer's. */
export const BINDS_QID_BASE = 2 ** 40;

const FIRST_FID_OFFSET = HEADER_SIZE;

export interface ShareServerOptions extends LayerServerOptions {
  /** Host directories to serve under `binds` (Node only: engine/node/host-tree.ts). */
  binds?: ServedTree;
}

/**
 * Layers and volumes on one share.
 * @example
 * const tree = await VolumeTree.open(new MemoryVolumeDataStore());
 * machine.set9pHandler(createShareServer(imageStoreLayers(images.store), tree));
 * // in the guest: mount -t 9p -o trans=virtio,… host9p /run/drydock/layers; ls /run/drydock/layers/volumes
 */
export function createShareServer(layers: LayerSource, tree: VolumeTree, options: ShareServerOptions = {}) {
  const volumes = new VolumeServer(tree, options.maxMessageSize ?? 512000, options.onError);
  const writable = new Map<string, VolumeServer>([[VOLUMES_DIR, volumes]]);
  if (options.binds)
    writable.set(
      BINDS_DIR,
      new VolumeServer(options.binds, options.maxMessageSize ?? 512000, options.onError, BINDS_QID_BASE),
    );
  const servers = [...writable.values()];
  const ownerOf = (fid: number) => servers.find((server) => server.owns(fid));
  const layerServer = new LayerServer(layers, {
    ...options,
    rootEntries: () =>
      [...writable].map(([name, server]) => ({
        name: new TextEncoder().encode(name),
        qid: server.rootQid,
        type: DT_DIR,
      })),
  });
  /** Fids of the layer server that name the share's root, with the user each was attached for. */
  const roots = new Map<number, number>();
  /** Requests of the volume server still running, by tag (a Tflush waits for the one it names). */
  const pending = new Map<number, Promise<void>>();

  const handler: NinePHandler = (request, reply) => {
    const header = readHeader(request);
    if (!header) return;
    const { type, tag } = header;
    if (header.size > request.byteLength || header.size < HEADER_SIZE + 4) {
      layerServer.handler(request, reply);
      return;
    }
    const body = request.subarray(0, header.size);
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const firstFid = type === Op.Tflush ? -1 : view.getUint32(FIRST_FID_OFFSET, true);
    const toWritable = (answer: Uint8Array | Promise<Uint8Array>) => {
      if (answer instanceof Uint8Array) {
        reply(answer);
        return;
      }
      const work = answer
        .then((done) => {
          if (pending.get(tag) === work) pending.delete(tag);
          reply(done);
        })
        .catch((error: unknown) => options.onError?.(error));
      pending.set(tag, work);
    };
    switch (type) {
      case Op.Tversion:
        roots.clear();
        for (const server of servers) server.version(view.getUint32(FIRST_FID_OFFSET, true));
        layerServer.handler(request, reply);
        return;
      case Op.Tflush: {
        const oldTag = view.getUint16(HEADER_SIZE, true);
        const running = pending.get(oldTag);
        if (!running) {
          layerServer.handler(request, reply);
          return;
        }
        running.then(() => reply(new MessageWriter(Op.Tflush + 1, tag, HEADER_SIZE).finish()));
        return;
      }
      case Op.Tattach: {
        const r = new MessageReader(body);
        const fid = r.u32();
        r.u32();
        r.string();
        const aname = r.string();
        const given = r.remaining >= 4 ? r.u32() : 0;
        const uid = given === 0xffffffff ? 0 : given;
        const attached = writable.get(aname.split("/").filter(Boolean)[0] ?? "");
        if (attached) {
          toWritable(attached.handle(type, tag, body));
          return;
        }
        layerServer.handler(request, (answer) => {
          if (answer[4] === Op.Tattach + 1 && aname.split("/").filter(Boolean).length === 0) roots.set(fid, uid);
          reply(answer);
        });
        return;
      }
      case Op.Twalk: {
        const r = new MessageReader(body);
        const fid = r.u32();
        const newFid = r.u32();
        const count = r.u16();
        const names: string[] = [];
        for (let i = 0; i < count; i++) names.push(r.string());
        const rootUid = roots.get(fid);
        const entered = rootUid !== undefined ? writable.get(names[0] ?? "") : undefined;
        if (entered && rootUid !== undefined) {
          if (newFid === fid) roots.delete(fid);
          reply(entered.walkFromRoot(tag, newFid, names.slice(1), rootUid));
          return;
        }
        const owner = ownerOf(fid);
        if (owner) {
          toWritable(owner.handle(type, tag, body));
          return;
        }
        layerServer.handler(request, (answer) => {
          if (newFid === fid) roots.delete(fid);
          if (rootUid !== undefined && count === 0 && answer[4] === Op.Twalk + 1) roots.set(newFid, rootUid);
          reply(answer);
        });
        return;
      }
      case Op.Tclunk:
      case Op.Tremove:
        roots.delete(firstFid);
        break;
      case Op.Tlink:
      case Op.Trename: {
        // Two fids on different servers: a link or rename between a layer, a volume or a host directory.
        const second = view.getUint32(FIRST_FID_OFFSET + 4, true);
        if (ownerOf(firstFid) !== ownerOf(second)) {
          reply(errorReply(tag, Errno.EXDEV));
          return;
        }
        break;
      }
    }
    const owner = ownerOf(firstFid);
    if (owner) toWritable(owner.handle(type, tag, body));
    else layerServer.handler(request, reply);
  };
  return { handler, volumes };
}

export { VolumeTree };
