import { describe, expect, it } from "vitest";
import type { LayerEntry, LayerIndex } from "../images/index.ts";
import type { Digest } from "../oci/index.ts";
import { diffTrees, type FsDirectory, layerChanges, layerSize, lookup, mergeLayers, withLayer } from "./filesystem.ts";

const text = (value: string) => new TextEncoder().encode(value);
const read = (node: FsDirectory, path: string) => {
  const found = lookup(node, path);
  return found?.type === "file" ? new TextDecoder().decode(found.data) : found?.type;
};

function layer(entries: Partial<LayerEntry>[]): LayerIndex {
  return {
    schemaVersion: 1,
    mediaType: "application/vnd.drydock.layer.index.v1+json",
    diffId: "sha256:0" as Digest,
    entries: entries.map((entry) => ({
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 0,
      type: "file",
      path: "",
      ...entry,
    })),
  } as LayerIndex;
}

const blobs: Record<string, string> = { "sha256:a": "base a", "sha256:b": "base b", "sha256:c": "changed a" };
const readBlob = async (digest: Digest) => text(blobs[digest]!);

describe("a WASI container's filesystem", () => {
  it("merges layers as overlayfs shows them: whiteouts delete, opaque directories hide what was below", async () => {
    const root = await mergeLayers(
      [
        layer([
          { path: "", type: "directory" },
          { path: "etc", type: "directory" },
          { path: "etc/a", content: "sha256:a" as Digest, size: 6 },
          { path: "etc/b", content: "sha256:b" as Digest, size: 6 },
          { path: "data", type: "directory" },
          { path: "data/old", content: "sha256:b" as Digest, size: 6 },
        ]),
        layer([
          { path: "etc/a", content: "sha256:c" as Digest, size: 9 },
          { path: "etc/b", type: "whiteout" },
          { path: "data", type: "directory", opaque: true },
          { path: "data/new", content: "sha256:a" as Digest, size: 6 },
        ]),
      ],
      readBlob,
    );
    expect(read(root, "/etc/a")).toBe("changed a");
    expect(read(root, "/etc/b")).toBeUndefined();
    expect(read(root, "/data/old")).toBeUndefined();
    expect(read(root, "/data/new")).toBe("base a");
  });

  it("keeps a run's writes as a writable layer, reports them as docker diff does, and replays them", async () => {
    const image = await mergeLayers(
      [
        layer([
          { path: "tmp", type: "directory" },
          { path: "keep", content: "sha256:a" as Digest, size: 6 },
          { path: "gone", content: "sha256:b" as Digest, size: 6 },
        ]),
      ],
      readBlob,
    );
    const after = withLayer(image, new Map());
    const tmp = lookup(after, "/tmp");
    if (tmp?.type !== "directory") throw new Error("no /tmp");
    tmp.entries.set("note.txt", { type: "file", data: text("written") });
    after.entries.delete("gone");
    const written = diffTrees(image, after);
    expect(layerChanges(image, written)).toEqual([
      { kind: "D", path: "/gone" },
      { kind: "C", path: "/tmp" },
      { kind: "A", path: "/tmp/note.txt" },
    ]);
    expect(layerSize(written)).toBe(7);
    const next = withLayer(image, written);
    expect(read(next, "/tmp/note.txt")).toBe("written");
    expect(read(next, "/gone")).toBeUndefined();
    // The image's own tree is never changed by a run.
    expect(read(image, "/tmp/note.txt")).toBeUndefined();
    expect(read(image, "/gone")).toBe("base b");
  });
});
