// The escape suite: in the real guest, a container's root tries the known ways out (escape/escape.c, compiled here
// static for i386 with the toolchain vm-images/build.sh uses) and every one fails; the guest is unharmed after.
// With --privileged the same attempts behave as they do under Docker, which is what --privileged is for:
//
// | attempt                               | default                              | --privileged (as Docker)          |
// | ------------------------------------- | ------------------------------------ | --------------------------------- |
// | write /sys/fs/cgroup/cgroup.procs     | EROFS (cgroupfs read-only)           | ok, but it is the container's own |
// |                                       |                                      | cgroup (cgroup namespace): it     |
// |                                       |                                      | stays in it                       |
// | mount cgroup2, proc, sysfs; remount   | EPERM (no CAP_SYS_ADMIN)             | ok (its own views)                |
// |   /sys read-write                     |                                      |                                   |
// | write /sys, /proc/sys                 | EROFS                                | ok (its own net and uts ns)       |
// | mknod hvc0, ttyS0, console, a disk,   | ok (CAP_MKNOD, `c *:* m`, as Docker) | ok                                |
// |   drydockd's channel (virtio-console  |                                      |                                   |
// |   port 1, numbers read from the       |                                      |                                   |
// |   container's own /sys)               |                                      |                                   |
// | open them                             | EPERM (the cgroup's device program)  | ok; the disk ENXIO/ENODEV (the    |
// |                                       |                                      | guest has no block devices);      |
// |                                       |                                      | drydockd's port EBUSY (a virtio   |
// |                                       |                                      | port takes one opener: drydockd)  |
// | write /proc/sysrq-trigger             | EROFS (read-only path)               | ok (`h` prints the help)          |
// | load a module                         | EPERM (seccomp; the kernel has none) | ENOSYS: the kernel has no modules |
// | ptrace / signal a guest process       | ESRCH: not in its pid namespace      | ESRCH                             |
// | sethostname, clock_settime            | EPERM (no SYS_ADMIN, SYS_TIME)       | ok: its own hostname; the clock   |
// |                                       |                                      | is the guest's (set to now)       |
// | reboot                                | EPERM (no CAP_SYS_BOOT)              | EINVAL: in a pid namespace only   |
// |                                       |                                      | restart/halt, which end the       |
// |                                       |                                      | container                         |
// | detach the device program (bpf)       | EPERM (seccomp: bpf needs            | (none is attached)                |
// |                                       | CAP_SYS_ADMIN or CAP_BPF)            |                                   |
// | unshare(CLONE_NEWUSER), clone with    | EPERM (seccomp: namespace flags need | ok                                |
// |   CLONE_NEWUSER, personality(ADDR_NO_ | CAP_SYS_ADMIN; only the usual        |                                   |
// |   RANDOMIZE), keyctl                  | personalities; keyctl not allowed)   |                                   |
// | connect /run/drydock/cli.sock         | ENOENT: not in its root              | ENOENT                            |
// | chroot + fchdir + chdir .. escape     | chroot is allowed (CAP_SYS_CHROOT)   | same: pivot_root left nothing     |
// |                                       | but the climb ends at its own root   | above the root                    |
//
// The seccomp rows are Docker's default profile (drydockd's builtin table). With `--security-opt seccomp=unconfined`
// and the default capabilities, as under Docker: a user namespace, clone with CLONE_NEWUSER, any personality and
// keyctl work (a user namespace needs no capability, and the kernel allows it when the root is the mount
// namespace's own, as after pivot_root); everything that needs a capability still fails (mount EPERM, module ENOSYS,
// detaching the device program EINVAL, getting it EPERM).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type Drydock, type ImageService, type TraceEvent } from "../../engine/index.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import type { RunOptions } from "../../engine/runtime/index.ts";
import { compileI386Program } from "../fixtures/i386-program.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let drydock: Drydock;
let images: ImageService;
let containers: ContainerService;
let registry: Registry;
let dir: string;
let busybox: string;
let program: Uint8Array;
const trace: TraceEvent[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "drydock-escape-"));
  program = await compileI386Program(dir, new URL("./escape/escape.c", import.meta.url).pathname);
  registry = await startRegistry();
  const seeded = await seedRegistry(registry, ["busybox"]);
  images = await openNodeImageService(join(dir, "store"));
  busybox = (await images.pull(seeded.busybox.reference)).name;
  drydock = await bootDrydock();
  containers = ContainerService.open(drydock, images);
  containers.trace((event) => trace.push(event));
});

