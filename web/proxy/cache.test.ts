// One conformance suite for every BlobCache: verified commits, ranges, eviction, limits.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BlobCache, CacheFullError, DigestMismatchError, digestOf, MemoryBlobCache, parseRange } from "./cache.ts";
import { FsBlobCache } from "./cache-fs.ts";
import { nodeHash } from "./node.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const sha256 = (data: Uint8Array<ArrayBuffer>) => digestOf(data, "sha256");

async function put(cache: BlobCache, data: Uint8Array<ArrayBuffer>, mediaType?: string): Promise<string> {
  const digest = await sha256(data);
  const writer = await cache.ingest({ digest, size: data.byteLength, ...(mediaType ? { mediaType } : {}) });
  if (!writer) throw new Error("not cacheable");
  await writer.write(data.subarray(0, 3));
  await writer.write(data.subarray(3));
  await writer.commit();
  return digest;
}

async function read(cache: BlobCache, digest: string, range?: { start: number; end: number }): Promise<string> {
  const blob = await cache.open(digest, range);
  if (!blob) return "<missing>";
  return new Response(blob.body).text();
}

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const implementations: Array<[string, (maxBytes: number, maxEntryBytes?: number) => Promise<BlobCache>]> = [
  [
    "MemoryBlobCache",
    async (maxBytes, maxEntryBytes) => new MemoryBlobCache({ maxBytes, ...(maxEntryBytes ? { maxEntryBytes } : {}) }),
  ],
  [
    "MemoryBlobCache hashing with node:crypto",
    async (maxBytes, maxEntryBytes) =>
      new MemoryBlobCache({ maxBytes, ...(maxEntryBytes ? { maxEntryBytes } : {}), createHash: nodeHash }),
  ],
  [
    "FsBlobCache",
    async (maxBytes, maxEntryBytes) => {
      const dir = await mkdtemp(join(tmpdir(), "proxy-cache-"));
      dirs.push(dir);
      return new FsBlobCache({ dir, maxBytes, ...(maxEntryBytes ? { maxEntryBytes } : {}) });
    },
  ],
];

