// Volume drivers through VolumeStore, against a recording agent: the driver is chosen by name (local when none is
// given, dockerd's "plugin not found" otherwise), options a driver does not take are refused before anything runs in
// the guest, a tmpfs volume is a tmpfs mounted in the guest outside the storage share, and after a restart only the
// local driver's volumes come back.
import { describe, expect, it } from "vitest";
import { ImageDriver } from "./drivers.ts";
import { parseBind } from "./specs.ts";
import { ROOT_INO, VolumeTree } from "./tree.ts";
import { type VolumeAgent, VolumeStore } from "./volumes.ts";

const ROOT = "/var/lib/drydock/volumes";

function recordingAgent(tree?: VolumeTree) {
  const calls: string[] = [];
  let mountCode = 0;
  const agent: VolumeAgent = {
    mkdir: async (path) => {
      calls.push(`mkdir ${path}`);
      const inRoot = path.startsWith(`${ROOT}/`) ? path.slice(ROOT.length + 1).split("/")[0] : undefined;
      if (tree && inRoot && !tree.volumes().includes(inRoot))
        tree.mkdir(ROOT_INO, inRoot, { mode: 0o40755, uid: 0, gid: 0 });
    },
    remove: async (path) => {
      calls.push(`rm ${path}`);
    },
    run: async (argv) => {
      calls.push(argv.slice(1).join(" "));
      const code = argv[1] === "mount" ? mountCode : 0;
      return { stdout: "12\t/x\n", stderr: code ? "mount: mounting failed: Invalid argument" : "", code };
    },
  } as VolumeAgent;
  return {
    agent,
    calls,
    failMounts: () => {
      mountCode = 255;
    },
  };
}

function storageOf(tree: VolumeTree) {
  return { tree, ready: async () => {} };
}

