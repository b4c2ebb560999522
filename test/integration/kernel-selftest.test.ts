// The guest kernel self-test: boots the committed guest in v86 and proves, from inside it, that everything the
// engine builds on is there: namespaces, cgroup v2 limits, overlayfs whiteouts, a 9P share, veth, netfilter (iptables),
// a working clock.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SerialShell, type V86Machine } from "../../engine/index.ts";
import { bootGuest } from "../../engine/node/guest.ts";

let machine: V86Machine;
let shell: SerialShell;

beforeAll(async () => {
  machine = await bootGuest({ builtin9p: true });
  shell = new SerialShell(machine);
  await shell.ready(60_000);
});

afterAll(async () => {
  shell?.dispose();
  await machine?.dispose();
});

/** Runs a command in the guest and returns its output, failing the test with the output if it exits non-zero. */
async function sh(command: string): Promise<string> {
  const { output, code } = await shell.run(command);
  expect(code, `\`${command}\` failed with:\n${output}`).toBe(0);
  return output;
}

describe("namespaces", () => {
  it("a new pid namespace starts at pid 1 and sees only its own processes", async () => {
    // The glob is expanded by the namespace's first process: it must find itself, as pid 1, and nothing else.
    expect(await sh("unshare -p -f -m --mount-proc sh -c 'echo $$; exec ls -1d /proc/[0-9]*'")).toBe("1\n/proc/1\n");
  });

  it("a new mount namespace keeps its mounts to itself", async () => {
    const inside = await sh("unshare -m sh -c 'mount -t tmpfs t /mnt && touch /mnt/only-inside && ls /mnt'");
    expect(inside).toBe("only-inside\n");
    expect(await sh("ls /mnt")).toBe("");
  });

  it("a new uts namespace has its own hostname", async () => {
    expect(await sh("unshare -u sh -c 'hostname box1 && hostname'; hostname")).toBe("box1\ndrydock\n");
  });

  it("a new ipc namespace differs from the host's", async () => {
    const outside = await sh("readlink /proc/self/ns/ipc");
    const inside = await sh("unshare -i readlink /proc/self/ns/ipc");
    expect(inside).toMatch(/^ipc:\[\d+\]\n$/);
    expect(inside).not.toBe(outside);
  });

  it("a new net namespace has only a loopback interface", async () => {
    const links = await sh("unshare -n ip -o link | cut -d: -f2");
    expect(
      links
        .split("\n")
        .filter(Boolean)
        .map((l) => l.trim()),
    ).toEqual(["lo"]);
  });

  it("a process has a cgroup namespace and the kernel knows capabilities up to CHECKPOINT_RESTORE (40)", async () => {
    expect(await sh("readlink /proc/self/ns/cgroup")).toMatch(/^cgroup:\[\d+\]\n$/);
    expect(await sh("cat /proc/sys/kernel/cap_last_cap")).toBe("40\n");
  });

  it("no_new_privs holds across exec (what drydockd sets for every container)", async () => {
    expect(await sh("setpriv --nnp grep NoNewPrivs /proc/self/status")).toMatch(/^NoNewPrivs:\s+1\n$/);
  });

  it("has /proc/sysrq-trigger (containers get it read-only; --privileged may write it)", async () => {
    expect(await sh("test -f /proc/sysrq-trigger && stat -c %a /proc/sysrq-trigger")).toBe("200\n");
  });

  it("a new user namespace maps root to the caller", async () => {
    expect(await sh("unshare -U -r sh -c 'id -u; readlink /proc/self/ns/user'")).toMatch(/^0\nuser:\[\d+\]\n$/);
  });
});

describe("cgroup v2", () => {
  it("is mounted with the memory, pids and cpu controllers enabled for children", async () => {
    expect(await sh("mount | grep cgroup2")).toContain("/sys/fs/cgroup type cgroup2");
    const enabled = (await sh("cat /sys/fs/cgroup/cgroup.subtree_control")).trim().split(" ");
    expect(enabled).toEqual(expect.arrayContaining(["memory", "pids", "cpu"]));
  });

  it("memory.max OOM-kills a hog with exit 137", async () => {
    await sh("mkdir -p /sys/fs/cgroup/hog && echo 16M > /sys/fs/cgroup/hog/memory.max");
    // `tail /dev/zero` looks for a newline that never comes and keeps buffering.
    const { code } = await shell.run("sh -c 'echo $$ > /sys/fs/cgroup/hog/cgroup.procs && exec tail /dev/zero'");
    expect(code).toBe(137);
    expect(await sh("grep oom_kill /sys/fs/cgroup/hog/memory.events")).toMatch(/^oom_kill 1$/m);
    await sh("rmdir /sys/fs/cgroup/hog");
  });

  it("pids.max makes fork fail", async () => {
    await sh("mkdir -p /sys/fs/cgroup/few && echo 1 > /sys/fs/cgroup/few/pids.max");
    const { code, output } = await shell.run(
      "sh -c 'echo $$ > /sys/fs/cgroup/few/cgroup.procs && echo forked | cat' 2>&1",
    );
    expect(code).not.toBe(0);
    expect(output).toMatch(/fork|resource/i);
    await sh("rmdir /sys/fs/cgroup/few");
  });
});

