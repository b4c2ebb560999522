// The share router spoken to as the guest kernel would: one attach at the share's root, a walk into `volumes`
// reaches the writable volume server, the layers stay read-only, and what is written lands in the volume store.
import { describe, expect, it } from "vitest";
import { MemoryVolumeDataStore } from "../volumes/storage.ts";
import { VolumeTree } from "../volumes/tree.ts";
import { createShareServer, VOLUMES_DIR } from "./share.ts";
import type { LayerSource } from "./source.ts";
import { Errno, MessageReader, MessageWriter, NOFID, Op } from "./wire.ts";

const noLayers: LayerSource = {
  layerIndex: async () => undefined,
  readContent: async () => new Uint8Array(0),
  chainIds: async () => [],
};

async function share() {
  const store = new MemoryVolumeDataStore();
  const tree = await VolumeTree.open(store);
  const { handler } = createShareServer(noLayers, tree);
  let tag = 1;
  const send = (type: number, build: (w: MessageWriter) => MessageWriter) =>
    new Promise<MessageReader & { type: number }>((resolve) => {
      handler(build(new MessageWriter(type, tag++)).finish(), (reply) => {
        const reader = new MessageReader(reply) as MessageReader & { type: number };
        reader.type = reply[4]!;
        resolve(reader);
      });
    });
  const ok = async (type: number, build: (w: MessageWriter) => MessageWriter) => {
    const reply = await send(type, build);
    if (reply.type === Op.Rlerror) throw new Error(`errno ${reply.u32()}`);
    expect(reply.type).toBe(type + 1);
    return reply;
  };
  await ok(Op.Tversion, (w) => w.u32(512000).string("9P2000.L"));
  await ok(Op.Tattach, (w) => w.u32(1).u32(NOFID).string("root").string("").u32(0));
  return { store, tree, send, ok };
}

describe("the share router", () => {
  it("lists volumes beside the layers and serves files written under it from the volume store", async () => {
    const { store, tree, send, ok } = await share();
    const listing = await ok(Op.Treaddir, (w) => w.u32(1).u64(0).u32(8192));
    listing.u32();
    const names: string[] = [];
    while (listing.remaining > 0) {
      listing.qid();
      listing.u64();
      listing.u8();
      names.push(listing.string());
    }
    expect(names).toEqual([".", "..", VOLUMES_DIR]);

    // mkdir /volumes/notes, then create, write and close notes/hello.
    await ok(Op.Twalk, (w) => w.u32(1).u32(2).u16(1).string(VOLUMES_DIR));
    await ok(Op.Tmkdir, (w) => w.u32(2).string("notes").u32(0o755).u32(0));
    await ok(Op.Twalk, (w) => w.u32(2).u32(3).u16(1).string("notes"));
    await ok(Op.Tlcreate, (w) => w.u32(3).string("hello").u32(0o2).u32(0o640).u32(0));
    const data = new TextEncoder().encode("kept by the engine\n");
    const written = await ok(Op.Twrite, (w) => w.u32(3).u64(0).u32(data.byteLength).bytes(data));
    expect(written.u32()).toBe(data.byteLength);
    await ok(Op.Tclunk, (w) => w.u32(3));

    // Walked to from the share's root in one message, and read back.
    const walk = await ok(Op.Twalk, (w) => w.u32(1).u32(4).u16(3).string(VOLUMES_DIR).string("notes").string("hello"));
    expect(walk.u16()).toBe(3);
    const read = await ok(Op.Tread, (w) => w.u32(4).u64(0).u32(4096));
    expect(new TextDecoder().decode(read.bytes(read.u32()))).toBe("kept by the engine\n");
    await tree.save();
    expect(await store.volumes()).toEqual(["notes"]);
    expect(store.storedBytes).toBe(data.byteLength);

    // The share's root is the layers' and stays read-only; a file in the volumes' root is refused.
    const layerCreate = await send(Op.Tmkdir, (w) => w.u32(1).string("x").u32(0o755).u32(0));
    expect([layerCreate.type, layerCreate.u32()]).toEqual([Op.Rlerror, Errno.EROFS]);
    const rootFile = await send(Op.Tlcreate, (w) => w.u32(2).string("stray").u32(0o2).u32(0o644).u32(0));
    expect([rootFile.type, rootFile.u32()]).toEqual([Op.Rlerror, Errno.EPERM]);
  });
});
