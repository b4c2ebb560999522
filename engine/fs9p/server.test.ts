// The layer server spoken to as the guest kernel would: requests encoded by hand, replies decoded field by field,
// over layers served from memory.
import { describe, expect, it } from "vitest";
import { LAYER_INDEX_MEDIA_TYPE, type LayerEntry, type LayerIndex } from "../images/index.ts";
import { type Digest, digestOf } from "../oci/index.ts";
import { createLayerServer, type LayerServerOptions, type LayerSource, OPAQUE_XATTR, UNKNOWN_DEVICE } from "./index.ts";
import { Errno, MessageReader, MessageWriter, NOFID, Op, type Qid, readHeader } from "./wire.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (value: string) => new TextEncoder().encode(value);

// --- layers in memory ---------------------------------------------------------------------------------------------

class MemoryLayers implements LayerSource {
  readonly layers = new Map<Digest, LayerIndex>();
  readonly blobs = new Map<Digest, Uint8Array>();
  indexReads = 0;
  contentReads: [number, number][] = [];
  /** When set, reads of content wait for it (to hold a request in flight). */
  gate: Promise<void> | undefined;
  failReads = false;

  add(chainId: string, entries: (Partial<LayerEntry> & { path: string; type: LayerEntry["type"]; data?: string })[]) {
    const full = entries.map(({ data, ...entry }): LayerEntry => {
      const result: LayerEntry = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, ...entry };
      if (data !== undefined) {
        const content = bytes(data);
        const digest = digestOf(content);
        this.blobs.set(digest, content);
        result.content = digest;
        result.size = content.byteLength;
      }
      return result;
    });
    const digest = `sha256:${chainId}` as Digest;
    this.layers.set(digest, { schemaVersion: 1, mediaType: LAYER_INDEX_MEDIA_TYPE, diffId: digest, entries: full });
    return chainId;
  }

  async layerIndex(chainId: Digest) {
    this.indexReads++;
    return this.layers.get(chainId);
  }

  async readContent(content: Digest, offset: number, length: number) {
    this.contentReads.push([offset, length]);
    await this.gate;
    if (this.failReads) throw new Error("the disk is on fire");
    const blob = this.blobs.get(content);
    if (!blob) throw new Error(`no blob ${content}`);
    return blob.slice(offset, offset + length);
  }

  async chainIds() {
    return [...this.layers.keys()];
  }
}

const BASE = "a".repeat(64);
const TOP = "b".repeat(64);
const BIG = "0123456789abcdef".repeat(8000); // 128 000 bytes

function sampleLayers(): MemoryLayers {
  const layers = new MemoryLayers();
  layers.add(BASE, [
    { path: "", type: "directory", mode: 0o755 },
    { path: "bin", type: "directory", mode: 0o755 },
    { path: "bin/busybox", type: "file", mode: 0o4755, uid: 0, gid: 0, data: "\x7fELF busybox" },
    { path: "bin/sh", type: "symlink", mode: 0o777, linkTarget: "busybox" },
    { path: "data", type: "directory", mode: 0o700, uid: 1000, gid: 100 },
    { path: "data/big.bin", type: "file", data: BIG },
    { path: "data/dir", type: "directory" },
    { path: "data/dir/sub", type: "directory" },
    { path: "data/empty", type: "file" },
    { path: "data/keep.txt", type: "file", mode: 0o640, uid: 1000, gid: 100, data: "kept\n" },
    { path: "data/link.txt", type: "hardlink", linkTarget: "data/keep.txt", data: "kept\n" },
    { path: "dev", type: "directory" },
    { path: "dev/null", type: "characterDevice", mode: 0o666 },
    { path: "dev/hvc0", type: "characterDevice", mode: 0o600, devMajor: 229, devMinor: 0 },
    { path: "dev/loop300", type: "blockDevice", mode: 0o660, devMajor: 7, devMinor: 300 },
    { path: "etc", type: "directory" },
    { path: "etc/gone.txt", type: "file", data: "soon gone\n" },
    {
      path: "etc/caps",
      type: "file",
      xattrs: { "security.capability": "cap", "user.note": "hello", "system.posix_acl_access": "acl" },
      binaryXattrs: { "trusted.raw": "AIAB/w==" },
    },
  ]);
  layers.add(TOP, [
    { path: "", type: "directory", mode: 0o755 },
    { path: "data", type: "directory", mode: 0o700, uid: 1000, gid: 100 },
    { path: "data/dir", type: "directory", opaque: true },
    { path: "data/dir/new.txt", type: "file", data: "new\n" },
    { path: "etc", type: "directory" },
    { path: "etc/gone.txt", type: "whiteout", mode: 0 },
  ]);
  return layers;
}

