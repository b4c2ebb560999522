import type { TarEntry } from "modern-tar";
import { describe, expect, it } from "vitest";
import { gzip, tar, withDeviceNumbers } from "../../test/fakes/registry.ts";
import { MemoryContentStore } from "../content/index.ts";
import { isEngineError } from "../errors.ts";
import { defaultHasherFactory, digestOf, type LayerCompression } from "../oci/index.ts";
import type { LayerEntry } from "./layer-index.ts";
import { parseLayerIndex, serializeLayerIndex } from "./layer-index.ts";
import { encodeTar } from "./tar-entries.ts";
import { unpackLayer } from "./unpack.ts";

const mtime = new Date("2024-05-01T12:00:00Z");
const file = (name: string, body: string, extra: Partial<TarEntry["header"]> = {}): TarEntry => ({
  header: { name, type: "file", size: new TextEncoder().encode(body).byteLength, mode: 0o644, mtime, ...extra },
  body,
});
const entry = (header: TarEntry["header"]): TarEntry => ({ header: { mtime, ...header } });

const LAYER: TarEntry[] = [
  entry({ name: "./", type: "directory", size: 0, mode: 0o755 }),
  entry({ name: "./etc/", type: "directory", size: 0, mode: 0o755 }),
  file("./etc/hostname", "box\n"),
  file("./bin/su", "pretend su", { mode: 0o4755, uid: 0, gid: 0 }),
  file("./home/ann/notes.txt", "nested without parents", { uid: 1000, gid: 1000 }),
  entry({ name: "./bin/sh", type: "symlink", size: 0, linkname: "busybox", mode: 0o777 }),
  entry({ name: "./etc/hostname.link", type: "link", size: 0, linkname: "./etc/hostname", mode: 0o644 }),
  file("./empty", ""),
  entry({ name: "./etc/.wh.gone.conf", type: "file", size: 0, mode: 0o644 }),
  entry({ name: "./var/cache/", type: "directory", size: 0, mode: 0o700 }),
  entry({ name: "./var/cache/.wh..wh..opq", type: "file", size: 0 }),
  entry({ name: "./data/.wh..wh..opq", type: "file", size: 0 }),
  entry({ name: "./.wh..wh.plnk", type: "directory", size: 0 }),
  file("./ping", "cap", { pax: { "SCHILY.xattr.security.capability": "cap_net_raw+ep" } }),
  file("./etc/hostname", "replaced\n"),
];

/** A zstd frame made of raw (stored) blocks: enough to prove the zstd path without a compressor. */
function zstdRawFrame(bytes: Uint8Array): Uint8Array {
  const blockMax = 128 * 1024;
  const parts: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
  for (let offset = 0; offset < bytes.byteLength || offset === 0; offset += blockMax) {
    const block = bytes.subarray(offset, offset + blockMax);
    const last = offset + blockMax >= bytes.byteLength ? 1 : 0;
    const header = (block.byteLength << 3) | last;
    parts.push(header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff, ...block);
    if (last) break;
  }
  return new Uint8Array(parts);
}

async function unpack(blob: Uint8Array, compression: LayerCompression, store = new MemoryContentStore()) {
  const written: string[] = [];
  const result = await unpackLayer({
    store,
    hashers: defaultHasherFactory,
    blob: new Blob([blob as Uint8Array<ArrayBuffer>]).stream(),
    compression,
    onContent: (digest) => written.push(digest),
  });
  return { ...result, store, written, byPath: new Map(result.index.entries.map((e) => [e.path, e])) };
}

