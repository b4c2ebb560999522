import { createTarDecoder } from "modern-tar";
import { describe, expect, it } from "vitest";
import { encodeTar, type RawTarEntry, readTar } from "./tar-entries.ts";
import { TarHeaderTap } from "./tar-headers.ts";

const binary = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0x80, 0xff, 0, 0x0a, 0x3d, 0, 0, 0, 0, 0, 0, 0, 0]);
const long = `${"d".repeat(70)}/${"e".repeat(70)}/${"f".repeat(40)}`;

const entries: RawTarEntry[] = [
  { path: "etc", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000 },
  {
    path: "etc/ping",
    type: "file",
    mode: 0o4755,
    uid: 0,
    gid: 0,
    mtime: 1_700_000_001,
    body: new TextEncoder().encode("#!/bin/sh\n"),
    xattrs: new Map([
      ["security.capability", binary],
      ["user.note", new TextEncoder().encode("ünï")],
    ]),
  },
  { path: "dev/null2", type: "character-device", mode: 0o666, uid: 0, gid: 0, mtime: 0, devMajor: 1, devMinor: 3 },
  { path: "dev/sda9", type: "block-device", mode: 0o660, uid: 0, gid: 6, mtime: 0, devMajor: 8, devMinor: 1234567 },
  { path: long, type: "file", mode: 0o600, uid: 3_000_000, gid: 5, mtime: 2, body: new Uint8Array(513) },
  { path: "etc/ping2", type: "link", mode: 0o4755, uid: 0, gid: 0, mtime: 0, linkname: "etc/ping" },
  { path: "etc/far", type: "symlink", mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: `/${long}` },
];

describe("tar entries with device numbers and binary xattrs", () => {
  it("reads back what it writes: xattrs byte for byte, devices, long names and links, big ids", () => {
    expect(readTar(encodeTar(entries))).toEqual(entries);
  });

  it("writes what a standard reader takes: modern-tar sees the same entries, the header tap the devices", async () => {
    const tap = new TarHeaderTap();
    const seen: { name: string; type?: string; size: number; xattr?: string; dev?: string }[] = [];
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encodeTar(entries));
        controller.close();
      },
    })
      .pipeThrough(tap.stream)
      .pipeThrough(createTarDecoder({ strict: true }));
    for await (const { header, body } of stream) {
      await new Response(body).arrayBuffer();
      const facts = tap.next(header);
      seen.push({
        name: header.name,
        type: header.type,
        size: header.size,
        xattr: header.pax?.["SCHILY.xattr.user.note"],
        dev: facts.devMajor || facts.devMinor ? `${facts.devMajor}:${facts.devMinor}` : undefined,
      });
    }
    expect(seen.map((entry) => entry.name)).toEqual(
      entries.map((e) => (e.type === "directory" ? `${e.path}/` : e.path)),
    );
    expect(seen[1]).toMatchObject({ xattr: "ünï", size: 10 });
    expect(seen[2]?.dev).toBe("1:3");
    expect(seen[3]?.dev).toBe("8:1234567");
  });

  it("refuses a damaged header or an archive cut short", () => {
    const tar = encodeTar(entries);
    const damaged = tar.slice();
    damaged[5] = damaged[5]! ^ 1;
    expect(() => readTar(damaged)).toThrow(/wrong checksum/);
    expect(() => readTar(tar.subarray(0, 1536))).toThrow(/cut short|end-of-archive/);
  });
});