// --- a client that plays the kernel ---------------------------------------------------------------------------

class NineError extends Error {
  constructor(readonly errno: number) {
    super(`Rlerror ${errno}`);
  }
}

interface Attr {
  valid: number;
  qid: Qid;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  mtime: number;
}

interface Dirent {
  qid: Qid;
  offset: number;
  type: number;
  name: string;
}

class Client {
  #tag = 1;
  readonly replies: number[] = [];

  constructor(readonly handler: ReturnType<typeof createLayerServer>) {}

  /** Whether the last reply came before the handler returned (no wait for the emulator to yield). */
  lastWasSynchronous = false;

  raw(request: Uint8Array): Promise<{ type: number; tag: number; body: MessageReader }> {
    return new Promise((resolve) => {
      let returned = false;
      this.handler(request, (response) => {
        const header = readHeader(response)!;
        expect(header.size).toBe(response.byteLength);
        this.replies.push(header.tag);
        this.lastWasSynchronous = !returned;
        resolve({ type: header.type, tag: header.tag, body: new MessageReader(response) });
      });
      returned = true;
    });
  }

  async call(type: number, build: (w: MessageWriter) => void, tag = this.#tag++): Promise<MessageReader> {
    const w = new MessageWriter(type, tag);
    build(w);
    const reply = await this.raw(w.finish());
    expect(reply.tag).toBe(tag);
    if (reply.type === Op.Rlerror) throw new NineError(reply.body.u32());
    expect(reply.type).toBe(type + 1);
    return reply.body;
  }

  async version(msize = 512000, version = "9P2000.L") {
    const r = await this.call(Op.Tversion, (w) => w.u32(msize).string(version), 0xffff);
    return { msize: r.u32(), version: r.string() };
  }

  async attach(fid: number, aname = "") {
    return (await this.call(Op.Tattach, (w) => w.u32(fid).u32(NOFID).string("root").string(aname).u32(0))).qid();
  }

  async walk(fid: number, newFid: number, names: string[]): Promise<Qid[]> {
    const r = await this.call(Op.Twalk, (w) => {
      w.u32(fid).u32(newFid).u16(names.length);
      for (const name of names) w.string(name);
    });
    return Array.from({ length: r.u16() }, () => r.qid());
  }

  async getattr(fid: number): Promise<Attr> {
    const r = await this.call(Op.Tgetattr, (w) => w.u32(fid).u64(0x3fff));
    const attr = {
      valid: r.u64(),
      qid: r.qid(),
      mode: r.u32(),
      uid: r.u32(),
      gid: r.u32(),
      nlink: r.u64(),
      rdev: r.u64(),
      size: r.u64(),
      blksize: r.u64(),
      blocks: r.u64(),
    };
    r.u64();
    r.u64();
    return { ...attr, mtime: r.u64() };
  }

  async lopen(fid: number, flags = 0) {
    const r = await this.call(Op.Tlopen, (w) => w.u32(fid).u32(flags));
    return { qid: r.qid(), iounit: r.u32() };
  }

  async read(fid: number, offset: number, count: number): Promise<Uint8Array> {
    const r = await this.call(Op.Tread, (w) => w.u32(fid).u64(offset).u32(count));
    return r.bytes(r.u32()).slice();
  }

  async readAll(fid: number, chunk: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (let offset = 0; ; ) {
      const part = await this.read(fid, offset, chunk);
      if (part.byteLength === 0) break;
      parts.push(part);
      offset += part.byteLength;
    }
    const all = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
    let at = 0;
    for (const part of parts) {
      all.set(part, at);
      at += part.byteLength;
    }
    return all;
  }

