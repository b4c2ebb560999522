import { packTar } from "modern-tar";
import { describe, expect, it } from "vitest";
import type { GuestProcess, SpawnOptions } from "../agent/index.ts";
import { MemoryMetadataStore } from "../content/index.ts";
import { Tracer } from "../trace/index.ts";
import {
  forgetUpperLayer,
  isCompleteTar,
  restoreUpperLayer,
  saveUpperLayer,
  upperLayerDocument,
} from "./upper-layer.ts";

const id = "c".repeat(64);
const upperDir = "/run/drydock/snapshots/7/fs";

/** An upper dir as busybox tar writes one: a file, a whiteout (a 0/0 character device) and a link to it. */
function upperTar(): Promise<Uint8Array> {
  return packTar([
    { header: { name: "./", type: "directory", size: 0, mode: 0o755 } },
    { header: { name: "./data.txt", type: "file", size: 6, mode: 0o640, uid: 1, gid: 2 }, body: "kept!\n" },
    { header: { name: "./etc/", type: "directory", size: 0, mode: 0o755 } },
    { header: { name: "./etc/motd", type: "character-device", size: 0, mode: 0 } },
    { header: { name: "./etc/issue", type: "link", size: 0, linkname: "./etc/motd" } },
  ]);
}

/** A guest that runs one busybox command: it answers with `stdout` and `code`, and keeps what it was given. */
function fakeGuest(answer: {
  stdout?: Uint8Array;
  stderr?: string;
  code?: number;
  /** What drydockd's XATTRS says of the upper dir. */
  xattrs?: Map<string, Map<string, Uint8Array>>;
}) {
  const calls: { argv: string[]; stdin: Uint8Array }[] = [];
  const set: { path: string; xattrs: ReadonlyMap<string, Uint8Array> }[] = [];
  const agent = {
    async xattrTree(root: string) {
      expect(root).toBe(upperDir);
      return answer.xattrs ?? new Map();
    },
    async setXattrs(path: string, xattrs: ReadonlyMap<string, Uint8Array>) {
      set.push({ path, xattrs });
    },
    async spawn(options: SpawnOptions): Promise<GuestProcess> {
      const call = { argv: options.argv, stdin: new Uint8Array() };
      calls.push(call);
      const chunks: Uint8Array[] = [];
      let closed!: () => void;
      const inputDone = new Promise<void>((resolve) => {
        closed = resolve;
      });
      const stdin = new WritableStream<Uint8Array>({
        write: (chunk) => void chunks.push(chunk.slice()),
        close: () => {
          call.stdin = new Uint8Array(chunks.flatMap((chunk) => [...chunk]));
          closed();
        },
      });
      const bytes = (value: Uint8Array | undefined) =>
        new ReadableStream<Uint8Array>({
          start(controller) {
            if (value?.length) controller.enqueue(value);
            controller.close();
          },
        });
      return {
        pid: 42,
        stdout: bytes(answer.stdout),
        stderr: bytes(new TextEncoder().encode(answer.stderr ?? "")),
        stdin,
        exit: inputDone.then(() => ({ code: answer.code ?? 0 })),
        resize: () => {},
        kill: () => {},
      };
    },
  };
  return { agent, calls, set };
}

describe("isCompleteTar", () => {
  it("accepts a whole archive, devices and links included, and an empty one", async () => {
    expect(isCompleteTar(await upperTar())).toBe(true);
    expect(isCompleteTar(new Uint8Array(1024))).toBe(true);
  });

  it("refuses an archive cut short anywhere, or with a damaged header", async () => {
    const whole = await upperTar();
    for (let end = 0; end < whole.length - 1024; end += 512) {
      expect(isCompleteTar(whole.subarray(0, end)), `cut at ${end}`).toBe(false);
    }
    expect(isCompleteTar(whole.subarray(0, whole.length - 1))).toBe(false);
    const damaged = whole.slice();
    damaged[512 + 10] = damaged[512 + 10]! ^ 1;
    expect(isCompleteTar(damaged)).toBe(false);
  });
});

