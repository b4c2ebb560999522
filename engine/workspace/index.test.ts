import { createTarDecoder, type ParsedTarEntry, packTar } from "modern-tar";
import { describe, expect, it } from "vitest";
import { MemoryContentStore, MemoryMetadataStore, writeBlob } from "../content/index.ts";
import { digestOf } from "../oci/index.ts";
import { CONTAINERS_DOCUMENT, decodeContainerRecords } from "../runtime/records.ts";
import { MemoryVolumeDataStore } from "../volumes/index.ts";
import { exportWorkspace, importWorkspace, renumberTree, verifyWorkspace, type WorkspaceStores } from "./index.ts";
import { parseWorkspaceManifest } from "./manifest.ts";

const text = (value: string) => new TextEncoder().encode(value);
const json = (value: unknown) => text(JSON.stringify(value));
const ID = "a".repeat(64);
const now = 1_700_000_000_000;
/** A volume "notes" holding hello.txt (inode 3) under its root (inode 2). */
const notesTree = {
  version: 1,
  root: 2,
  inodes: [
    [2, 0o40755, 0, 0, 4096, now, now, now, 2, 0, null, null, { "hello.txt": 3 }, 1],
    [3, 0o100644, 0, 0, 5, now, now, now, 1, 0, null, null, null, 2],
  ],
};

async function sourceEngine(): Promise<WorkspaceStores> {
  const stores = {
    content: new MemoryContentStore(),
    metadata: new MemoryMetadataStore(),
    volumes: new MemoryVolumeDataStore(),
  };
  const blob = text("a layer");
  await writeBlob(stores.content, blob, { digest: digestOf(blob), size: blob.byteLength });
  await stores.metadata.write(
    "images.json",
    json({ version: 1, images: { "docker.io/library/busybox:latest": {} }, layers: {} }),
  );
  const record = { id: ID, name: "work", image: "busybox", imageId: "x", spec: {}, options: {}, status: "exited" };
  await stores.metadata.write(CONTAINERS_DOCUMENT, json({ version: 1, containers: [record] }));
  await stores.metadata.write(`upper-${ID}.tar`, text("upper bytes"));
  await stores.volumes.writeTree("notes", json(notesTree));
  await stores.volumes.write("notes", 3, 0, text("hello"));
  return stores;
}

const emptyEngine = (): WorkspaceStores => ({
  content: new MemoryContentStore(),
  metadata: new MemoryMetadataStore(),
  volumes: new MemoryVolumeDataStore(),
});

const bytesOf = async (stream: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(stream).arrayBuffer());
const streamOf = (bytes: Uint8Array) => new Blob([bytes]).stream();

/** The tar's members, to alter one. */
async function members(tar: Uint8Array) {
  const list: { name: string; body: Uint8Array }[] = [];
  for await (const entry of streamOf(tar).pipeThrough(createTarDecoder()) as unknown as AsyncIterable<ParsedTarEntry>) {
    list.push({ name: entry.header.name, body: await bytesOf(entry.body) });
  }
  return list;
}
const repack = (list: { name: string; body: Uint8Array }[]) =>
  packTar(list.map(({ name, body }) => ({ header: { name, size: body.byteLength, type: "file" as const }, body })));

describe("the workspace manifest", () => {
  const good = {
    format: "drydock-workspace",
    version: 1,
    createdAt: "",
    blobs: [],
    documents: [],
    images: [],
    volumes: [],
    containers: [],
  };
  it("reads a manifest of this version", () => {
    expect(parseWorkspaceManifest(json(good)).version).toBe(1);
  });
  it("refuses JSON that is not a workspace, saying how to make one", () => {
    expect(() => parseWorkspaceManifest(json({ schemaVersion: 2 }))).toThrow(
      /not a Drydock workspace.*drydock workspace export/,
    );
    expect(() => parseWorkspaceManifest(text("{"))).toThrow(/not a Drydock workspace/);
  });
  it("refuses an unknown version, naming it", () => {
    expect(() => parseWorkspaceManifest(json({ ...good, version: 7 }))).toThrow(
      /version 7, this Drydock reads version 1/,
    );
  });
  it("refuses a damaged list", () => {
    expect(() => parseWorkspaceManifest(json({ ...good, blobs: [{ digest: "sha256:zz", size: 1 }] }))).toThrow(
      /blob list/,
    );
    expect(() =>
      parseWorkspaceManifest(json({ ...good, volumes: [{ name: "../x", treeSize: 1, files: [] }] })),
    ).toThrow(/volume list/);
  });
});