  async readdir(fid: number, offset: number, count: number): Promise<Dirent[]> {
    const r = await this.call(Op.Treaddir, (w) => w.u32(fid).u64(offset).u32(count));
    const end = r.u32();
    const entries: Dirent[] = [];
    const start = r.remaining;
    while (start - r.remaining < end) entries.push({ qid: r.qid(), offset: r.u64(), type: r.u8(), name: r.string() });
    return entries;
  }

  async readdirAll(fid: number, count = 8192): Promise<Dirent[]> {
    const all: Dirent[] = [];
    for (let offset = 0; ; ) {
      const entries = await this.readdir(fid, offset, count);
      if (entries.length === 0) return all;
      all.push(...entries);
      offset = entries.at(-1)!.offset;
    }
  }

  async readlink(fid: number) {
    return (await this.call(Op.Treadlink, (w) => w.u32(fid))).string();
  }

  async xattrwalk(fid: number, newFid: number, name: string) {
    return (await this.call(Op.Txattrwalk, (w) => w.u32(fid).u32(newFid).string(name))).u64();
  }

  async clunk(fid: number) {
    await this.call(Op.Tclunk, (w) => w.u32(fid));
  }

  /** Walks from the root fid 0 to `path` (a layer hex, then names) into `fid`. */
  async open(fid: number, path: string[]) {
    await this.walk(0, fid, path);
    return fid;
  }
}

async function errno(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof NineError) return error.errno;
    throw error;
  }
  throw new Error("expected an Rlerror");
}

