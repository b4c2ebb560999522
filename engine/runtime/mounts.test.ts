import { describe, expect, it } from "vitest";
import type { ContainerMount } from "../volumes/index.ts";
import { setUpContainerMounts } from "./mounts.ts";

const ROOT = "/run/drydock/containers/abc/rootfs";

/** An agent whose image has `/etc → /tmp`: drydockd's RESOLVE answers inside the root, as securejoin.c does. */
function linkedEtcAgent() {
  const calls: string[] = [];
  const agent = {
    resolve: async (root: string, path: string) => {
      calls.push(`resolve ${path} in ${root}`);
      return `${root}${path.replace(/^\/etc(?=\/|$)/, "/tmp")}`;
    },
    run: async (argv: string[]) => {
      calls.push(`run ${argv.slice(argv.indexOf("mount-points") + 1).join(" ")}`);
      return { code: 0, stdout: "", stderr: "" };
    },
    mount: async (source: string, target: string, fstype: string, options = "", flags = 0, root?: string) => {
      if (options) calls.push(`options ${options}`);
      calls.push(`mount ${source} ${target} ${fstype || "-"} ${flags} in ${root}`);
    },
  };
  return { agent, calls };
}

const volume = (destination: string, readonly = false): ContainerMount => ({
  type: "volume",
  name: "v",
  source: "/run/drydock/share/volumes/v",
  destination,
  readonly,
  copyUp: true,
  createSource: false,
  request: {
    type: "volume",
    source: "v",
    target: destination,
    readonly,
    noCopy: false,
    createSource: false,
    origin: "Volumes",
  },
});

describe("setUpContainerMounts", () => {
  it("looks every mount point up inside the root, and gives each MOUNT the root to look its target up again", async () => {
    const { agent, calls } = linkedEtcAgent();
    const traced: string[] = [];
    await setUpContainerMounts(
      agent,
      (action) => traced.push(JSON.stringify(action)),
      ROOT,
      [volume("/etc", true)],
      ["/etc/hostname", "/etc/hosts"],
    );
    expect(calls).toEqual([
      `resolve /etc in ${ROOT}`,
      `run volume-copy ${ROOT}/tmp /run/drydock/share/volumes/v`,
      `mount /run/drydock/share/volumes/v /etc - 20480 in ${ROOT}`,
      `mount none /etc - 4129 in ${ROOT}`,
      `resolve /etc/hostname in ${ROOT}`,
      `resolve /etc/hosts in ${ROOT}`,
      // The files bound later land in the volume on the container's /tmp, never in the guest's own /tmp.
      `run ${ROOT}/tmp/hostname ${ROOT}/tmp/hosts`,
    ]);
    expect(traced.join("\n")).toContain(`"target":"${ROOT}/tmp"`);
  });

  it("says which mount point cannot be looked up", async () => {
    const { agent } = linkedEtcAgent();
    agent.resolve = async () => {
      throw new Error("look up /loop inside the root: Too many levels of symbolic links");
    };
    await expect(setUpContainerMounts(agent, () => {}, ROOT, [volume("/loop")])).rejects.toThrow(
      /the mount point \/loop cannot be looked up in the container's image: .*Too many levels of symbolic links/,
    );
  });
});