describe("filesystems", () => {
  it("overlayfs unions layers and a 0:0 character device whiteout hides a lower file", async () => {
    await sh("mkdir -p /tmp/ov/lower /tmp/ov/upper /tmp/ov/work /tmp/ov/merged");
    await sh("echo kept > /tmp/ov/lower/keep && echo deleted > /tmp/ov/lower/gone && mknod /tmp/ov/upper/gone c 0 0");
    await sh(
      "mount -t overlay overlay -o lowerdir=/tmp/ov/lower,upperdir=/tmp/ov/upper,workdir=/tmp/ov/work /tmp/ov/merged",
    );
    expect(await sh("ls /tmp/ov/merged")).toBe("keep\n");
    expect(await sh("cat /tmp/ov/merged/keep")).toBe("kept\n");
    // Writes land in the upper dir; the lower dir is never touched.
    await sh("echo new > /tmp/ov/merged/added");
    expect(await sh("ls /tmp/ov/upper | sort")).toBe("added\ngone\n");
    expect(await sh("ls /tmp/ov/lower | sort")).toBe("gone\nkeep\n");
    await sh("umount /tmp/ov/merged && rm -rf /tmp/ov");
  });

  it("pivot_root moves a new mount namespace into a new root", async () => {
    const script = [
      "mkdir -p /tmp/nr && mount -t tmpfs nr /tmp/nr && mkdir -p /tmp/nr/bin /tmp/nr/old",
      "cp /bin/busybox /tmp/nr/bin/ && cd /tmp/nr && pivot_root . old",
      "/bin/busybox ls -1 /",
    ].join(" && ");
    expect(await sh(`unshare -m sh -c '${script}'`)).toBe("bin\nold\n");
  });

  it("mounts a 9P share from the host and reads a file the host wrote", async () => {
    await machine.emulator.create_file("/from-host.txt", new TextEncoder().encode("hello from the host\n"));
    await sh("mkdir -p /mnt/host && mount -t 9p -o trans=virtio,version=9p2000.L host9p /mnt/host");
    expect(await sh("cat /mnt/host/from-host.txt")).toBe("hello from the host\n");
    await sh("umount /mnt/host");
  });
});

describe("network devices", () => {
  it("creates a veth pair", async () => {
    await sh("ip link add drydock0 type veth");
    const links = await sh("ip -o link | cut -d: -f2 | cut -d@ -f1");
    expect(links.split("\n").map((l) => l.trim())).toEqual(expect.arrayContaining(["drydock0", "veth0"]));
    await sh("ip link del drydock0");
  });

  it("has VXLAN built in (a swarm's overlay across guests), on its Linux default port", async () => {
    // busybox's `ip` cannot pass a VNI, which the driver requires; its parameter shows it is there.
    expect(await sh("cat /sys/module/vxlan/parameters/udp_port")).toBe("8472\n");
  });
});

describe("netfilter", () => {
  it("iptables programs the nat and filter tables with what dockerd's rules use", async () => {
    // In a network namespace of its own, so the guest's own tables stay as the engine leaves them (networks.test.ts
    // shows a DNAT rewriting a connection end to end).
    const rules = [
      "-t nat -A OUTPUT -m addrtype --dst-type LOCAL -p tcp --dport 81 -j DNAT --to-destination 127.0.0.1:80",
      "-t nat -A POSTROUTING -s 10.9.0.0/16 ! -o lo -j MASQUERADE",
      "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ];
    const script = `${rules.map((rule) => `iptables ${rule}`).join(" && ")} && iptables-save | grep -c -- -A`;
    expect(await sh(`unshare -n sh -c '${script}' && test -r /proc/net/nf_conntrack && echo conntrack`)).toBe(
      "3\nconntrack\n",
    );
  });
});

describe("seccomp", () => {
  it("the kernel filters system calls (drydockd installs Docker's default profile); the guest's shell has none", async () => {
    expect(await sh("grep -E '^Seccomp(_filters)?:' /proc/self/status")).toMatch(
      /^Seccomp:\s+0\nSeccomp_filters:\s+0\n$/,
    );
  });
});

describe("clock", () => {
  it("sleep 1 takes about a second", async () => {
    const started = performance.now();
    const [before, after] = (await sh("cut -d' ' -f1 /proc/uptime; sleep 1; cut -d' ' -f1 /proc/uptime"))
      .trim()
      .split("\n")
      .map(Number);
    const wallMs = performance.now() - started;
    expect(after! - before!).toBeGreaterThanOrEqual(0.95);
    expect(after! - before!).toBeLessThan(2);
    expect(wallMs).toBeGreaterThanOrEqual(950);
  });
});
