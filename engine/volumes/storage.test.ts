// The volume data store's conformance suite, run against every implementation that runs in Node (memory, the
// daemon's file system; OPFS runs the same calls in Chromium through the e2e suite), and the tree over it: what a
// guest writes is read back by a tree opened later on the same store, and a removed volume leaves no data.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FsVolumeDataStore } from "../node/volume-data.ts";
import { MemoryVolumeDataStore, type VolumeDataStore } from "./storage.ts";
import { FsError, ROOT_INO, VolumeTree } from "./tree.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (value: string) => new TextEncoder().encode(value);
const dirs: string[] = [];

afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const stores: [string, () => Promise<VolumeDataStore>][] = [
  ["memory", async () => new MemoryVolumeDataStore()],
  [
    "node fs",
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "drydock-volume-store-"));
      dirs.push(dir);
      return new FsVolumeDataStore(dir);
    },
  ],
];

describe.each(stores)("VolumeDataStore (%s)", (_name, make) => {
  it("writes, reads back, extends with zeros, truncates and deletes a file", async () => {
    const store = await make();
    await store.write("data", 7, 0, bytes("hello"));
    await store.write("data", 7, 8, bytes("!"));
    expect([...(await store.read("data", 7, 0, 100))]).toEqual([104, 101, 108, 108, 111, 0, 0, 0, 33]);
    await store.truncate("data", 7, 2);
    expect(text(await store.read("data", 7, 0, 100))).toBe("he");
    expect(await store.read("data", 7, 10, 5)).toHaveLength(0);
    await store.deleteFile("data", 7);
    expect(await store.read("data", 7, 0, 10)).toHaveLength(0);
    await store.close();
  });

  it("keeps tree documents per volume and deletes a volume whole", async () => {
    const store = await make();
    await store.writeTree("one", bytes("first"));
    await store.writeTree("one", bytes("second"));
    await store.writeTree("two", bytes("other"));
    await store.write("one", 3, 0, bytes("x"));
    expect((await store.volumes()).sort()).toEqual(["one", "two"]);
    expect(text((await store.readTree("one"))!)).toBe("second");
    await store.deleteVolume("one");
    expect(await store.volumes()).toEqual(["two"]);
    expect(await store.readTree("one")).toBeUndefined();
    expect(await store.read("one", 3, 0, 1)).toHaveLength(0);
    await store.close();
  });

  it("brings a volume's files, links, modes and xattrs back in a tree opened later", async () => {
    const store = await make();
    const tree = await VolumeTree.open(store);
    const volume = tree.mkdir(ROOT_INO, "notes", { mode: 0o755, uid: 0, gid: 0 });
    tree.setVolumeInfo("notes", { createdAt: 1234, labels: { lesson: "3" }, anonymous: false });
    const data = tree.mkdir(volume.ino, "_data", { mode: 0o755, uid: 0, gid: 0 });
    const file = tree.create(data.ino, "a.txt", { mode: 0o100640, uid: 1000, gid: 100 });
    await tree.write(file.ino, 0, bytes("kept across reloads\n"));
    tree.link(data.ino, "b.txt", file.ino);
    tree.create(data.ino, "c", { mode: 0o120777, uid: 0, gid: 0, target: "a.txt" });
    tree.setXattr(file.ino, "user.lesson", bytes("3"));
    tree.rename(data.ino, "a.txt", data.ino, "renamed.txt");
    await tree.close();

    const again = await VolumeTree.open(store);
    expect(again.volumes()).toEqual(["notes"]);
    expect(again.volumeInfo("notes")).toEqual({ createdAt: 1234, labels: { lesson: "3" }, anonymous: false });
    const dir = again.lookup(again.lookup(ROOT_INO, "notes").ino, "_data");
    expect(again.list(dir.ino).map((entry) => entry.name)).toEqual([".", "..", "b.txt", "c", "renamed.txt"]);
    const renamed = again.lookup(dir.ino, "renamed.txt");
    expect(renamed).toMatchObject({ mode: 0o100640, uid: 1000, gid: 100, nlink: 2 });
    expect(again.lookup(dir.ino, "b.txt").ino).toBe(renamed.ino);
    expect(again.lookup(dir.ino, "c").target).toBe("a.txt");
    expect(text(await again.read(renamed.ino, 0, 100))).toBe("kept across reloads\n");
    expect(text(renamed.xattrs!.get("user.lesson")!)).toBe("3");
    expect(again.usage("notes")).toBe(20);
    await again.close();
  });

  it("deletes a removed volume's data from the store", async () => {
    const store = await make();
    const tree = await VolumeTree.open(store);
    const volume = tree.mkdir(ROOT_INO, "scratch", { mode: 0o755, uid: 0, gid: 0 });
    const file = tree.create(volume.ino, "big", { mode: 0o100644, uid: 0, gid: 0 });
    await tree.write(file.ino, 0, new Uint8Array(100_000));
    await tree.save();
    expect(() => tree.unlink(ROOT_INO, "scratch", true)).toThrow(FsError);
    tree.unlink(volume.ino, "big", false);
    tree.unlink(ROOT_INO, "scratch", true);
    await tree.save();
    expect(await store.volumes()).toEqual([]);
    if (store instanceof FsVolumeDataStore) expect(await readdir(store.root)).toEqual([]);
    if (store instanceof MemoryVolumeDataStore) expect(store.storedBytes).toBe(0);
    expect((await VolumeTree.open(store)).volumes()).toEqual([]);
  });
});
