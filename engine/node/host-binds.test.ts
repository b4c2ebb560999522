import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Errno, FsError } from "../fs9p/wire.ts";
import { HostBinds, HostTree } from "./host-binds.ts";

let dir: string;
let allowed: string;
let outside: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "drydock-host-binds-unit-"));
  allowed = join(dir, "allowed");
  outside = join(dir, "outside");
  await mkdir(allowed);
  await mkdir(outside);
  await writeFile(join(outside, "secret"), "s");
  await symlink(outside, join(allowed, "escape"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const errnoOf = (work: () => unknown) => {
  try {
    work();
  } catch (error) {
    return error instanceof FsError ? error.errno : -1;
  }
  return 0;
};

describe("HostBinds.resolve", () => {
  it("places a path under an allowed directory in the share, making a missing one only when asked", async () => {
    const binds = await HostBinds.open([allowed]);
    expect(await binds.resolve(allowed, false)).toEqual({ hostPath: allowed, share: "0" });
    await expect(binds.resolve(`${allowed}/new/deep`, false)).rejects.toThrow(
      `bind source path does not exist: ${allowed}/new/deep`,
    );
    expect(await binds.resolve(`${allowed}/new/deep`, true)).toEqual({
      hostPath: `${allowed}/new/deep`,
      share: "0/new/deep",
    });
    expect((await lstat(`${allowed}/new/deep`)).isDirectory()).toBe(true);
  });

  it("refuses a host path outside every allowed directory, for good when a link leads out of one", async () => {
    const binds = await HostBinds.open([allowed]);
    const out = await binds.resolve(outside, true);
    expect(out).toMatchObject({ refused: expect.stringContaining(`only ${allowed} (--allow-bind)`) });
    expect(out).not.toHaveProperty("final");
    expect(await binds.resolve(`${allowed}/escape`, true)).toMatchObject({
      refused: expect.stringContaining(`leads out of ${allowed}`),
      final: true,
    });
    // A link out with a missing tail is still out (nothing is made there).
    expect(await binds.resolve(`${allowed}/escape/made`, true)).toMatchObject({ final: true });
    await expect(lstat(join(outside, "made"))).rejects.toThrow();
    // Not a path of this machine at all: the guest's.
    expect(await binds.resolve(join(dir, "nowhere", "x"), true)).toBeUndefined();
  });

  it("with none allowed, a host path is refused naming --allow-bind; a bad DIR is an error at start", async () => {
    const none = await HostBinds.open([]);
    expect(await none.resolve(allowed, true)).toMatchObject({
      refused: expect.stringMatching(/offers no host directory.*--allow-bind DIR/),
    });
    await expect(HostBinds.open(["relative"])).rejects.toThrow("--allow-bind wants an absolute directory");
    await expect(HostBinds.open([join(dir, "missing")])).rejects.toThrow("no such directory");
    await expect(HostBinds.open([join(outside, "secret")])).rejects.toThrow("not a directory");
  });
});

describe("HostTree", () => {
  it("creates, writes, reads, renames and removes host files under entry 0", async () => {
    const tree = new HostTree([allowed]);
    const root = tree.lookup(1, "0");
    const sub = tree.mkdir(root.ino, "sub", { mode: 0o755, uid: 0, gid: 0 });
    const file = tree.create(sub.ino, "f", { mode: 0o100640, uid: 0, gid: 0 });
    expect(await tree.write(file.ino, 0, new TextEncoder().encode("hello"))).toBe(5);
    expect(await readFile(join(allowed, "sub", "f"), "utf8")).toBe("hello");
    expect(new TextDecoder().decode(await tree.read(file.ino, 1, 10))).toBe("ello");
    expect(tree.get(file.ino)).toMatchObject({ mode: 0o100640, size: 5, uid: 0 });
    await tree.setattr(file.ino, { size: 2 });
    tree.rename(sub.ino, "f", root.ino, "g");
    expect(await readFile(join(allowed, "g"), "utf8")).toBe("he");
    expect(tree.list(root.ino).map((entry) => entry.name)).toEqual(
      expect.arrayContaining([".", "..", "escape", "g", "sub"]),
    );
    expect(errnoOf(() => tree.unlink(root.ino, "sub", false))).toBe(Errno.EISDIR);
    tree.unlink(root.ino, "sub", true);
    tree.unlink(root.ino, "g", false);
    expect(errnoOf(() => tree.lookup(root.ino, "g"))).toBe(Errno.ENOENT);
  });

  it("never follows a link on the host: it is read back as a link, and reading through it fails", async () => {
    const tree = new HostTree([allowed]);
    const root = tree.lookup(1, "0");
    const link = tree.lookup(root.ino, "escape");
    expect(link).toMatchObject({ target: outside });
    expect(link.mode & 0o170000).toBe(0o120000);
    await expect(tree.read(link.ino, 0, 10)).rejects.toBeInstanceOf(FsError);
    expect(errnoOf(() => tree.lookup(link.ino, "secret"))).toBe(Errno.ENOTDIR);
    // Names that would climb or cross are refused; the share's root holds only the allowed entries.
    expect(errnoOf(() => tree.lookup(root.ino, "a/b"))).toBe(Errno.EINVAL);
    expect(tree.lookup(root.ino, "..").ino).toBe(1);
    expect(errnoOf(() => tree.lookup(1, "1"))).toBe(Errno.ENOENT);
    expect(errnoOf(() => tree.create(1, "x", { mode: 0o100644, uid: 0, gid: 0 }))).toBe(Errno.EPERM);
    expect(errnoOf(() => tree.create(root.ino, "dev", { mode: 0o020644, uid: 0, gid: 0, rdev: 1 }))).toBe(Errno.EPERM);
  });
  it("a fid kept on a file does not follow a link a container put where its directory was", async () => {
    const tree = new HostTree([allowed]);
    const root = tree.lookup(1, "0");
    const sub = tree.mkdir(root.ino, "sub", { mode: 0o755, uid: 0, gid: 0 });
    const kept = tree.create(sub.ino, "secret", { mode: 0o100644, uid: 0, gid: 0 });
    await tree.write(kept.ino, 0, new TextEncoder().encode("inside"));
    // The container deletes the file and its directory, and puts a link to the outside in its place.
    tree.unlink(sub.ino, "secret", false);
    tree.unlink(root.ino, "sub", true);
    tree.create(root.ino, "sub", { mode: 0o120777, uid: 0, gid: 0, target: outside });
    await expect(tree.read(kept.ino, 0, 100)).rejects.toMatchObject({ errno: Errno.ENOENT });
    await expect(tree.write(kept.ino, 0, new TextEncoder().encode("x"))).rejects.toBeInstanceOf(FsError);
    expect(await readFile(join(outside, "secret"), "utf8")).toBe("s");
    // A directory replaced on the host by a link out: its files are not reached through it.
    const other = tree.mkdir(root.ino, "other", { mode: 0o755, uid: 0, gid: 0 });
    const file = tree.create(other.ino, "secret", { mode: 0o100644, uid: 0, gid: 0 });
    await rm(join(allowed, "other"), { recursive: true });
    await symlink(outside, join(allowed, "other"));
    await expect(tree.read(file.ino, 0, 100)).rejects.toBeInstanceOf(FsError);
    expect(errnoOf(() => tree.get(file.ino))).toBe(Errno.ENOENT);
  });
});