describe("volume drivers", () => {
  it("lists local and tmpfs, and makes local volumes by default as before", async () => {
    const { agent, calls } = recordingAgent();
    const store = new VolumeStore(agent);
    expect(store.drivers()).toEqual(["local", "tmpfs"]);
    const volume = await store.create({ name: "data" });
    expect(volume).toMatchObject({ driver: "local", mountpoint: `${ROOT}/data/_data`, options: {} });
    expect(volume.status).toBeUndefined();
    expect(calls).toEqual([`mkdir ${ROOT}/data/_data`]);
  });

  it("refuses an unknown driver with dockerd's words, and runs nothing", async () => {
    const { agent, calls } = recordingAgent();
    const store = new VolumeStore(agent);
    await expect(store.create({ name: "x", driver: "rexray" })).rejects.toThrow(
      'create x: error looking up volume plugin rexray: plugin "rexray" not found',
    );
    await expect(store.create({ name: "x", driver: "rexray" })).rejects.toMatchObject({ kind: "notFound" });
    expect(calls).toEqual([]);
    expect(store.list()).toEqual([]);
  });

  it("refuses options a driver does not take, naming them and what it takes", async () => {
    const { agent, calls } = recordingAgent();
    const store = new VolumeStore(agent);
    await expect(store.create({ name: "a", driverOpts: { type: "nfs" } })).rejects.toThrow(
      "the local volume driver does not take the option type (it takes no options)",
    );
    await expect(store.create({ name: "a", driver: "tmpfs", driverOpts: { device: "x", o: "y" } })).rejects.toThrow(
      "the tmpfs volume driver does not take the options device, o (it takes size, mode)",
    );
    await expect(store.create({ name: "a", driver: "tmpfs", driverOpts: { size: "lots" } })).rejects.toThrow(
      /size must be .*like size=16m; got "lots"/,
    );
    await expect(store.create({ name: "a", driver: "tmpfs", driverOpts: { mode: "rwx" } })).rejects.toMatchObject({
      kind: "invalidArgument",
    });
    expect(calls).toEqual([]);
  });

  it("mounts a tmpfs in the guest for a tmpfs volume, shows its options and status, and unmounts it on rm", async () => {
    const { agent, calls } = recordingAgent();
    const store = new VolumeStore(agent);
    const volume = await store.create({ name: "scratch", driver: "tmpfs", driverOpts: { size: "16m" } });
    expect(volume).toMatchObject({
      driver: "tmpfs",
      mountpoint: `${ROOT}-tmpfs/scratch`,
      options: { size: "16m" },
    });
    expect(volume.status?.Backing).toMatch(/guest memory/);
    expect(calls).toEqual([
      `mkdir ${ROOT}-tmpfs/scratch`,
      `mount -t tmpfs -o size=16m drydock-scratch ${ROOT}-tmpfs/scratch`,
    ]);
    const [mount] = await store.attach("c1", [parseBind("scratch:/s")]);
    expect(mount).toMatchObject({ source: `${ROOT}-tmpfs/scratch`, driver: "tmpfs" });
    await expect(store.remove("scratch")).rejects.toMatchObject({ kind: "conflict" });
    await store.detach("c1");
    calls.length = 0;
    await store.remove("scratch");
    expect(calls).toEqual([`umount ${ROOT}-tmpfs/scratch`, `rm ${ROOT}-tmpfs/scratch`]);
    expect(store.list()).toEqual([]);
  });

  it("answers the existing volume for the same name, but not under another driver", async () => {
    const { agent } = recordingAgent();
    const store = new VolumeStore(agent);
    const first = await store.create({ name: "sc", driver: "tmpfs" });
    expect(await store.create({ name: "sc" })).toBe(first);
    await expect(store.create({ name: "sc", driver: "local" })).rejects.toThrow(
      "a volume named sc already exists with the tmpfs driver",
    );
  });

  it("reports a tmpfs the guest refuses, and keeps no record of it", async () => {
    const { agent, failMounts } = recordingAgent();
    failMounts();
    const store = new VolumeStore(agent);
    await expect(store.create({ name: "sc", driver: "tmpfs", driverOpts: { size: "90%" } })).rejects.toThrow(
      "the guest refused the tmpfs mount (mount: mounting failed: Invalid argument)",
    );
    expect(store.list()).toEqual([]);
  });

  it("keeps tmpfs volumes out of the storage share, so a restarted engine has only the local ones", async () => {
    const tree = VolumeTree.inMemory();
    const { agent } = recordingAgent(tree);
    const store = new VolumeStore(agent, undefined, ROOT, storageOf(tree));
    await store.create({ name: "kept", labels: { a: "b" } });
    await store.create({ name: "scratch", driver: "tmpfs" });
    expect(tree.volumes()).toEqual(["kept"]);
    const again = new VolumeStore(recordingAgent(tree).agent, undefined, ROOT, storageOf(tree));
    expect(again.list().map((volume) => [volume.name, volume.driver, volume.labels])).toEqual([
      ["kept", "local", { a: "b" }],
    ]);
  });
  it("serves an image's layers read-only with the image driver: an overlay with no upper dir, released on rm", async () => {
    const { agent, calls } = recordingAgent();
    const released: string[] = [];
    const store = new VolumeStore(agent);
    store.addDriver(
      new ImageDriver(agent, `${ROOT}-image`, {
        layers: async (ref) => {
          if (ref !== "app") throw new Error(`No such image: ${ref}`);
          return ["sha256:a", "sha256:b"];
        },
        view: async (key, layers) => {
          calls.push(`view ${key} ${layers.join(",")}`);
          return [{ type: "overlay", source: "overlay", options: ["lowerdir=/l/b:/l/a"] }];
        },
        release: async (key) => void released.push(key),
      }),
    );
    expect(store.drivers()).toEqual(["local", "tmpfs", "image"]);
    await expect(store.create({ name: "img", driver: "image" })).rejects.toThrow("--opt ref=IMAGE");
    await expect(store.create({ name: "img", driver: "image", driverOpts: { ref: "app", o: "rw" } })).rejects.toThrow(
      "the image volume driver does not take the option o (it takes ref)",
    );
    await expect(store.create({ name: "img", driver: "image", driverOpts: { ref: "gone" } })).rejects.toThrow(
      "cannot serve gone: No such image: gone (pull it first)",
    );
    expect(calls).toEqual([]);
    const volume = await store.create({ name: "img", driver: "image", driverOpts: { ref: "app" } });
    expect(volume).toMatchObject({ mountpoint: `${ROOT}-image/img`, options: { ref: "app" } });
    expect(volume.status).toMatchObject({ Image: "app", Layers: "2", Access: "read-only" });
    expect(calls).toEqual([
      "view volume-image-img sha256:a,sha256:b",
      `mkdir ${ROOT}-image/img`,
      `mount -t overlay -o lowerdir=/l/b:/l/a overlay ${ROOT}-image/img`,
    ]);
    await store.remove("img");
    expect(released).toEqual(["volume-image-img"]);
    expect(calls.slice(-2)).toEqual([`umount ${ROOT}-image/img`, `rm ${ROOT}-image/img`]);
  });
});
