import { describe, expect, it } from "vitest";
import type { GuestProcess, SpawnOptions } from "../agent/index.ts";
import { encodeTar, type RawTarEntry, readTar } from "../images/tar-entries.ts";
import { diffUpperDir } from "./diff.ts";

const upperDir = "/run/drydock/snapshots/9/fs";
const at = { mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000 };
const bytes = (text: string) => new TextEncoder().encode(text);
const capability = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

/** A guest whose busybox tar prints `upper` and whose drydockd answers XATTRS with `xattrs`. */
function guest(upper: RawTarEntry[], xattrs: Map<string, Map<string, Uint8Array>>) {
  const stream = (value: Uint8Array) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        if (value.length) controller.enqueue(value);
        controller.close();
      },
    });
  return {
    async spawn(options: SpawnOptions): Promise<GuestProcess> {
      expect(options.argv).toEqual(["tar", "-c", "-f", "-", "-C", upperDir, "."]);
      return {
        pid: 7,
        stdout: stream(encodeTar(upper)),
        stderr: stream(new Uint8Array()),
        stdin: new WritableStream(),
        exit: Promise.resolve({ code: 0 }),
        resize: () => {},
        kill: () => {},
      } as unknown as GuestProcess;
    },
    async xattrTree(root: string) {
      expect(root).toBe(upperDir);
      return xattrs;
    },
  };
}

describe("an upper dir as an OCI layer", () => {
  it("whites out 0:0 devices and links to them, keeps real devices, marks opaque dirs, keeps the files' xattrs", async () => {
    const upper: RawTarEntry[] = [
      { path: "", type: "directory", ...at },
      { path: "etc", type: "directory", ...at },
      { path: "etc/gone", type: "character-device", ...at, mode: 0, devMajor: 0, devMinor: 0 },
      { path: "etc/also-gone", type: "link", ...at, linkname: "etc/gone" },
      { path: "dev", type: "directory", ...at },
      { path: "dev/null2", type: "character-device", ...at, mode: 0o666, devMajor: 1, devMinor: 3 },
      { path: "app", type: "directory", ...at },
      { path: "app/new", type: "file", ...at, body: bytes("new\n") },
      { path: "bin", type: "directory", ...at },
      { path: "bin/ping", type: "file", ...at, body: bytes("ping") },
    ];
    const y = bytes("y");
    const agent = guest(
      upper,
      new Map([
        [".", new Map([["trusted.overlay.impure", y]])],
        ["app", new Map([["trusted.overlay.opaque", y]])],
        [
          "bin/ping",
          new Map([
            ["security.capability", capability],
            ["user.note", bytes("setcap")],
          ]),
        ],
      ]),
    );
    const diff = await diffUpperDir({ agent, upperDir });
    expect(diff.deleted).toEqual(["etc/gone", "etc/also-gone"]);
    expect(diff.opaque).toEqual(["app"]);
    const layer = readTar(diff.tar);
    expect(layer.map((entry) => entry.path)).toEqual([
      "etc",
      "etc/.wh.gone",
      "etc/.wh.also-gone",
      "dev",
      "dev/null2",
      "app",
      "app/.wh..wh..opq",
      "app/new",
      "bin",
      "bin/ping",
    ]);
    expect(layer.find((entry) => entry.path === "dev/null2")).toMatchObject({
      type: "character-device",
      devMajor: 1,
      devMinor: 3,
    });
    expect(layer.find((entry) => entry.path === "bin/ping")?.xattrs).toEqual(
      new Map([
        ["security.capability", capability],
        ["user.note", bytes("setcap")],
      ]),
    );
    // overlayfs's own xattrs are not the files'.
    expect(layer.filter((entry) => entry.xattrs && entry.path !== "bin/ping")).toEqual([]);
  });
});
