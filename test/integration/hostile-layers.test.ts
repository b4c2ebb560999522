// Hostile images pulled from a real registry (docker-registry): every layer is unpacked inside itself or refused with
// a clear error, and a refused pull leaves nothing behind in the content store or the image store. The accepted
// hostile image then runs in the real guest, where its links resolve inside the container and its device nodes
// cannot be opened.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type Drydock, type ImageService } from "../../engine/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { type HostileImage, type HostileName, seedHostileImages } from "../fixtures/hostile-images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let hostile: Record<HostileName, HostileImage>;
let dir: string;
let images: ImageService;

beforeAll(async () => {
  registry = await startRegistry();
  hostile = await seedHostileImages(registry);
  dir = await mkdtemp(join(tmpdir(), "drydock-hostile-"));
  images = await openNodeImageService(join(dir, "root"));
});

afterAll(async () => {
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every file of the content store (blobs and ingests) and the image store's layer records, to compare. */
async function stored(): Promise<{ files: string[]; layers: string[] }> {
  const root = join(dir, "root");
  const entries = await readdir(join(root, "content"), { recursive: true, withFileTypes: true });
  const files = entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
  const document = await readFile(join(root, "metadata", "images.json"), "utf8").then(
    (text) => JSON.parse(text) as { layers?: Record<string, unknown> },
    () => ({ layers: {} }),
  );
  return { files, layers: Object.keys(document.layers ?? {}).sort() };
}

const REFUSED: HostileName[] = [
  "dotdot",
  "hardlink-out",
  "hardlink-missing",
  "huge-pax",
  "truncated-tar",
  "truncated-gzip",
  "truncated-zstd",
  "bad-header",
];

describe("hostile layers are refused with a clear error and leave nothing behind", () => {
  it.each(REFUSED)("%s", async (name) => {
    const image = hostile[name];
    const before = await stored();
    const listed = await images.images();
    const error = await images.pull(image.reference).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(image.refusal!);
    // The error names the layer and the image, so a user knows what to distrust.
    expect(error!.message).toMatch(/^layer sha256:[0-9a-f]{64} of .*hostile\/.* could not be unpacked: /);
    expect(await images.images()).toEqual(listed);
    expect(await stored()).toEqual(before);
  });
});

describe("the hostile layer that can be made safe is unpacked inside itself", () => {
  let drydock: Drydock;
  let containers: ContainerService;

  beforeAll(async () => {
    await images.pull(hostile.safe.reference);
    await images.pull(hostile.zstd.reference);
    drydock = await bootDrydock();
    containers = ContainerService.open(drydock, images);
  });

  afterAll(async () => {
    await drydock?.dispose();
  });

  it("indexes each entry where the layer puts it, with what Docker keeps", async () => {
    const details = await images.image(hostile.safe.reference);
    const index = await images.store.layerIndex(details.layers[1]!);
    const byPath = new Map(index.entries.map((entry) => [entry.path, entry]));
    expect(byPath.get("abs-link")).toMatchObject({ type: "symlink", linkTarget: "/marker.txt" });
    expect(byPath.get("escape-link")).toMatchObject({ type: "symlink", linkTarget: "../../../../../../marker.txt" });
    expect(byPath.get("outside/evil.txt")).toMatchObject({ type: "file" });
    expect(byPath.has("linkdir/evil.txt")).toBe(false);
    expect(byPath.get("through-up.txt")).toMatchObject({ type: "file" });
    expect(byPath.get("abs-name.txt")).toMatchObject({ type: "file" });
    expect(byPath.get("suid")).toMatchObject({ type: "file", mode: 0o4755 });
    expect(byPath.get("hvc-copy")).toMatchObject({ type: "characterDevice", devMajor: 229, devMinor: 0 });
    expect(byPath.get("disk-copy")).toMatchObject({ type: "blockDevice", devMajor: 8, devMinor: 0 });
    expect(byPath.get("dupdir")).toMatchObject({ type: "file" });
    expect(byPath.has("dupdir/child.txt")).toBe(false);
    expect(byPath.get("hard.txt")).toMatchObject({ type: "hardlink", content: byPath.get("marker.txt")!.content });
    expect(byPath.get("xattr.txt")?.xattrs?.["user.big"]).toHaveLength(64 * 1024);
  });

  it("runs: links resolve inside the container, duplicates kept the last, device nodes keep their numbers and do not open", async () => {
    const script = [
      "cat /abs-link /escape-link /outside/evil.txt /through-up.txt /dup.txt /dupdir",
      "stat -c '%a %F' /suid /hvc-copy /disk-copy",
      // Major and minor in hex, as the kernel sees the nodes through 9P and overlayfs.
      "stat -c '%t:%T' /hvc-copy /disk-copy",
      "cat /hvc-copy 2>/dev/null && echo opened-hvc || echo refused-hvc",
      "cat /disk-copy 2>/dev/null && echo opened-disk || echo refused-disk",
      "cat /zstd 2>/dev/null; true",
      // sysfs and its masks land where the container's /sys link points inside its root.
      "test -d /sys/kernel && echo sysfs-inside",
      "ls -A /sys/firmware | wc -l",
    ].join("; ");
    const { id, exited } = await containers.run(hostile.safe.reference, { cmd: ["sh", "-c", script] });
    expect((await exited).code).toBe(0);
    const output = await text(containers, id);
    expect(output).toBe(
      [
        "inside the layer",
        "inside the layer",
        "written through a symlink",
        "clamped at the layer's root",
        "second",
        "dupdir is a file now",
        "4755 regular file",
        "666 character special file",
        "660 block special file",
        "e5:0",
        "8:0",
        "refused-hvc",
        "refused-disk",
        "sysfs-inside",
        "0",
        "",
      ].join("\n"),
    );
    // Nothing landed in the guest itself.
    expect((await drydock.agent.run(["/bin/busybox", "ls", "/outside"])).code).not.toBe(0);
    expect((await drydock.agent.run(["/bin/busybox", "ls", "/marker.txt"])).code).not.toBe(0);
    expect((await drydock.agent.run(["/bin/busybox", "ls", "/tmp/sys-out"])).code).not.toBe(0);
    await containers.remove(id);
  });

  it("a real zstd-compressed layer (made with the zstd tool) unpacks and runs", async () => {
    const { id, exited } = await containers.run(hostile.zstd.reference, {
      cmd: ["sh", "-c", "cat /hello.txt; wc -c < /big.bin"],
    });
    expect((await exited).code).toBe(0);
    expect(await text(containers, id)).toBe("unpacked from a zstd layer\n300000\n");
    await containers.remove(id);
  });
});

async function text(containers: ContainerService, id: string): Promise<string> {
  let out = "";
  const reader = containers.logs(id).getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    if (next.value.stream === "stdout") out += new TextDecoder().decode(next.value.data);
  }
  return out;
}