describe("export and import", () => {
  it("carries images, volumes and containers into an empty engine", async () => {
    const tar = await bytesOf(await exportWorkspace(await sourceEngine()));
    expect((await members(tar))[0]?.name).toBe("workspace.json");
    const target = emptyEngine();
    const summary = await importWorkspace(streamOf(tar), target);
    expect(summary).toMatchObject({
      blobs: 1,
      volumes: ["notes"],
      containers: ["work"],
      images: ["docker.io/library/busybox:latest"],
    });
    expect(decodeContainerRecords(await target.metadata.read(CONTAINERS_DOCUMENT)).map((r) => r.name)).toEqual([
      "work",
    ]);
    expect(new TextDecoder().decode(await target.metadata.read(`upper-${ID}.tar`))).toBe("upper bytes");
    expect(new TextDecoder().decode(await target.volumes.read("notes", 3, 0, 100))).toBe("hello");
  });

  it("renumbers the volume's inodes above those the target has, keeping its files", async () => {
    const tar = await bytesOf(await exportWorkspace(await sourceEngine()));
    const target = emptyEngine();
    await target.volumes.writeTree(
      "old",
      json({
        ...notesTree,
        root: 2,
        inodes: [
          [...notesTree.inodes[0]!.slice(0, 12), {}, 1],
          [9, ...notesTree.inodes[1]!.slice(1)],
        ],
      }),
    );
    await importWorkspace(streamOf(tar), target);
    const tree = JSON.parse(new TextDecoder().decode(await target.volumes.readTree("notes")));
    expect(tree.root).toBe(10);
    expect(tree.inodes[0][12]).toEqual({ "hello.txt": 11 });
    expect(new TextDecoder().decode(await target.volumes.read("notes", 11, 0, 100))).toBe("hello");
    expect(renumberTree(notesTree as never, 0)).toEqual(notesTree);
  });

  it("refuses a damaged blob and leaves the target as it was", async () => {
    const list = await members(await bytesOf(await exportWorkspace(await sourceEngine())));
    const blob = list.find((m) => m.name.startsWith("blobs/"))!;
    blob.body = text("a layeR");
    const target = emptyEngine();
    await expect(importWorkspace(streamOf(await repack(list)), target)).rejects.toThrow(
      /blob sha256:[0-9a-f]+ is damaged/,
    );
    expect((await target.content.usage()).count).toBe(0);
    expect(await target.metadata.read(CONTAINERS_DOCUMENT)).toBeUndefined();
    expect(await target.metadata.read(`upper-${ID}.tar`)).toBeUndefined();
    expect(await target.volumes.volumes()).toEqual([]);
    // A target that already has the blob still checks the file's copy.
    const holding = await sourceEngine();
    await expect(importWorkspace(streamOf(await repack(list)), holding)).rejects.toThrow(/is damaged/);
  });

  it("verifies a file without writing: whole passes; a changed blob, document or volume, an extra or missing member fail", async () => {
    const tar = await bytesOf(await exportWorkspace(await sourceEngine()));
    const manifest = await verifyWorkspace(streamOf(tar));
    expect(manifest.containers.map((c) => c.name)).toEqual(["work"]);
    const altered = async (change: (list: { name: string; body: Uint8Array }[]) => void) => {
      const list = await members(tar);
      change(list);
      return verifyWorkspace(streamOf(await repack(list)));
    };
    await expect(
      altered((list) => {
        list.find((m) => m.name.startsWith("blobs/"))!.body = text("a layeR");
      }),
    ).rejects.toThrow(/blob sha256:[0-9a-f]+ is damaged .*nothing was imported/);
    await expect(
      altered((list) => {
        list.find((m) => m.name.includes(`upper-${ID}`))!.body = text("upper byteZ");
      }),
    ).rejects.toThrow(/upper-a+\.tar is damaged/);
    await expect(
      altered((list) => {
        const file = list.find((m) => m.name.startsWith("volumes/") && !m.name.endsWith(".json"))!;
        file.body = file.body.subarray(1);
      }),
    ).rejects.toThrow(/volume notes is damaged/);
    await expect(altered((list) => list.push({ name: "extra", body: text("x") }))).rejects.toThrow(
      /holds extra, which its workspace.json does not list/,
    );
    await expect(altered((list) => list.pop())).rejects.toThrow(/incomplete \(1 listed members missing/);
    await expect(verifyWorkspace(streamOf(tar.subarray(0, tar.length - 1700)))).rejects.toThrow(/damaged|incomplete/);
  });

  it("refuses a tar that is not a workspace, and a target running containers", async () => {
    const other = await packTar([{ header: { name: "index.json", size: 2, type: "file" }, body: text("{}") }]);
    await expect(importWorkspace(streamOf(other), emptyEngine())).rejects.toThrow(
      /starts with index.json, not workspace.json/,
    );
    const tar = await bytesOf(await exportWorkspace(await sourceEngine()));
    await expect(importWorkspace(streamOf(tar), emptyEngine(), { running: () => true })).rejects.toThrow(
      /running containers: stop them/,
    );
  });

  it("takes containers recorded as running for leftovers when the engine that wrote them is gone (the page)", async () => {
    const tar = await bytesOf(await exportWorkspace(await sourceEngine()));
    const target = emptyEngine();
    const leftover = { id: "b".repeat(64), name: "left", image: "busybox", imageId: "x", spec: {}, options: {} };
    await target.metadata.write(
      CONTAINERS_DOCUMENT,
      json({ version: 1, containers: [{ ...leftover, status: "running" }] }),
    );
    await expect(importWorkspace(streamOf(tar), target)).rejects.toThrow(/running containers \(left\)/);
    const summary = await importWorkspace(streamOf(tar), target, { engineGone: true });
    expect(summary.containers).toEqual(["work"]);
    expect(
      decodeContainerRecords(await target.metadata.read(CONTAINERS_DOCUMENT))
        .map((r) => r.name)
        .sort(),
    ).toEqual(["left", "work"]);
  });
});