describe.each(implementations)("%s", (_name, make) => {
  it("serves a committed blob, whole and by range, with its media type", async () => {
    const cache = await make(1000);
    const digest = await put(cache, bytes("hello, layer"), "application/vnd.oci.image.manifest.v1+json");
    expect(await cache.stat(digest)).toEqual({
      digest,
      size: 12,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
    });
    expect(await read(cache, digest)).toBe("hello, layer");
    expect(await read(cache, digest, { start: 7, end: 11 })).toBe("layer");
    expect(await cache.usage()).toEqual({ bytes: 12, count: 1, reservedBytes: 0 });
  });

  it("never shows a blob whose bytes do not match its digest", async () => {
    const cache = await make(1000);
    const digest = await sha256(bytes("the real thing"));
    const writer = (await cache.ingest({ digest }))!;
    await writer.write(bytes("something else"));
    await expect(writer.commit()).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await cache.stat(digest)).toBeUndefined();
    expect(await read(cache, digest)).toBe("<missing>");
  });

  it("refuses a size mismatch and shows nothing before commit or after abort", async () => {
    const cache = await make(1000);
    const data = bytes("twelve bytes");
    const digest = await sha256(data);
    const short = (await cache.ingest({ digest, size: 13 }))!;
    await short.write(data);
    await expect(short.commit()).rejects.toThrow(/size mismatch/);
    const aborted = (await cache.ingest({ digest }))!;
    await aborted.write(data);
    expect(await cache.stat(digest)).toBeUndefined();
    await aborted.abort();
    expect(await cache.stat(digest)).toBeUndefined();
  });

  it("evicts the least recently used blobs beyond its size", async () => {
    const cache = await make(30, 30);
    const a = await put(cache, bytes("aaaaaaaaaa"));
    const b = await put(cache, bytes("bbbbbbbbbb"));
    const c = await put(cache, bytes("cccccccccc"));
    await read(cache, a); // a is now more recent than b
    const d = await put(cache, bytes("dddddddddd"));
    expect(await cache.stat(b)).toBeUndefined();
    for (const kept of [a, c, d]) expect(await cache.stat(kept)).toBeDefined();
    expect(await cache.usage()).toEqual({ bytes: 30, count: 3, reservedBytes: 0 });
  });

  it("declines blobs over its entry limit, announced or not", async () => {
    const cache = await make(100, 10);
    const big = bytes("more than ten bytes");
    const digest = await sha256(big);
    expect(await cache.ingest({ digest, size: big.byteLength })).toBeUndefined();
    const unannounced = (await cache.ingest({ digest }))!;
    await unannounced.write(big);
    await expect(unannounced.commit()).rejects.toThrow(/larger than the cache allows/);
    expect(await cache.stat(digest)).toBeUndefined();
  });

  it("assembles a blob of unannounced size from many chunks, copying each (the writer may reuse its buffer)", async () => {
    const cache = await make(1_000_000, 1_000_000);
    const whole = new Uint8Array(300_000);
    for (let i = 0; i < whole.length; i++) whole[i] = (i * 7) % 251;
    const digest = await sha256(whole);
    const writer = (await cache.ingest({ digest }))!;
    const scratch = new Uint8Array(1000);
    for (let offset = 0; offset < whole.length; offset += scratch.length) {
      scratch.set(whole.subarray(offset, offset + scratch.length));
      await writer.write(scratch);
      scratch.fill(0);
    }
    await writer.commit();
    expect(await cache.stat(digest)).toEqual({ digest, size: whole.length });
    const blob = (await cache.open(digest))!;
    expect(new Uint8Array(await new Response(blob.body).arrayBuffer())).toEqual(whole);
    expect(await cache.usage()).toEqual({ bytes: whole.length, count: 1, reservedBytes: 0 });
  });

  it("refuses more bytes than were announced", async () => {
    const cache = await make(1000);
    const data = bytes("twelve bytes");
    const writer = (await cache.ingest({ digest: await sha256(data), size: 6 }))!;
    await writer.write(data.subarray(0, 6));
    await writer.write(data.subarray(6));
    await expect(writer.commit()).rejects.toThrow(/size mismatch/);
  });

  it("counts fills in progress against its size, evicting stored blobs for them and refusing what cannot fit", async () => {
    const cache = await make(100, 100);
    const old = await put(cache, new Uint8Array(30).fill(1));
    const big = new Uint8Array(80).fill(2);
    const first = (await cache.ingest({ digest: await sha256(big), size: 80 }))!;
    expect(first).toBeDefined();
    // The fill's room came from the least recently used blob, before a byte was written.
    expect(await cache.stat(old)).toBeUndefined();
    expect(await cache.usage()).toEqual({ bytes: 0, count: 0, reservedBytes: 80 });
    const other = new Uint8Array(40).fill(3);
    expect(await cache.ingest({ digest: await sha256(other), size: 40 })).toBeUndefined();
    // Of unknown size, a fill claims room as it writes, and is refused once there is none.
    const unsized = (await cache.ingest({ digest: await sha256(other) }))!;
    await unsized.write(other.subarray(0, 15));
    await expect(unsized.write(other.subarray(15))).rejects.toBeInstanceOf(CacheFullError);
    await expect(unsized.commit()).rejects.toBeInstanceOf(CacheFullError);
    expect(await cache.usage()).toEqual({ bytes: 0, count: 0, reservedBytes: 80 });
    await first.write(big);
    await first.commit();
    expect(await cache.usage()).toEqual({ bytes: 80, count: 1, reservedBytes: 0 });
    const aborted = (await cache.ingest({ digest: await sha256(other), size: 10 }))!;
    await aborted.abort();
    expect(await cache.usage()).toEqual({ bytes: 80, count: 1, reservedBytes: 0 });
  });

  it("declines digests it cannot verify", async () => {
    const cache = await make(100);
    expect(await cache.ingest({ digest: "md5:d41d8cd98f00b204e9800998ecf8427e" })).toBeUndefined();
    expect(await cache.ingest({ digest: "sha256:short" })).toBeUndefined();
  });
});

describe("FsBlobCache on disk", () => {
  it("finds its blobs again after a restart and clears interrupted writes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "proxy-cache-"));
    dirs.push(dir);
    const first = new FsBlobCache({ dir });
    const digest = await put(first, bytes("persistent"), "text/plain");
    const pending = (await first.ingest({ digest: await sha256(bytes("unfinished")) }))!;
    await pending.write(bytes("unfin"));
    const second = new FsBlobCache({ dir });
    expect(await second.stat(digest)).toEqual({ digest, size: 10, mediaType: "text/plain" });
    expect(await read(second, digest)).toBe("persistent");
    expect(await readdir(join(dir, "ingest"))).toEqual([]);
  });
});

describe("parseRange", () => {
  it.each([
    ["bytes=0-9", { start: 0, end: 9 }],
    ["bytes=5-", { start: 5, end: 99 }],
    ["bytes=-10", { start: 90, end: 99 }],
    ["bytes=90-200", { start: 90, end: 99 }],
    ["bytes=100-", "unsatisfiable"],
    ["bytes=0-1,5-6", undefined],
    ["items=0-1", undefined],
  ] as const)("%s of 100 bytes", (header, expected) => {
    expect(parseRange(header, 100)).toEqual(expected);
  });
});