async function connect(layers = sampleLayers(), options: LayerServerOptions = {}) {
  const client = new Client(createLayerServer(layers, options));
  await client.version();
  await client.attach(0);
  return { client, layers };
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

// --- the tests ------------------------------------------------------------------------------------------------

describe("a session", () => {
  it("agrees on 9P2000.L and the smaller msize; refuses other dialects", async () => {
    const client = new Client(createLayerServer(sampleLayers()));
    expect(await client.version(8192)).toEqual({ msize: 8192, version: "9P2000.L" });
    expect(await client.version(4 * 1024 * 1024)).toEqual({ msize: 512000, version: "9P2000.L" });
    expect((await client.version(8192, "9P2000.u")).version).toBe("unknown");
  });

  it("forgets every fid on a new Tversion", async () => {
    const { client } = await connect();
    await client.version();
    expect(await errno(client.getattr(0))).toBe(Errno.EBADF);
  });

  it("attaches to the share's root, or straight to a layer by its hex", async () => {
    const { client } = await connect();
    const root = await client.getattr(0);
    expect(root.mode).toBe(S_IFDIR | 0o755);
    expect(root.qid.type).toBe(0x80);
    const layer = await client.attach(1, TOP);
    expect(layer).toEqual((await client.walk(0, 2, [TOP]))[0]);
    expect(await errno(client.attach(3, "c".repeat(64)))).toBe(Errno.ENOENT);
    expect(await errno(client.attach(1))).toBe(Errno.EINVAL); // fid 1 is in use
  });
});

describe("the share's root", () => {
  it("lists one directory per layer, named by chain id hex, after . and ..", async () => {
    const { client } = await connect();
    await client.lopen(0);
    const entries = await client.readdirAll(0);
    expect(entries.map((e) => e.name)).toEqual([".", "..", BASE, TOP]);
    expect(entries.every((e) => e.type === 4)).toBe(true);
    // The qid a listing gives is the one a walk gives.
    const [walked] = await client.walk(0, 1, [BASE]);
    expect(entries[2]!.qid).toEqual(walked);
  });

  it("answers ENOENT for a layer the source does not have, and finds it once it arrives", async () => {
    const { client, layers } = await connect();
    const later = "d".repeat(64);
    expect(await errno(client.walk(0, 1, [later]))).toBe(Errno.ENOENT);
    expect(await errno(client.walk(0, 1, ["not-a-chain-id"]))).toBe(Errno.ENOENT);
    expect(await errno(client.walk(0, 1, [`sha256:${later}`]))).toBe(Errno.ENOENT);
    layers.add(later, [{ path: "", type: "directory" }]);
    expect(await client.walk(0, 1, [later])).toHaveLength(1);
  });

  it("reads each layer's index once, however many walks ask at the same time", async () => {
    const { client, layers } = await connect();
    await Promise.all([1, 2, 3, 4].map((fid) => client.walk(0, fid, [BASE, "bin", "busybox"])));
    expect(layers.indexReads).toBe(1);
  });
});

describe("a layer's files", () => {
  it("gives modes, owners, sizes and times from the index", async () => {
    const { client } = await connect();
    const busybox = await client.getattr(await client.open(1, [BASE, "bin", "busybox"]));
    expect(busybox).toMatchObject({ mode: S_IFREG | 0o4755, uid: 0, gid: 0, size: 12, nlink: 1, mtime: 1_700_000_000 });
    expect(busybox.valid).toBe(0x7ff);
    expect(busybox.qid.type).toBe(0);
    const keep = await client.getattr(await client.open(2, [BASE, "data", "keep.txt"]));
    expect(keep).toMatchObject({ mode: S_IFREG | 0o640, uid: 1000, gid: 100, size: 5 });
    const data = await client.getattr(await client.open(3, [BASE, "data"]));
    expect(data).toMatchObject({ mode: S_IFDIR | 0o700, uid: 1000, gid: 100 });
    // A directory counts its subdirectories' `..`: data has one (dir), dir has one (sub).
    expect(data.nlink).toBe(3);
    expect((await client.getattr(await client.open(4, [BASE, "data", "dir"]))).nlink).toBe(3);
    const big = await client.getattr(await client.open(5, [BASE, "data", "big.bin"]));
    expect(big.blocks).toBe(Math.ceil(128_000 / 512));
  });

  it("reads files byte-exact, in pieces no larger than msize allows", async () => {
    const client = new Client(createLayerServer(sampleLayers()));
    await client.version(8192);
    await client.attach(0);
    const fid = await client.open(1, [BASE, "data", "big.bin"]);
    await client.lopen(fid);
    const first = await client.read(fid, 0, 1_000_000);
    expect(first.byteLength).toBe(8192 - 11);
    expect(text(await client.readAll(fid, 100_000))).toBe(BIG);
    expect(text(await client.read(fid, 127_990, 100))).toBe(BIG.slice(127_990));
    expect((await client.read(fid, 128_000, 100)).byteLength).toBe(0);
    expect((await client.read(fid, 1e9, 100)).byteLength).toBe(0);
    const empty = await client.open(2, [BASE, "data", "empty"]);
    await client.lopen(empty);
    expect((await client.read(empty, 0, 100)).byteLength).toBe(0);
  });

  it("shows symlinks with their target", async () => {
    const { client } = await connect();
    const fid = await client.open(1, [BASE, "bin", "sh"]);
    expect(await client.readlink(fid)).toBe("busybox");
    const attr = await client.getattr(fid);
    expect(attr).toMatchObject({ mode: S_IFLNK | 0o777, size: 7 });
    expect(attr.qid.type).toBe(0x02);
    expect(await errno(client.readlink(await client.open(2, [BASE, "bin", "busybox"])))).toBe(Errno.EINVAL);
  });

  it("shows a hard link as its target's inode, with a link count of 2", async () => {
    const { client } = await connect();
    const keep = await client.getattr(await client.open(1, [BASE, "data", "keep.txt"]));
    const link = await client.getattr(await client.open(2, [BASE, "data", "link.txt"]));
    expect(link.qid).toEqual(keep.qid);
    expect(link.nlink).toBe(2);
    await client.lopen(2);
    expect(text(await client.read(2, 0, 100))).toBe("kept\n");
  });

  it("shows a whiteout as a character device 0:0, and other devices with their numbers, never as whiteouts", async () => {
    const { client } = await connect();
    const whiteout = await client.getattr(await client.open(1, [TOP, "etc", "gone.txt"]));
    expect(whiteout).toMatchObject({ mode: S_IFCHR, rdev: 0, size: 0 });
    // An index made before device numbers were kept.
    const unnumbered = await client.getattr(await client.open(2, [BASE, "dev", "null"]));
    expect(unnumbered).toMatchObject({ mode: S_IFCHR | 0o666, rdev: UNKNOWN_DEVICE });
    // new_encode_dev: minor's low byte, major, then minor's high bits.
    const hvc = await client.getattr(await client.open(3, [BASE, "dev", "hvc0"]));
    expect(hvc).toMatchObject({ mode: S_IFCHR | 0o600, rdev: 229 << 8 });
    const loop = await client.getattr(await client.open(4, [BASE, "dev", "loop300"]));
    expect(loop).toMatchObject({ mode: S_IFBLK | 0o660, rdev: (300 & 0xff) | (7 << 8) | ((300 & ~0xff) << 12) });
  });

  it("lists a directory with qids and d_types, across as many Treaddir calls as it takes", async () => {
    const { client } = await connect();
    const fid = await client.open(1, [BASE, "data"]);
    await client.lopen(fid);
    const small = await client.readdirAll(fid, 40); // one entry at a time
    const large = await client.readdirAll(fid);
    expect(small).toEqual(large);
    expect(large.map((e) => [e.name, e.type])).toEqual([
      [".", 4],
      ["..", 4],
      ["big.bin", 8],
      ["dir", 4],
      ["empty", 8],
      ["keep.txt", 8],
      ["link.txt", 8],
    ]);
    const [keep] = await client.walk(fid, 2, ["keep.txt"]);
    expect(large.find((e) => e.name === "keep.txt")!.qid).toEqual(keep);
    expect(large.find((e) => e.name === "link.txt")!.qid).toEqual(keep);
    const [parent] = await client.walk(0, 3, [BASE]);
    expect(large[1]!.qid).toEqual(parent);
    // A layer's root lists the share's root as its parent.
    const top = await client.open(4, [TOP]);
    const [, dotdot] = await client.readdirAll(top);
    expect(dotdot!.qid.path).toBe(1);
  });

  it("keeps qids stable and unique: the same path twice, across layers, and after a tree is dropped", async () => {
    const { client } = await connect(sampleLayers(), { cachedLayers: 1 });
    const [, , first] = await client.walk(0, 1, [BASE, "data", "keep.txt"]);
    const [, topData] = await client.walk(0, 2, [TOP, "data"]); // BASE's tree is dropped here
    const [, baseData, again] = await client.walk(0, 3, [BASE, "data", "keep.txt"]);
    expect(again).toEqual(first);
    expect(baseData!.path).not.toBe(topData!.path);
    const seen = new Set<number>();
    const collect = async (fid: number, path: string[]) => {
      await client.walk(0, fid, path);
      for (const entry of await client.readdirAll(fid)) {
        if (entry.name === "." || entry.name === ".." || entry.name === "link.txt") continue;
        expect(seen.has(entry.qid.path)).toBe(false);
        seen.add(entry.qid.path);
      }
    };
    await collect(10, [BASE]);
    await collect(11, [BASE, "data"]);
    await collect(12, [TOP]);
    await collect(13, [TOP, "data"]);
  });
});

describe("walks", () => {
  it("walks .. back up, and several names in one message", async () => {
    const { client } = await connect();
    const qids = await client.walk(0, 1, [BASE, "data", "dir", "..", "keep.txt"]);
    expect(qids).toHaveLength(5);
    expect(qids[4]).toEqual((await client.walk(0, 2, [BASE, "data", "keep.txt"]))[2]);
    expect(await client.walk(0, 3, [".."])).toEqual([await client.attach(4)]);
  });

  it("stops short at a missing name (newfid stays unused) and fails on a missing first name", async () => {
    const { client } = await connect();
    expect(await client.walk(0, 1, [BASE, "data", "nope", "deeper"])).toHaveLength(2);
    expect(await errno(client.getattr(1))).toBe(Errno.EBADF);
    await client.walk(0, 2, [BASE]);
    expect(await errno(client.walk(2, 3, ["nope"]))).toBe(Errno.ENOENT);
    await client.walk(0, 4, [BASE, "data", "keep.txt"]);
    expect(await errno(client.walk(4, 5, ["x"]))).toBe(Errno.ENOTDIR);
  });

  it("clones a fid with no names, and may move a fid onto itself", async () => {
    const { client } = await connect();
    await client.walk(0, 1, [BASE]);
    expect(await client.walk(1, 2, [])).toEqual([]);
    expect((await client.getattr(2)).qid).toEqual((await client.getattr(1)).qid);
    await client.walk(1, 1, ["data"]);
    expect((await client.getattr(1)).uid).toBe(1000);
    expect(await errno(client.walk(0, 2, [BASE]))).toBe(Errno.EINVAL); // 2 is in use
  });
});

describe("xattrs", () => {
  it("answers trusted.overlay.opaque = y on an opaque directory, through Txattrwalk and Tread", async () => {
    const { client } = await connect();
    const dir = await client.open(1, [TOP, "data", "dir"]);
    expect(await client.xattrwalk(dir, 2, OPAQUE_XATTR)).toBe(1);
    expect(text(await client.read(2, 0, 100))).toBe("y");
    expect(await client.xattrwalk(dir, 3, "")).toBe(OPAQUE_XATTR.length + 1);
    expect(text(await client.read(3, 0, 100))).toBe(`${OPAQUE_XATTR}\0`);
    await client.clunk(2);
    await client.clunk(3);
  });

  it("answers ENODATA for what a node does not have, and an empty list", async () => {
    const { client } = await connect();
    const plain = await client.open(1, [BASE, "data", "dir"]);
    expect(await errno(client.xattrwalk(plain, 2, OPAQUE_XATTR))).toBe(Errno.ENODATA);
    expect(await errno(client.xattrwalk(plain, 2, "trusted.overlay.origin"))).toBe(Errno.ENODATA);
    expect(await client.xattrwalk(plain, 2, "")).toBe(0);
  });

  it("serves the layer's own xattrs, binary ones byte for byte, listing only namespaces the guest reads back", async () => {
    const { client } = await connect();
    const caps = await client.open(1, [BASE, "etc", "caps"]);
    await client.xattrwalk(caps, 2, "");
    // Not system.*: the guest's kernel has no 9P ACL support. security.* it reads (CONFIG_9P_FS_SECURITY).
    expect(text(await client.read(2, 0, 100))).toBe("security.capability\0user.note\0trusted.raw\0");
    expect(await client.xattrwalk(caps, 5, "trusted.raw")).toBe(4);
    expect([...(await client.read(5, 0, 100))]).toEqual([0, 0x80, 1, 0xff]);
    expect(await client.xattrwalk(caps, 3, "security.capability")).toBe(3);
    expect(text(await client.read(3, 0, 100))).toBe("cap");
    expect(await client.xattrwalk(caps, 4, "user.note")).toBe(5);
    expect(text(await client.read(4, 2, 100))).toBe("llo");
  });
});

describe("what a read-only share refuses", () => {
  it("answers EROFS to every kind of write, and to opening for writing", async () => {
    const { client } = await connect();
    const dir = await client.open(1, [BASE, "data"]);
    const file = await client.open(2, [BASE, "data", "keep.txt"]);
    const writes: [number, (w: MessageWriter) => void][] = [
      [Op.Tlcreate, (w) => w.u32(dir).string("new").u32(0o102).u32(0o644).u32(0)],
      [Op.Tmkdir, (w) => w.u32(dir).string("new").u32(0o755).u32(0)],
      [Op.Tsymlink, (w) => w.u32(dir).string("new").string("target").u32(0)],
      [Op.Tunlinkat, (w) => w.u32(dir).string("keep.txt").u32(0)],
      [Op.Trenameat, (w) => w.u32(dir).string("keep.txt").u32(dir).string("moved").u32(0)],
      [Op.Tsetattr, (w) => w.u32(file).u32(1).u32(0o600)],
      [Op.Txattrcreate, (w) => w.u32(file).string("user.x").u64(1).u32(0)],
      [Op.Twrite, (w) => w.u32(file).u64(0).u32(1).u8(0x41)],
    ];
    for (const [type, build] of writes) expect(await errno(client.call(type, build))).toBe(Errno.EROFS);
    expect(await errno(client.lopen(file, 1))).toBe(Errno.EROFS); // O_WRONLY
    expect(await errno(client.lopen(file, 2))).toBe(Errno.EROFS); // O_RDWR
    expect(await errno(client.lopen(file, 0o1000))).toBe(Errno.EROFS); // O_TRUNC
    expect((await client.lopen(file, 0o400000)).iounit).toBe(0); // O_RDONLY|O_NOFOLLOW is fine
  });

  it("clunks the fid of a refused Tremove", async () => {
    const { client } = await connect();
    const file = await client.open(1, [BASE, "data", "keep.txt"]);
    expect(await errno(client.call(Op.Tremove, (w) => w.u32(file)))).toBe(Errno.EROFS);
    expect(await errno(client.getattr(file))).toBe(Errno.EBADF);
  });

  it("answers EOPNOTSUPP to messages it does not know, and EPROTO to ones that do not parse", async () => {
    const { client } = await connect();
    expect(await errno(client.call(Op.Tauth, (w) => w.u32(5).string("u").string("a").u32(0)))).toBe(Errno.EOPNOTSUPP);
    expect(await errno(client.call(200, () => {}))).toBe(Errno.EOPNOTSUPP);
    expect(await errno(client.call(Op.Twalk, (w) => w.u32(0).u32(1).u16(2).string(BASE)))).toBe(Errno.EPROTO);
    // A size field larger than the message.
    const lying = new MessageWriter(Op.Tclunk, 9).u32(0).finish();
    new DataView(lying.buffer, lying.byteOffset).setUint32(0, 100, true);
    const reply = await client.raw(lying);
    expect([reply.type, reply.tag, reply.body.u32()]).toEqual([Op.Rlerror, 9, Errno.EPROTO]);
  });

  it("answers every garbled message with exactly one reply for its tag, and never throws into the emulator", async () => {
    const { client } = await connect();
    await client.walk(0, 1, [BASE, "data"]);
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const types = [...Object.values(Op), 0, 99, 255];
    for (let i = 0; i < 2000; i++) {
      const body = new Uint8Array(Math.floor(random() * 40)).map(() => Math.floor(random() * 256));
      // Mostly small fids, so that some garbled requests reach real nodes.
      if (body.length >= 4 && random() < 0.7) new DataView(body.buffer).setUint32(0, Math.floor(random() * 3), true);
      const type = types[Math.floor(random() * types.length)]!;
      if (type === Op.Tversion) continue; // a valid one would end the session
      const tag = 1000 + i;
      const message = new MessageWriter(type, tag).bytes(body).finish();
      const replies: number[] = [];
      await new Promise<void>((resolve) => {
        expect(() =>
          client.handler(message, (response) => {
            replies.push(readHeader(response)!.tag);
            resolve();
          }),
        ).not.toThrow();
      });
      expect(replies).toEqual([tag]);
    }
    // The session still works (the garbage may have clunked fids 0 to 2: start afresh).
    await client.attach(50);
    await client.walk(50, 51, [BASE, "data"]);
    expect((await client.getattr(51)).uid).toBe(1000);
  });

  it("answers EBADF for fids it never gave out, EISDIR and ENOTDIR for the wrong kind of node", async () => {
    const { client } = await connect();
    expect(await errno(client.getattr(42))).toBe(Errno.EBADF);
    expect(await errno(client.clunk(42))).toBe(Errno.EBADF);
    const dir = await client.open(1, [BASE, "data"]);
    expect(await errno(client.read(dir, 0, 10))).toBe(Errno.EISDIR);
    const file = await client.open(2, [BASE, "data", "keep.txt"]);
    expect(await errno(client.readdir(file, 0, 1000))).toBe(Errno.ENOTDIR);
    await client.clunk(2);
    expect(await errno(client.getattr(2))).toBe(Errno.EBADF);
  });
});

describe("answering fast", () => {
  it("answers what needs no I/O before the handler returns", async () => {
    const { client } = await connect();
    await client.walk(0, 1, [BASE]); // reads the index: asynchronous
    expect(client.lastWasSynchronous).toBe(false);
    await client.walk(0, 2, [BASE, "data", "keep.txt"]);
    expect(client.lastWasSynchronous).toBe(true);
    for (const call of [client.getattr(2), client.lopen(2), client.readdir(1, 0, 8192), client.xattrwalk(2, 3, "")]) {
      await call;
      expect(client.lastWasSynchronous).toBe(true);
    }
  });

  it("reads a streamed file ahead, so the next Tread is answered at once", async () => {
    const { client, layers } = await connect();
    const fid = await client.open(1, [BASE, "data", "big.bin"]);
    await client.lopen(fid);
    const first = await client.read(fid, 0, 100_000);
    expect(client.lastWasSynchronous).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const second = await client.read(fid, 100_000, 100_000);
    expect(client.lastWasSynchronous).toBe(true);
    expect(text(first) + text(second)).toBe(BIG);
    expect(layers.contentReads).toEqual([
      [0, 100_000],
      [100_000, 28_000],
    ]);
  });

  it("reads again, and reports, when a read-ahead failed", async () => {
    const layers = sampleLayers();
    const errors: unknown[] = [];
    const { client } = await connect(layers, { onError: (error) => errors.push(error) });
    const fid = await client.open(1, [BASE, "data", "big.bin"]);
    await client.lopen(fid);
    layers.failReads = true;
    let release = () => {};
    layers.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = client.read(fid, 0, 100_000);
    release();
    expect(await errno(first)).toBe(Errno.EIO);
    layers.failReads = false;
    expect(text(await client.read(fid, 100_000, 100_000))).toBe(BIG.slice(100_000));
    expect(errors).toHaveLength(1);
  });
});

describe("the rest of the protocol", () => {
  it("answers Tstatfs as a 9P file system with no free space", async () => {
    const { client } = await connect();
    const r = await client.call(Op.Tstatfs, (w) => w.u32(0));
    expect(r.u32()).toBe(0x01021997);
    expect(r.u32()).toBe(4096);
    expect([r.u64(), r.u64(), r.u64()]).toEqual([0, 0, 0]);
  });

  it("answers a Tflush only after the request it names", async () => {
    const layers = sampleLayers();
    let release = () => {};
    layers.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { client } = await connect(layers);
    const fid = await client.open(1, [BASE, "data", "keep.txt"]);
    await client.lopen(fid);
    const read = client.call(Op.Tread, (w) => w.u32(fid).u64(0).u32(100), 500);
    const flush = client.call(Op.Tflush, (w) => w.u16(500), 501);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(client.replies).not.toContain(500);
    expect(client.replies).not.toContain(501);
    release();
    await Promise.all([read, flush]);
    expect(client.replies.slice(-2)).toEqual([500, 501]);
    // A flush of a tag with nothing in flight is answered at once.
    await client.call(Op.Tflush, (w) => w.u16(777));
  });

  it("turns a source that fails into EIO, and says why", async () => {
    const layers = sampleLayers();
    layers.failReads = true;
    const errors: unknown[] = [];
    const { client } = await connect(layers, { onError: (error) => errors.push(error) });
    const fid = await client.open(1, [BASE, "data", "keep.txt"]);
    await client.lopen(fid);
    expect(await errno(client.read(fid, 0, 10))).toBe(Errno.EIO);
    expect(String(errors[0])).toContain("the disk is on fire");
  });

  it("grants locks (nothing on the share can change)", async () => {
    const { client } = await connect();
    const fid = await client.open(1, [BASE, "data", "keep.txt"]);
    const lock = await client.call(Op.Tlock, (w) => w.u32(fid).u8(0).u32(0).u64(0).u64(0).u32(1).string("guest"));
    expect(lock.u8()).toBe(0);
    const got = await client.call(Op.Tgetlock, (w) => w.u32(fid).u8(1).u64(5).u64(10).u32(7).string("guest"));
    expect([got.u8(), got.u64(), got.u64(), got.u32(), got.string()]).toEqual([2, 5, 10, 7, "guest"]);
  });
});
