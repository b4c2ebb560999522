// The one 9P share v86 offers (mount tag host9p), split in two: the layers, read-only, one directory per chain id
// (server.ts), and under the reserved directory `volumes` the volumes, writable, their bytes in the engine's storage
// (volume-server.ts). The kernel can mount host9p only once (a second mount fails with EBUSY), so one mount carries
// both. This router owns no files: it remembers which server each fid belongs to, hands a walk from the share's root
// into `volumes` to the volume server, and sends every other message to the server of its first fid.
import type { NinePHandler } from "../vm/index.ts";
import { VolumeTree } from "../volumes/tree.ts";
import { LayerServer, type LayerServerOptions } from "./server.ts";
import type { LayerSource } from "./source.ts";
import { DT_DIR } from "./tree.ts";
import { VolumeServer } from "./volume-server.ts";
import { Errno, errorReply, HEADER_SIZE, MessageReader, MessageWriter, Op, readHeader } from "./wire.ts";

/** The share's directory that holds the volumes (a layer's directory is always 64 hex digits, so never this). */
export const VOLUMES_DIR = "volumes";

const FIRST_FID_OFFSET = HEADER_SIZE;

export interface ShareServerOptions extends LayerServerOptions {}

/**
 * Layers and volumes on one share.
 * @example
 * const tree = await VolumeTree.open(new MemoryVolumeDataStore());
 * machine.set9pHandler(createShareServer(imageStoreLayers(images.store), tree));
 * // in the guest: mount -t 9p -o trans=virtio,… host9p /run/drydock/layers; ls /run/drydock/layers/volumes
 */
export function createShareServer(layers: LayerSource, tree: VolumeTree, options: ShareServerOptions = {}) {
  const volumes = new VolumeServer(tree, options.maxMessageSize ?? 512000, options.onError);
  const layerServer = new LayerServer(layers, {
    ...options,
    rootEntries: () => [{ name: new TextEncoder().encode(VOLUMES_DIR), qid: volumes.rootQid, type: DT_DIR }],
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
    const toVolumes = (answer: Uint8Array | Promise<Uint8Array>, after?: (answer: Uint8Array) => void) => {
      if (answer instanceof Uint8Array) {
        after?.(answer);
        reply(answer);
        return;
      }
      const work = answer
        .then((done) => {
          if (pending.get(tag) === work) pending.delete(tag);
          after?.(done);
          reply(done);
        })
        .catch((error: unknown) => options.onError?.(error));
      pending.set(tag, work);
    };
    switch (type) {
      case Op.Tversion:
        roots.clear();
        volumes.version(view.getUint32(FIRST_FID_OFFSET, true));
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
        if (aname.split("/").filter(Boolean)[0] === VOLUMES_DIR) {
          toVolumes(volumes.handle(type, tag, body));
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
        if (rootUid !== undefined && names[0] === VOLUMES_DIR) {
          if (newFid === fid) roots.delete(fid);
          reply(volumes.walkFromRoot(tag, newFid, names.slice(1), rootUid));
          return;
        }
        if (volumes.owns(fid)) {
          toVolumes(volumes.handle(type, tag, body));
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
        // Two fids on different servers: a link or rename between a layer and a volume.
        const second = view.getUint32(FIRST_FID_OFFSET + 4, true);
        if (volumes.owns(firstFid) !== volumes.owns(second)) {
          reply(errorReply(tag, Errno.EXDEV));
          return;
        }
        break;
      }
    }
    if (volumes.owns(firstFid)) toVolumes(volumes.handle(type, tag, body));
    else layerServer.handler(request, reply);
  };
  return { handler, volumes };
}

export { VolumeTree };
