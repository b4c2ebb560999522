// engine/inspect against the real guest: what the inspector shows is read from the guest's /proc, its cgroup files
// and the overlay mount, and agrees with what the guest's own tools say.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectContainer, readCgroup } from "../../engine/index.ts";
import { type GuestDockerFixture, startGuestDocker } from "../fixtures/guest-docker.ts";

let guest: GuestDockerFixture;

beforeAll(async () => {
  guest = await startGuestDocker();
});

afterAll(() => guest?.stop());

describe("inspectContainer and readCgroup", () => {
  it("reads a running container's layers, namespaces, processes and cgroup from the guest", async () => {
    const { containers, images, busybox } = guest;
    const { id } = await containers.run(busybox, {
      name: "seen",
      hostname: "inside",
      memory: 32 * 1024 * 1024,
      pidsLimit: 20,
      // The trailing `true` keeps sh as PID 1 (ash execs a script's last command).
      cmd: ["sh", "-c", "echo x > /made; sleep 300 & sleep 300; true"],
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const seen = await inspectContainer(containers, images, id);
    const image = await images.image(busybox);
    expect(seen.layers.map((layer) => layer.digest)).toEqual(image.layers.map((layer) => layer.blob.digest));
    expect(seen.layers[0]!.size).toBeGreaterThan(0);
    expect(seen.layers[0]!.lowerDir).toMatch(/^\//);
    expect(seen.overlay).toContain(`lowerdir=`);
    expect(seen.overlay).toContain(`upperdir=${seen.upper.dir}`);
    expect(seen.upper.changes).toContainEqual({ kind: "A", path: "/made" });
    // Every namespace but the cgroup one (Docker's default on cgroup v2 is private too) differs from the guest's.
    const pid = seen.namespaces.find((ns) => ns.type === "pid")!;
    expect(pid.container).toMatch(/^pid:\[\d+\]$/);
    expect(pid.container).not.toBe(pid.guest);
    expect(seen.hostname).toBe("inside");
    // PID 1 in the container is the sh; its two sleeps are its children, each with a guest pid of its own.
    const init = seen.processes.find((p) => p.containerPid === 1)!;
    expect(init.command).toContain("sh -c");
    expect(init.guestPid).toBe(seen.pid);
    const sleeps = seen.processes.filter((p) => p.command.startsWith("sleep"));
    expect(sleeps).toHaveLength(2);
    for (const sleep of sleeps) {
      expect(sleep.containerPpid).toBe(1);
      expect(sleep.guestPid).toBeGreaterThan(sleep.containerPid);
    }
    // The guest's own /proc says the same.
    const { stdout } = await guest.drydock.agent.run(["cat", `/proc/${init.guestPid}/status`]);
    expect(stdout).toMatch(new RegExp(`^NSpid:\\s+${init.guestPid}\\s+1$`, "m"));
    expect(seen.mounts.some((mount) => mount.target === "/proc" && mount.type === "proc")).toBe(true);
    expect(seen.interfaces.map((i) => i.name)).toContain("lo");
    const cgroup = await readCgroup(containers, id);
    expect(cgroup.memoryMax).toBe(32 * 1024 * 1024);
    expect(cgroup.pidsMax).toBe(20);
    expect(cgroup.pidsCurrent).toBe(3);
    expect(cgroup.memoryCurrent).toBeGreaterThan(0);
    expect(cgroup.oomKills).toBe(0);
    await containers.remove(id, { force: true });
  });

  it("counts an OOM kill in the cgroup while the container lives on", async () => {
    const { containers, busybox } = guest;
    const { id } = await containers.run(busybox, {
      memory: 16 * 1024 * 1024,
      cmd: ["sh", "-c", "tail /dev/zero; sleep 300"],
    });
    let reading = await readCgroup(containers, id);
    for (let i = 0; i < 60 && reading.oomKills === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      reading = await readCgroup(containers, id);
    }
    expect(reading.oomKills).toBe(1);
    expect(containers.inspect(id).status).toBe("running");
    await containers.remove(id, { force: true });
  });
});
