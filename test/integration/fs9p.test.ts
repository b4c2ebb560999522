// The 9P layer share in the real guest: images pulled from a real registry into a store on disk, served by
// engine/fs9p through v86's 9P device, mounted by the guest kernel, and stacked by overlayfs the way containers will
// use them. Every check is something the guest itself sees: bytes, modes, owners, links, whiteouts, opaque dirs.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLayerServer, imageStoreLayers } from "../../engine/fs9p/index.ts";
import type { LayerEntry, LayerIndex } from "../../engine/images/index.ts";
import type { Drydock, ImageDetails, ImageService } from "../../engine/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { LAYERS, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

const SHARE = "/run/drydock/layers";
const NINEP_OPTIONS = "trans=virtio,version=9p2000.L,msize=512000,cache=loose";
const MS_RDONLY = 1;

let registry: Registry;
let storeDir: string;
let images: ImageService;
let drydock: Drydock;
let busybox: ImageDetails;
let layers: ImageDetails;
const serverErrors: unknown[] = [];

const hex = (chainId: string) => chainId.slice("sha256:".length);
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Runs a shell command in the guest; fails the test with its stderr when it exits non-zero. */
async function sh(command: string): Promise<string> {
  const result = await drydock.agent.run(["sh", "-c", command]);
  if (result.code !== 0) throw new Error(`\`${command}\` exited ${result.code}: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

async function layerIndex(details: ImageDetails, i: number): Promise<LayerIndex> {
  return images.store.layerIndex(details.layers[i]!);
}

/** Mounts an overlay of `lower` (top first) with upper and work dirs on a fresh tmpfs; returns the merged dir. */
async function overlay(name: string, lower: string[]): Promise<string> {
  const base = `/tmp/fs9p-${name}`;
  await drydock.agent.mkdir(base, { parents: true });
  await drydock.agent.mount("tmpfs", base, "tmpfs");
  for (const dir of ["upper", "work", "merged"]) await drydock.agent.mkdir(`${base}/${dir}`);
  const lowerdir = lower.map((chainId) => `${SHARE}/${hex(chainId)}`).join(":");
  await drydock.agent.mount(
    "overlay",
    `${base}/merged`,
    "overlay",
    `lowerdir=${lowerdir},upperdir=${base}/upper,workdir=${base}/work`,
  );
  return `${base}/merged`;
}

beforeAll(async () => {
  registry = await startRegistry();
  const seeded = await seedRegistry(registry, ["busybox", "layers"]);
  storeDir = await mkdtemp(join(tmpdir(), "drydock-fs9p-"));
  images = await openNodeImageService(storeDir);
  busybox = (await images.pull(seeded.busybox.reference)).details;
  drydock = await bootDrydock();
  drydock.machine.set9pHandler(
    createLayerServer(imageStoreLayers(images.store), { onError: (error) => serverErrors.push(error) }),
  );
  // Mounted after the restore (a saved state must hold no 9P fids), read-only, once.
  await drydock.agent.mkdir(SHARE, { parents: true });
  await drydock.agent.mount("host9p", SHARE, "9p", NINEP_OPTIONS, MS_RDONLY);
  // Pulled after the mount: the share finds layers when they are walked to, with no remount.
  layers = (await images.pull(seeded.layers.reference)).details;
});

afterAll(async () => {
  await drydock?.dispose();
  await registry?.stop();
  if (storeDir) await rm(storeDir, { recursive: true, force: true });
});

describe("the share", () => {
  it("lists one directory per layer in the store, named by chain id hex, including one pulled after mounting", async () => {
    const listed = (await sh(`ls ${SHARE}`)).split("\n").filter(Boolean).sort();
    const expected = [...busybox.layers, ...layers.layers].map((layer) => hex(layer.chainId)).sort();
    expect(listed).toEqual(expected);
    expect(await sh(`grep ' ${SHARE} ' /proc/mounts`)).toMatch(/^host9p \S+ 9p ro,/);
  });

  it("answers a name that is no layer with ENOENT", async () => {
    const result = await drydock.agent.run(["ls", `${SHARE}/${"0".repeat(64)}`, `${SHARE}/nonsense`]);
    expect(result.code).not.toBe(0);
    expect(result.stderr.match(/No such file or directory/g)).toHaveLength(2);
  });
});

describe("a layer's files, as the guest sees them", () => {
  it("reads every regular file byte-exact (sha256 in the guest = sha256 of the store's blob)", async () => {
    const wanted: { path: string; digest: string }[] = [];
    for (const [details, i] of [
      [busybox, 0],
      [layers, 0],
      [layers, 1],
      [layers, 2],
    ] as const) {
      for (const entry of (await layerIndex(details, i)).entries) {
        if (entry.type !== "file" && entry.type !== "hardlink") continue;
        const bytes = entry.content ? await images.store.content.readBytes(entry.content) : new Uint8Array(0);
        wanted.push({ path: `${SHARE}/${hex(details.layers[i]!.chainId)}/${entry.path}`, digest: sha256(bytes) });
      }
    }
    expect(wanted.some(({ path }) => path.endsWith("bin/busybox"))).toBe(true);
    const output = await sh(`sha256sum ${wanted.map(({ path }) => path).join(" ")}`);
    const seen = new Map(
      output
        .trim()
        .split("\n")
        .map((line) => [line.slice(66), line.slice(0, 64)] as const),
    );
    for (const { path, digest } of wanted) expect(seen.get(path), path).toBe(digest);
  });

  it("shows each entry's type, mode, owner, size and symlink target as the layer index records them", async () => {
    for (const [details, i] of [
      [busybox, 0],
      [layers, 0],
      [layers, 2],
    ] as const) {
      const root = `${SHARE}/${hex(details.layers[i]!.chainId)}`;
      // %f: raw mode in hex; %N: the name, and for a symlink its target.
      const output = await sh(`cd ${root} && find . | xargs stat -c '%n|%f|%u|%g|%s|%N'`);
      const seen = new Map(
        output
          .trim()
          .split("\n")
          .map((line) => line.split("|"))
          .map(([name, ...rest]) => [name === "." ? "" : name!.slice(2), rest] as const),
      );
      const { entries } = await layerIndex(details, i);
      expect([...seen.keys()].sort()).toEqual(entries.map((entry) => entry.path).sort());
      for (const entry of entries) {
        const [mode, uid, gid, size, named] = seen.get(entry.path)!;
        expect(Number.parseInt(mode!, 16), entry.path).toBe(modeOf(entry));
        expect([Number(uid), Number(gid)], entry.path).toEqual([entry.uid, entry.gid]);
        if (entry.type === "file" || entry.type === "hardlink") expect(Number(size), entry.path).toBe(entry.size);
        if (entry.type === "symlink") expect(named, entry.path).toMatch(new RegExp(`-> '${entry.linkTarget}'$`));
      }
    }
  });

  it("keeps the image's permissions: busybox is 0755, /tmp 1777, /root 0700, applets link to busybox", async () => {
    const root = `${SHARE}/${hex(busybox.layers[0]!.chainId)}`;
    expect(await sh(`stat -c '%a %U:%G' ${root}/bin/busybox ${root}/tmp ${root}/root`)).toBe(
      "755 root:root\n1777 root:root\n700 root:root\n",
    );
    expect(await sh(`readlink ${root}/bin/sh && readlink ${root}/bin/ls`)).toBe("busybox\nbusybox\n");
  });

  it("shows a hard link as one inode with two links and the same bytes", async () => {
    const data = `${SHARE}/${hex(layers.layers[0]!.chainId)}/data`;
    const [keep, link] = (await sh(`stat -c '%i %h %s' ${data}/keep.txt ${data}/hardlink.txt`)).trim().split("\n");
    expect(keep).toBe(link);
    expect(keep).toMatch(/^\d+ 2 5$/);
    expect(await sh(`cat ${data}/hardlink.txt`)).toBe(LAYERS.base.files["data/keep.txt"]);
  });

  it("shows the top layer's whiteout as a character device 0:0", async () => {
    const gone = `${SHARE}/${hex(layers.layers[2]!.chainId)}/etc/gone.txt`;
    expect(await sh(`stat -c '%F %t:%T' ${gone}`)).toBe("character special file 0:0\n");
    expect(await sh(`ls -l ${gone}`)).toMatch(/^c-{9}\s+1 root\s+root\s+0,\s+0 /);
  });

  it("shows each layer's own diff, not the applied stack", async () => {
    // The opaque dir of the top layer holds its one new file; the base layer keeps what the top one hides. (The
    // guest has no getfattr: overlayfs is the reader of trusted.overlay.opaque that matters, tested below.)
    expect(await sh(`ls ${SHARE}/${hex(layers.layers[2]!.chainId)}/data/dir`)).toBe("new.txt\n");
    expect(await sh(`ls ${SHARE}/${hex(layers.layers[0]!.chainId)}/data/dir`)).toBe("a.txt\nsub\n");
  });
});

describe("overlayfs stacks the layers", () => {
  let merged: string;

  beforeAll(async () => {
    merged = await overlay(
      "layers",
      [...layers.layers].reverse().map((layer) => layer.chainId),
    );
  });

  it("shows the image's final tree: the whiteout hides its file, the opaque dir holds only its new file", async () => {
    const files = (await sh(`cd ${merged} && find . -type f | sort`)).trim().split("\n");
    expect(files).toEqual(
      Object.keys(LAYERS.final)
        .map((path) => `./${path}`)
        .sort(),
    );
    for (const [path, content] of Object.entries(LAYERS.final)) expect(await sh(`cat ${merged}/${path}`)).toBe(content);
    expect(await sh(`ls -a ${merged}/data/dir`)).toBe(".\n..\nnew.txt\n");
    expect((await drydock.agent.run(["test", "-e", `${merged}/etc/gone.txt`])).code).toBe(1);
    expect(await sh(`readlink ${merged}/data/symlink && cat ${merged}/data/symlink`)).toBe("keep.txt\nkept\n");
    expect(await sh(`${merged}/data/run.sh`)).toBe("run\n");
  });

  it("copies writes up to the tmpfs upper dir and leaves the layer untouched", async () => {
    await sh(`echo changed > ${merged}/data/keep.txt && rm ${merged}/etc/base.txt`);
    expect(await sh(`cat ${merged}/data/keep.txt`)).toBe("changed\n");
    expect(await sh(`cat /tmp/fs9p-layers/upper/data/keep.txt`)).toBe("changed\n");
    expect(await sh(`stat -c '%F %t:%T' /tmp/fs9p-layers/upper/etc/base.txt`)).toBe("character special file 0:0\n");
    expect(await sh(`cat ${SHARE}/${hex(layers.layers[0]!.chainId)}/data/keep.txt`)).toBe("kept\n");
  });
});

describe("a container-like root from the share", () => {
  it("runs the busybox image's own busybox under chroot into an overlay of its layer", async () => {
    const merged = await overlay("busybox", [busybox.layers[0]!.chainId]);
    const output = await sh(
      `chroot ${merged} /bin/sh -c 'echo hello from the image; /bin/busybox | head -1; id -u; cat /etc/passwd | head -1'`,
    );
    expect(output).toMatch(
      /^hello from the image\nBusyBox v1\.\d+.*multi-call binary\.\n0\nroot:x:0:0:root:\/root:\/bin\/sh\n$/,
    );
    // The image's busybox is the one that ran: its bytes are the layer's, not the guest's.
    const inImage = await sh(`sha256sum ${merged}/bin/busybox`);
    const entry = (await layerIndex(busybox, 0)).entries.find((e) => e.path === "bin/busybox")!;
    expect(inImage.slice(0, 64)).toBe(sha256(await images.store.content.readBytes(entry.content!)));
  });
});

describe("the server refuses writes itself", () => {
  it("answers EROFS when the share is mounted read-write by mistake", async () => {
    // The ro mount stops writes in the guest's VFS before they reach 9P; without it, the server must refuse them.
    const target = "/tmp/fs9p-rw";
    await sh(`umount /tmp/fs9p-busybox/merged /tmp/fs9p-layers/merged && umount ${SHARE}`);
    await drydock.agent.mkdir(target, { parents: true });
    await drydock.agent.mount("host9p", target, "9p", NINEP_OPTIONS);
    try {
      const layer = `${target}/${hex(layers.layers[0]!.chainId)}`;
      for (const command of [
        `touch ${layer}/new`,
        `mkdir ${layer}/newdir`,
        `rm ${layer}/data/keep.txt`,
        `echo x >> ${layer}/data/keep.txt`,
        `chmod 600 ${layer}/data/keep.txt`,
        `ln -s x ${layer}/link`,
      ]) {
        const result = await drydock.agent.run(["sh", "-c", command]);
        expect(result.code, command).not.toBe(0);
        expect(result.stderr, command).toMatch(/Read-only file system/);
      }
      expect(await sh(`cat ${layer}/data/keep.txt`)).toBe("kept\n");
    } finally {
      await drydock.agent.umount(target);
      await drydock.agent.mount("host9p", SHARE, "9p", NINEP_OPTIONS, MS_RDONLY);
    }
  });

  it("met no failure of its own during the whole suite", () => {
    expect(serverErrors).toEqual([]);
  });
});

function modeOf(entry: LayerEntry): number {
  const permissions = entry.mode & 0o7777;
  switch (entry.type) {
    case "directory":
      return 0o040000 | permissions;
    case "file":
    case "hardlink":
      return 0o100000 | permissions;
    case "symlink":
      return 0o120777;
    case "whiteout":
      return 0o020000;
    case "characterDevice":
      return 0o020000 | permissions;
    case "blockDevice":
      return 0o060000 | permissions;
    case "fifo":
      return 0o010000 | permissions;
  }
}