describe("a container's writable layer in the engine's storage", () => {
  it("saves the guest's archive of the upper dir under the container's document, and traces both steps", async () => {
    const tar = await upperTar();
    const { agent, calls } = fakeGuest({ stdout: tar });
    const store = new MemoryMetadataStore();
    const tracer = new Tracer();
    const commands: string[] = [];
    tracer.subscribe((event) => commands.push(event.command));
    expect(await saveUpperLayer({ agent, store, id, upperDir, tracer })).toBe(tar.length);
    expect(calls[0]?.argv).toEqual(["/bin/busybox", "tar", "-c", "-f", "-", "-C", upperDir, "."]);
    expect(await store.read(upperLayerDocument(id))).toEqual(tar);
    expect(commands).toEqual([
      `exec tar -c -f - -C ${upperDir} .`,
      `getfattr -R -d -m - ${upperDir}`,
      `store write upper-${id}.tar # ${tar.length} bytes, the writable layer, replaced whole`,
    ]);
  });

  it("keeps xattrs as PAX records, byte for byte, and sets them back after unpacking; overlayfs's own stay out", async () => {
    const tar = await upperTar();
    const capability = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const y = new TextEncoder().encode("y");
    const xattrs = new Map([
      ["data.txt", new Map([["security.capability", capability]])],
      [
        "etc",
        new Map([
          ["trusted.overlay.opaque", y],
          ["trusted.overlay.impure", y],
        ]),
      ],
    ]);
    const saving = fakeGuest({ stdout: tar, xattrs });
    const store = new MemoryMetadataStore();
    await saveUpperLayer({ agent: saving.agent, store, id, upperDir });
    const saved = (await store.read(upperLayerDocument(id)))!;
    expect(isCompleteTar(saved)).toBe(true);
    const text = new TextDecoder("latin1").decode(saved);
    expect(text).toContain("SCHILY.xattr.trusted.overlay.opaque=y\n");
    expect(text).not.toContain("trusted.overlay.impure");

    const restoring = fakeGuest({});
    await restoreUpperLayer({ agent: restoring.agent, store, id, upperDir });
    expect(restoring.calls[0]?.stdin).toEqual(saved);
    expect(restoring.set).toEqual([
      { path: `${upperDir}/data.txt`, xattrs: new Map([["security.capability", capability]]) },
      { path: `${upperDir}/etc`, xattrs: new Map([["trusted.overlay.opaque", y]]) },
    ]);
  });

  it("keeps the last saved layer when tar fails or its archive is cut short", async () => {
    const store = new MemoryMetadataStore();
    const before = await upperTar();
    await store.write(upperLayerDocument(id), before);
    const failing = fakeGuest({ stdout: before.subarray(0, 512), stderr: "tar: short write", code: 1 });
    await expect(saveUpperLayer({ agent: failing.agent, store, id, upperDir })).rejects.toThrow(
      /could not keep the files of container cccccccccccc: .*tar: short write.*last saved files stay/,
    );
    const cut = fakeGuest({ stdout: before.subarray(0, 1024) });
    await expect(saveUpperLayer({ agent: cut.agent, store, id, upperDir })).rejects.toThrow(/cut short/);
    expect(await store.read(upperLayerDocument(id))).toEqual(before);
  });

  it("unpacks the saved layer into the new upper dir, and does nothing for a container with none", async () => {
    const store = new MemoryMetadataStore();
    const none = fakeGuest({});
    expect(await restoreUpperLayer({ agent: none.agent, store, id, upperDir })).toBeUndefined();
    expect(none.calls).toEqual([]);
    const tar = await upperTar();
    await store.write(upperLayerDocument(id), tar);
    const { agent, calls } = fakeGuest({});
    expect(await restoreUpperLayer({ agent, store, id, upperDir })).toBe(tar.length);
    expect(calls[0]?.argv).toEqual(["/bin/busybox", "tar", "-x", "-f", "-", "-C", upperDir]);
    expect(calls[0]?.stdin).toEqual(tar);
  });

  it("says which file is damaged instead of starting with half of it, and reports a failed unpack", async () => {
    const store = new MemoryMetadataStore();
    const tar = await upperTar();
    await store.write(upperLayerDocument(id), tar.subarray(0, 1024));
    const { agent, calls } = fakeGuest({});
    await expect(restoreUpperLayer({ agent, store, id, upperDir })).rejects.toThrow(
      `its saved files (upper-${id}.tar in the engine's storage) are not a whole tar archive`,
    );
    expect(calls).toEqual([]);
    await store.write(upperLayerDocument(id), tar);
    const failing = fakeGuest({ stderr: "tar: can't create node", code: 1 });
    await expect(restoreUpperLayer({ agent: failing.agent, store, id, upperDir })).rejects.toThrow(
      /unpacking its saved files into .* failed \(tar: can't create node\)/,
    );
  });

  it("forgets the saved layer", async () => {
    const store = new MemoryMetadataStore();
    await store.write(upperLayerDocument(id), await upperTar());
    await forgetUpperLayer(store, id);
    expect(await store.read(upperLayerDocument(id))).toBeUndefined();
  });
});