afterAll(async () => {
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function logsText(id: string): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for (const reader = containers.logs(id).getReader(); ; ) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += decoder.decode(value.data, { stream: true });
  }
}

async function guest(script: string): Promise<string> {
  return (await drydock.agent.run(["sh", "-c", script])).stdout.trim();
}

interface Attempts {
  results: Record<string, string>;
  /** Was the program still in the container's cgroup after its attempts (read from outside)? */
  inItsCgroup: boolean;
  guestHostname: string;
}

/**
 * Runs the escape program as the container's root: copied into a created container's writable layer (what
 * `docker cp` into a created container does), started, read once it says `done`, then looked at from outside.
 */
async function attempt(options: RunOptions): Promise<Attempts> {
  // A guest process that is not in the container: drydockd itself.
  const outside = (await guest("pidof drydockd")).split(/\s+/).at(-1)!;
  const details = await containers.create(busybox, { ...options, cmd: ["/escape", outside, "wait"] });
  const id = details.id;
  try {
    await drydock.agent.writeFile(`${details.snapshot.upperDir}/escape`, program, 0o755);
    await containers.start(id);
    let output = "";
    for (let i = 0; i < 600 && !output.includes("\ndone\n"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      output = await logsText(id);
    }
    expect(output, output).toContain("\ndone\n");
    const processes = await containers.top(id);
    const results: Record<string, string> = {};
    for (const line of output.trim().split("\n")) {
      const space = line.indexOf(" ");
      if (space > 0) results[line.slice(0, space)] = line.slice(space + 1);
    }
    return {
      results,
      inItsCgroup: processes.some((p) => p.command.startsWith("/escape")),
      guestHostname: await guest("hostname"),
    };
  } finally {
    await containers.remove(id, { force: true });
  }
}

describe("a container's root with Docker's default confinement", () => {
  let got: Attempts;
  beforeAll(async () => {
    got = await attempt({});
  });

  it("has exactly Docker's default capabilities and no_new_privs", () => {
    expect(got.results.capeff).toBe("00000000a80425fb");
    expect(got.results.capbnd).toBe("00000000a80425fb");
    expect(got.results.nonewprivs).toBe("1");
  });

  it("sees its own cgroup as / and cannot leave it", () => {
    expect(got.results.cgroup).toBe("0::/");
    expect(got.results).toMatchObject({
      "cgroup-leave": "EROFS",
      "cgroup-mkdir": "EROFS",
      "mount-cgroup2": "EPERM",
    });
    expect(got.inItsCgroup).toBe(true);
  });

  it("cannot mount proc or sysfs, nor write /sys or /proc/sys", () => {
    expect(got.results).toMatchObject({
      "mount-proc": "EPERM",
      "mount-sysfs": "EPERM",
      "remount-sys-rw": "EPERM",
      "write-sys": "EROFS",
      "write-proc-sys": "EROFS",
    });
  });

  it("may mknod the console and a disk, as under Docker, but never open them", () => {
    expect(got.results).toMatchObject({
      "mknod-vport": "ok",
      "open-vport": "EPERM",
      "mknod-hvc0": "ok",
      "open-hvc0": "EPERM",
      "mknod-ttyS0": "ok",
      "open-ttyS0": "EPERM",
      "mknod-console": "ok",
      "open-console": "EPERM",
      "mknod-disk": "ok",
      "open-disk": "EPERM",
      "open-dev-null": "ok",
    });
  });

  it("finds drydockd's channel's numbers from inside, and still cannot open it", async () => {
    // What the guest itself says port 1 of the virtio console is (drydockd holds it open).
    const port = await guest("cat /sys/class/virtio-ports/vport*p1/dev");
    expect(port).toMatch(/^\d+:1$/);
    expect(await guest(`ls -l /proc/$(pidof drydockd)/fd | grep -c 'vport[0-9]*p1'`)).toBe("1");
    expect(got.results["vport-dev"]).toBe(port);
    expect(got.results["open-vport"]).toBe("EPERM");
  });

  it("cannot write /proc/sysrq-trigger, and /proc/keys is masked", () => {
    expect(got.results.sysrq).toBe("EROFS");
    expect(got.results.keys).toBe("masked");
  });

  it("cannot make a user namespace, use another personality or a keyring: Docker's default seccomp profile", () => {
    expect(got.results).toMatchObject({
      "unshare-user": "EPERM",
      "clone-newuser": "EPERM",
      personality: "EPERM",
      keyctl: "EPERM",
    });
  });

  it("cannot load a module, reach a process outside, set the hostname or clock, reboot, or detach the device program", () => {
    expect(got.results).toMatchObject({
      // The filter answers before the kernel could say it has no modules.
      module: "EPERM",
      "ptrace-outside": "ESRCH",
      "signal-outside": "ESRCH",
      hostname: "EPERM",
      clock: "EPERM",
      reboot: "EPERM",
      // bpf needs CAP_SYS_ADMIN (or CAP_BPF) under the filter.
      "bpf-detach": "EPERM",
      "bpf-get-program": "EPERM",
    });
  });

  it("cannot reach the agent's socket or climb out of a chroot", () => {
    expect(got.results["agent-socket"]).toBe("ENOENT");
    expect(got.results.chroot).toBe("ok");
    expect(got.results["chroot-escape"]).toBe("inside");
  });

  it("leaves the guest unharmed: its hostname, and the engine still runs containers", async () => {
    expect(got.guestHostname).toBe("drydock");
    const { id } = await containers.run(busybox, { cmd: ["echo", "still here"] });
    expect((await containers.wait(id)).code).toBe(0);
    expect(await logsText(id)).toBe("still here\n");
    await containers.remove(id);
  });

  it("says in the trace how it was confined, as commands", () => {
    const commands = trace.map((event) => event.command);
    expect(commands).toContainEqual(
      expect.stringMatching(/^bpftool cgroup attach \/sys\/fs\/cgroup\/drydock\/\w+ device .*deny a \*:\* rwm/),
    );
    expect(commands).toContainEqual(
      expect.stringMatching(
        /^setpriv .*--bounding-set=-all,\+chown,.* --no-new-privs --seccomp-filter=docker-default /,
      ),
    );
    expect(commands).toContainEqual(expect.stringMatching(/^mount --bind -o ro \/proc\/sysrq-trigger/));
  });
});

describe("the same attempts with --privileged behave as under Docker", () => {
  let got: Attempts;
  beforeAll(async () => {
    got = await attempt({ privileged: true });
  });

  it("has every capability", () => {
    expect(got.results.capeff).toBe("000001ffffffffff");
  });

  it("mounts what it likes, but the cgroup it sees is still its own", () => {
    expect(got.results).toMatchObject({
      cgroup: "0::/",
      "cgroup-leave": "ok",
      "mount-cgroup2": "ok",
      "cgroup2-rw-leave": "ok",
      "mount-proc": "ok",
      "mount-sysfs": "ok",
      "remount-sys-rw": "ok",
      "write-sys": "ok",
      "write-proc-sys": "ok",
    });
    expect(got.inItsCgroup).toBe(true);
  });

  it("opens the guest's devices (all of /dev is its), and writes /proc/sysrq-trigger", () => {
    expect(got.results).toMatchObject({ "open-hvc0": "ok", "open-ttyS0": "ok", "open-console": "ok", sysrq: "ok" });
    expect(["ENXIO", "ENODEV"]).toContain(got.results["open-disk"]);
    expect(got.results.keys).toBe("readable");
  });

  it("may open drydockd's channel as far as the device program goes, but the port is drydockd's alone (EBUSY)", () => {
    // Docker's --privileged gives every device; the virtio console lets one process hold a port, as it does on a host.
    expect(got.results).toMatchObject({ "mknod-vport": "ok", "open-vport": "EBUSY" });
  });

  it("runs without a seccomp filter: user namespaces, personalities and keyrings work", () => {
    expect(got.results).toMatchObject({
      "unshare-user": "ok",
      "clone-newuser": "ok",
      personality: "ok",
      keyctl: "ok",
    });
  });

  it("changes its own hostname and the guest's clock; still no modules, no outside processes, no reboot", () => {
    expect(got.results).toMatchObject({
      hostname: "ok",
      clock: "ok",
      module: "ENOSYS",
      "ptrace-outside": "ESRCH",
      reboot: "EINVAL",
      "agent-socket": "ENOENT",
      "chroot-escape": "inside",
    });
    expect(got.guestHostname).toBe("drydock");
  });

  it("leaves the engine running containers", async () => {
    const { id } = await containers.run(busybox, { cmd: ["true"] });
    expect((await containers.wait(id)).code).toBe(0);
    await containers.remove(id);
  });
});

describe("with --security-opt seccomp=unconfined (default capabilities), as under Docker", () => {
  let got: Attempts;
  beforeAll(async () => {
    got = await attempt({ securityOpt: ["seccomp=unconfined"] });
  });

  it("makes a user namespace, clones with CLONE_NEWUSER, changes its personality, joins a keyring", () => {
    expect(got.results).toMatchObject({
      "unshare-user": "ok",
      "clone-newuser": "ok",
      personality: "ok",
      keyctl: "ok",
    });
  });

  it("still lacks every capability Docker drops: no mount, module, hostname, clock or device program", () => {
    expect(got.results.capeff).toBe("00000000a80425fb");
    expect(got.results).toMatchObject({
      "mount-proc": "EPERM",
      "mount-cgroup2": "EPERM",
      module: "ENOSYS",
      hostname: "EPERM",
      clock: "EPERM",
      reboot: "EPERM",
      "open-hvc0": "EPERM",
      "open-vport": "EPERM",
      "bpf-detach": "EINVAL",
      "bpf-get-program": "EPERM",
      "chroot-escape": "inside",
    });
    expect(got.inItsCgroup).toBe(true);
  });
});

describe("Docker's default seccomp profile and ordinary programs", () => {
  async function run(options: RunOptions): Promise<{ code: number; output: string }> {
    const { id } = await containers.run(busybox, options);
    try {
      const { code } = await containers.wait(id);
      return { code, output: await logsText(id) };
    } finally {
      await containers.remove(id, { force: true });
    }
  }

  // The fixture image links only common applets; busybox runs the others by name.
  const unshareUser = ["busybox", "unshare", "-U", "echo", "inside"];

  it("refuses busybox's `unshare -U` by default, allows it unconfined or with CAP_SYS_ADMIN (as Docker)", async () => {
    const denied = await run({ cmd: unshareUser });
    expect(denied.code).not.toBe(0);
    expect(denied.output).toMatch(/Operation not permitted/);
    const unconfined = await run({ cmd: unshareUser, securityOpt: ["seccomp=unconfined"] });
    expect(unconfined).toEqual({ code: 0, output: "inside\n" });
    // The profile follows the capabilities: CAP_SYS_ADMIN unlocks unshare, mount, setns.
    const admin = await run({ cmd: unshareUser, capAdd: ["SYS_ADMIN"] });
    expect(admin).toEqual({ code: 0, output: "inside\n" });
  });

  it("lets a shell, ls, an HTTP server and wget over loopback, ps and sleep work", async () => {
    const script = [
      "ls / > /dev/null",
      "mkdir -p /tmp/www && echo served > /tmp/www/index.html",
      "busybox httpd -p 127.0.0.1:8080 -h /tmp/www",
      "wget -q -O - http://127.0.0.1:8080/",
      "{ sleep 0.2 & wait; }",
      "ps > /dev/null && date > /dev/null && echo fine",
    ].join(" && ");
    expect(await run({ cmd: ["sh", "-c", script] })).toEqual({ code: 0, output: "served\nfine\n" });
  });

  it("applies the container's filter to docker exec too", async () => {
    const { id } = await containers.run(busybox, { cmd: ["sleep", "60"] });
    try {
      const run = async (argv: string[]) => {
        const process = await containers.exec(id, argv);
        const [stdout, stderr, status] = await Promise.all([
          new Response(process.stdout).text(),
          new Response(process.stderr).text(),
          process.exit,
        ]);
        return { code: status.code, output: stdout + stderr };
      };
      const denied = await run(["busybox", "unshare", "-U", "true"]);
      expect(denied.code).not.toBe(0);
      expect(denied.output).toMatch(/Operation not permitted/);
      expect(await run(["sh", "-c", "grep Seccomp: /proc/self/status"])).toEqual({
        code: 0,
        output: "Seccomp:\t2\n",
      });
    } finally {
      await containers.remove(id, { force: true });
    }
  });
});
