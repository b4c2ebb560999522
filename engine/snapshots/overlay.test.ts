import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { Tracer } from "../trace/index.ts";
import { type LayerShare, OverlaySnapshotter, type SnapshotAgent } from "./index.ts";

function setup() {
  const calls: string[] = [];
  const agent: SnapshotAgent = {
    mkdir: async (path) => {
      calls.push(`mkdir ${path}`);
    },
    remove: async (path) => {
      calls.push(`rm ${path}`);
    },
  };
  let readies = 0;
  const layers: LayerShare = {
    root: "/L",
    ready: async () => {
      readies++;
    },
  };
  const tracer = new Tracer();
  const commands: string[] = [];
  tracer.subscribe((event) => commands.push(event.command));
  const snapshotter = new OverlaySnapshotter({ agent, layers, tracer, root: "/S" });
  snapshotter.registerLayers(["sha256:aa", "sha256:bb"]);
  return { snapshotter, calls, commands, readies: () => readies };
}

async function kindOf(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    if (isEngineError(error)) return error.kind;
    throw error;
  }
  return "ok";
}

describe("OverlaySnapshotter", () => {
  it("prepares an overlay of the image's layers, top first, with upper and work dirs on tmpfs", async () => {
    const { snapshotter, calls, commands, readies } = setup();
    const mounts = await snapshotter.prepare("c1", "sha256:bb");
    expect(mounts).toEqual([
      {
        type: "overlay",
        source: "overlay",
        options: ["lowerdir=/L/bb:/L/aa", "upperdir=/S/1/fs", "workdir=/S/1/work"],
      },
    ]);
    expect(calls).toEqual(["mkdir /S/1/fs", "mkdir /S/1/work"]);
    expect(commands).toEqual(["mkdir /S/1/fs", "mkdir /S/1/work"]);
    expect(readies()).toBe(1);
    expect(snapshotter.stat("c1")).toMatchObject({ name: "c1", parent: "sha256:bb", kind: "active" });
  });

  it("stacks a committed snapshot's upper dir above its parent's layers", async () => {
    const { snapshotter, calls } = setup();
    await snapshotter.prepare("init", "sha256:bb");
    await snapshotter.commit("c1-init", "init");
    expect(calls).toContain("rm /S/1/work");
    expect(await kindOf(snapshotter.prepare("x", "init"))).toBe("notFound");
    const [mount] = await snapshotter.prepare("c1", "c1-init");
    expect(mount?.options[0]).toBe("lowerdir=/S/1/fs:/L/bb:/L/aa");
    expect(snapshotter.stat("c1-init").kind).toBe("committed");
  });

  it("views a single layer as a read-only bind mount and several as a lowerdir-only overlay", async () => {
    const { snapshotter } = setup();
    expect(await snapshotter.view("v1", "sha256:aa")).toEqual([
      { type: "bind", source: "/L/aa", options: ["ro", "rbind"] },
    ]);
    expect(await snapshotter.view("v2", "sha256:bb")).toEqual([
      { type: "overlay", source: "overlay", options: ["lowerdir=/L/bb:/L/aa"] },
    ]);
  });

  it("binds a snapshot without a parent", async () => {
    const { snapshotter } = setup();
    expect(await snapshotter.prepare("scratch")).toEqual([
      { type: "bind", source: "/S/1/fs", options: ["rw", "rbind"] },
    ]);
  });

  it("refuses what containerd refuses, with the right kinds", async () => {
    const { snapshotter } = setup();
    await snapshotter.prepare("c1", "sha256:bb");
    expect(await kindOf(snapshotter.prepare("c1", "sha256:bb"))).toBe("alreadyExists");
    expect(await kindOf(snapshotter.prepare("c2", "sha256:nope"))).toBe("notFound");
    expect(await kindOf(snapshotter.prepare("c3", "c1"))).toBe("invalidArgument");
    expect(await kindOf(snapshotter.commit("c1", "c1"))).toBe("alreadyExists");
    expect(await kindOf(() => snapshotter.mounts("sha256:bb"))).toBe("invalidArgument");
    expect(await kindOf(snapshotter.remove("sha256:aa"))).toBe("conflict");
    expect(await kindOf(snapshotter.remove("nope"))).toBe("notFound");
    expect(() => snapshotter.registerLayers(["sha256:cc", "sha256:aa"])).toThrow(/another parent/);
  });

  it("removes a snapshot's directories, and only forgets shared layers", async () => {
    const { snapshotter, calls } = setup();
    await snapshotter.prepare("c1", "sha256:bb");
    await snapshotter.remove("c1");
    await snapshotter.remove("sha256:bb");
    expect(calls.filter((call) => call.startsWith("rm"))).toEqual(["rm /S/1"]);
    expect(snapshotter.list().map((s) => s.name)).toEqual(["sha256:aa"]);
  });
});