describe("unpackLayer", async () => {
  const layerTar = await tar(LAYER);

  it("indexes every path with its metadata, and stores file bytes as blobs", async () => {
    const { index, byPath, store, diffId, size } = await unpack(await gzip(layerTar), "gzip");
    expect(diffId).toBe(digestOf(layerTar));
    expect(size).toBe(layerTar.byteLength);
    expect(index.diffId).toBe(diffId);
    const paths = index.entries.map((e) => e.path);
    expect(paths).toEqual([...paths].sort());
    expect(byPath.get("")).toMatchObject({ type: "directory", mode: 0o755 });
    const hostname = byPath.get("etc/hostname")!;
    expect(hostname).toMatchObject({ type: "file", size: 9, mode: 0o644, mtime: mtime.getTime() / 1000 });
    expect(new TextDecoder().decode(await store.readBytes(hostname.content!))).toBe("replaced\n");
    expect(byPath.get("bin/su")).toMatchObject({ mode: 0o4755 });
    expect(byPath.get("home/ann/notes.txt")).toMatchObject({ uid: 1000, gid: 1000 });
    expect(byPath.get("home/ann")).toMatchObject({ type: "directory", mode: 0o755, uid: 0 });
    expect(byPath.get("bin/sh")).toMatchObject({ type: "symlink", linkTarget: "busybox" });
    expect(byPath.get("empty")).toMatchObject({ type: "file", size: 0 });
    expect(byPath.get("empty")?.content).toBeUndefined();
    expect(byPath.get("ping")?.xattrs).toEqual({ "security.capability": "cap_net_raw+ep" });
  });

  it("keeps an xattr that is not text byte for byte (a committed file's security.capability), and devices", async () => {
    const capability = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0x80, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const at = { uid: 0, gid: 0, mtime: 0 };
    const committed = encodeTar([
      { path: "bin", type: "directory", mode: 0o755, ...at },
      {
        path: "bin/ping",
        type: "file",
        mode: 0o755,
        ...at,
        body: new Uint8Array([1]),
        xattrs: new Map([
          ["security.capability", capability],
          ["user.note", new TextEncoder().encode("ünï")],
        ]),
      },
      { path: "null2", type: "character-device", mode: 0o666, ...at, devMajor: 1, devMinor: 3 },
    ]);
    const { byPath } = await unpack(committed, "none");
    expect(byPath.get("bin/ping")).toMatchObject({
      xattrs: { "user.note": "ünï" },
      binaryXattrs: { "security.capability": btoa(String.fromCharCode(...capability)) },
    });
    expect(byPath.get("null2")).toMatchObject({ type: "characterDevice", devMajor: 1, devMinor: 3 });
  });

  it("gives a hard link its target's bytes as they were when linked", async () => {
    const { byPath, store } = await unpack(layerTar, "none");
    const link = byPath.get("etc/hostname.link")!;
    expect(link).toMatchObject({ type: "hardlink", linkTarget: "etc/hostname", size: 4 });
    expect(new TextDecoder().decode(await store.readBytes(link.content!))).toBe("box\n");
  });

  it("keeps whiteouts as entries and marks opaque directories", async () => {
    const { byPath } = await unpack(layerTar, "none");
    expect(byPath.get("etc/gone.conf")).toMatchObject<Partial<LayerEntry>>({ type: "whiteout" });
    expect(byPath.has("etc/.wh.gone.conf")).toBe(false);
    expect(byPath.get("var/cache")).toMatchObject({ type: "directory", mode: 0o700, opaque: true });
    expect(byPath.get("data")).toMatchObject({ type: "directory", opaque: true });
    expect(byPath.get("etc")?.opaque).toBeUndefined();
    expect([...byPath.keys()].some((path) => path.includes(".wh."))).toBe(false);
  });

  it("reads zstd and uncompressed layers to the same index", async () => {
    const gz = await unpack(await gzip(layerTar), "gzip");
    const zst = await unpack(zstdRawFrame(layerTar), "zstd");
    const raw = await unpack(layerTar, "none");
    expect(zst.index).toEqual(gz.index);
    expect(raw.index).toEqual(gz.index);
  });

  it("stores identical file contents once", async () => {
    const twice = await tar([file("a", "same bytes"), file("b", "same bytes")]);
    const { store, byPath } = await unpack(twice, "none");
    expect(byPath.get("a")?.content).toBe(byPath.get("b")?.content);
    expect((await store.usage()).count).toBe(1);
  });

  it("round-trips the index through its JSON form", async () => {
    const { index } = await unpack(layerTar, "none");
    expect(parseLayerIndex(serializeLayerIndex(index))).toEqual(JSON.parse(JSON.stringify(index)));
  });

  it("refuses a path that climbs out of the layer", async () => {
    const evil = await tar([file("../../etc/passwd", "root::0:0")]);
    const error = await unpack(evil, "none").catch((caught: unknown) => caught);
    expect(isEngineError(error, "invalidArgument")).toBe(true);
  });

  it("accepts a tar without end-of-archive blocks, as Docker does", async () => {
    const withoutEnd = layerTar.subarray(0, layerTar.byteLength - 1024);
    expect(layerTar.subarray(-1024).every((byte) => byte === 0)).toBe(true);
    const { byPath } = await unpack(withoutEnd, "none");
    expect(byPath.get("ping")?.xattrs).toBeDefined();
  });

  it("refuses a tar cut inside an entry or a header, whatever its digests say", async () => {
    // 1536 ends right after etc/hostname's header, before its bytes; the others inside a block.
    for (const end of [2048 + 100, 1536, 512 + 17]) {
      const error = await unpack(layerTar.subarray(0, end), "none").catch((caught: unknown) => caught);
      expect([end, isEngineError(error, "dataLoss") ? "refused" : String(error)]).toEqual([end, "refused"]);
    }
  });

  it("resolves a path under a symlink of the same layer inside the layer, and drops a replaced directory's children", async () => {
    const layer = await tar([
      entry({ name: "etc-link", type: "symlink", size: 0, linkname: "/etc" }),
      file("etc-link/passwd", "inside\n"),
      entry({ name: "up", type: "symlink", size: 0, linkname: "../../.." }),
      file("up/top.txt", "top\n"),
      file("a/../b.txt", "cleaned\n"),
      entry({ name: "d/", type: "directory", size: 0 }),
      file("d/child", "child\n"),
      file("d", "now a file\n"),
    ]);
    const { byPath } = await unpack(layer, "none");
    expect(byPath.get("etc/passwd")).toMatchObject({ type: "file" });
    expect(byPath.has("etc-link/passwd")).toBe(false);
    expect(byPath.get("top.txt")).toMatchObject({ type: "file" });
    expect(byPath.get("b.txt")).toMatchObject({ type: "file" });
    expect(byPath.get("d")).toMatchObject({ type: "file" });
    expect(byPath.has("d/child")).toBe(false);
  });

  it("refuses a hard link out of the layer or to nothing in it, and a path under a file", async () => {
    const cases = [
      [entry({ name: "x", type: "link", size: 0, linkname: "../etc/passwd" })],
      [entry({ name: "x", type: "link", size: 0, linkname: "/etc/passwd" })],
      [file("f", "file\n"), file("f/under", "no\n")],
    ];
    for (const entries of cases) {
      const error = await unpack(await tar(entries), "none").catch((caught: unknown) => caught);
      expect(isEngineError(error, "invalidArgument")).toBe(true);
    }
  });

  it("keeps a device's numbers from its tar header", async () => {
    const layer = withDeviceNumbers(
      await tar([
        entry({ name: "dev/hvc0", type: "character-device", size: 0, mode: 0o600 }),
        file("after.txt", "framed right after the devices\n"),
        entry({ name: "dev/vda", type: "block-device", size: 0, mode: 0o660 }),
        entry({ name: "dev/big-minor", type: "character-device", size: 0, mode: 0o600 }),
      ]),
      { "dev/hvc0": [229, 0], "dev/vda": [254, 0], "dev/big-minor": [10, 70_000] },
    );
    const { byPath } = await unpack(await gzip(layer), "gzip");
    expect(byPath.get("dev/hvc0")).toMatchObject({ type: "characterDevice", mode: 0o600, devMajor: 229, devMinor: 0 });
    expect(byPath.get("dev/vda")).toMatchObject({ type: "blockDevice", devMajor: 254, devMinor: 0 });
    expect(byPath.get("dev/big-minor")).toMatchObject({ devMajor: 10, devMinor: 70_000 });
    expect(byPath.get("after.txt")).toMatchObject({ type: "file", size: 31 });
  });

  it("refuses a device the guest's kernel cannot number", async () => {
    const layer = withDeviceNumbers(await tar([entry({ name: "odd", type: "block-device", size: 0 })]), {
      odd: [5000, 1],
    });
    await expect(unpack(layer, "none")).rejects.toThrow(/"odd" is a device 5000:1, which Linux cannot number/);
  });

  it("refuses a PAX header over Go's 1 MiB with Go's words, and takes one just under", async () => {
    const pax = (bytes: number) => file("x.txt", "x\n", { pax: { "SCHILY.xattr.user.big": "v".repeat(bytes) } });
    const under = await unpack(await tar([pax((1 << 20) - 64)]), "none");
    expect(under.byPath.get("x.txt")?.xattrs?.["user.big"]).toHaveLength((1 << 20) - 64);
    const error = await unpack(await tar([pax(1 << 20)]), "none").catch((caught: unknown) => caught);
    expect(isEngineError(error, "dataLoss")).toBe(true);
    expect((error as Error).message).toMatch(
      /a PAX header of 1048\d{3} bytes, over the 1 MiB that Docker's tar reader takes \(archive\/tar: header field too long\)/,
    );
  });

  it("refuses a tar whose entry two readers would frame differently", async () => {
    // A regular file whose name ends in "/" is a directory to one reader and a file with 600 bytes to another.
    const layer = await tar([file("odd/", "y".repeat(600)), file("next.txt", "next\n")]);
    const error = await unpack(layer, "none").catch((caught: unknown) => caught);
    expect(isEngineError(error, "dataLoss")).toBe(true);
  });

  it("unpacks a layer larger than its batches the same whatever the size of the chunks it arrives in", async () => {
    // Files that cross the unpacker's 256 KiB batches, one right after a boundary, a header split by one.
    const big = new Uint8Array(700_000).map((_, i) => (i * 31 + (i >> 9)) & 0xff);
    const bytes = (name: string, body: Uint8Array): TarEntry => ({
      header: { name, type: "file", size: body.byteLength, mode: 0o644, mtime },
      body,
    });
    const layer = await tar([
      bytes("a.bin", big.subarray(0, 262_144 - 512 - 512)),
      bytes("b.bin", big),
      file("c.txt", "after\n"),
    ]);
    const diffId = digestOf(layer, "sha256", defaultHasherFactory);
    const inChunks = async (size: number) => {
      let at = 0;
      const blob = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (at >= layer.byteLength) return controller.close();
          controller.enqueue(layer.slice(at, at + size));
          at += size;
        },
      });
      const store = new MemoryContentStore();
      const result = await unpackLayer({ store, hashers: defaultHasherFactory, blob, compression: "none" });
      const byPath = new Map(result.index.entries.map((e) => [e.path, e]));
      const b = byPath.get("b.bin");
      return {
        diffId: result.diffId,
        size: result.size,
        b: b?.content && (await store.readBytes(b.content)).every((byte, i) => byte === big[i]) ? b.size : "wrong",
        c: new TextDecoder().decode(
          await store.readBytes(
            byPath.get("c.txt")?.content ?? digestOf(new Uint8Array(0), "sha256", defaultHasherFactory),
          ),
        ),
      };
    };
    for (const size of [7_001, 16_384, 262_144 + 1, layer.byteLength]) {
      expect([size, await inChunks(size)]).toEqual([
        size,
        { diffId, size: layer.byteLength, b: big.byteLength, c: "after\n" },
      ]);
    }
  });

  it("gives a cut tar a different diff id, and fails on corrupt gzip", async () => {
    const compressed = await gzip(layerTar);
    compressed[compressed.byteLength - 6]! ^= 0xff;
    await expect(unpack(compressed, "gzip")).rejects.toThrow();
  });
});
