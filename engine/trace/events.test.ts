import { describe, expect, it } from "vitest";
import { commandOf, type TraceAction, Tracer } from "./index.ts";

describe("trace commands read like the shell", () => {
  const cases: [TraceAction, string][] = [
    [{ op: "mkdir", path: "/sys/fs/cgroup/drydock/3f2a" }, "mkdir /sys/fs/cgroup/drydock/3f2a"],
    [
      { op: "write", path: "/sys/fs/cgroup/drydock/3f2a/memory.max", value: "67108864" },
      "echo 67108864 > /sys/fs/cgroup/drydock/3f2a/memory.max",
    ],
    [{ op: "write", path: "/x/cpu.max", value: "20000 100000" }, "echo '20000 100000' > /x/cpu.max"],
    [
      {
        op: "mount",
        source: "overlay",
        target: "/r",
        fstype: "overlay",
        options: "lowerdir=/a:/b,upperdir=/u,workdir=/w",
      },
      "mount -t overlay -o lowerdir=/a:/b,upperdir=/u,workdir=/w overlay /r",
    ],
    [{ op: "mount", source: "/dev/null", target: "/r/dev/null", bind: true }, "mount --bind /dev/null /r/dev/null"],
    [
      { op: "mount", source: "sysfs", target: "/sys", fstype: "sysfs", readonly: true },
      "mount -t sysfs -o ro sysfs /sys",
    ],
    [{ op: "umount", target: "/r", lazy: true }, "umount -l /r"],
    [{ op: "clone", flags: ["CLONE_NEWPID", "CLONE_NEWNS"] }, "clone(CLONE_NEWPID|CLONE_NEWNS)"],
    [{ op: "pivot_root", root: "/r" }, "pivot_root /r /r"],
    [{ op: "link-up", device: "lo" }, "ip link set lo up"],
    [{ op: "mknod", path: "/dev/null", type: "c", major: 1, minor: 3, mode: 0o666 }, "mknod -m 666 /dev/null c 1 3"],
    [{ op: "symlink", target: "pts/ptmx", path: "/dev/ptmx" }, "ln -s pts/ptmx /dev/ptmx"],
    [
      { op: "device-filter", cgroup: "/sys/fs/cgroup/drydock/c1", rules: ["deny a *:* rwm", "allow c 1:3 rwm"] },
      "bpftool cgroup attach /sys/fs/cgroup/drydock/c1 device multi <program> # the last matching rule decides: deny a *:* rwm, allow c 1:3 rwm",
    ],
    [
      {
        op: "setpriv",
        uid: 0,
        gid: 0,
        groups: [10],
        bounding: "-all,+chown,+kill",
        inheritable: "-all",
        ambient: "-all",
        noNewPrivs: true,
      },
      "setpriv --reuid=0 --regid=0 --groups=10 --inh-caps=-all --ambient-caps=-all --bounding-set=-all,+chown,+kill --no-new-privs",
    ],
    [
      { op: "setpriv", uid: 1000, gid: 1000, groups: [], noNewPrivs: true, seccomp: "docker-default" },
      "setpriv --reuid=1000 --regid=1000 --clear-groups --no-new-privs --seccomp-filter=docker-default # other syscalls (unshare, mount, keyctl, …) fail with EPERM",
    ],
    [{ op: "exec", argv: ["sh", "-c", "echo it's"] }, `exec sh -c 'echo it'"'"'s'`],
    [
      { op: "store", action: "write", name: "upper-3f2a.tar", bytes: 10240, note: "the writable layer" },
      "store write upper-3f2a.tar # 10240 bytes, the writable layer",
    ],
    [{ op: "store", action: "remove", name: "upper-3f2a.tar" }, "store remove upper-3f2a.tar"],
    [{ op: "kill", pid: 42, signal: 15 }, "kill -TERM 42"],
    [{ op: "rm", path: "/run/x", recursive: true }, "rm -rf /run/x"],
    [
      { op: "http", method: "GET", url: "/v2/library/alpine/manifests/3.20", status: 200 },
      "GET /v2/library/alpine/manifests/3.20 → 200",
    ],
  ];
  it.each(cases)("%o", (action, command) => {
    expect(commandOf(action)).toBe(command);
  });
});

describe("Tracer", () => {
  it("delivers events to subscribers until they unsubscribe", () => {
    const tracer = new Tracer({ now: () => 1000 });
    const seen: string[] = [];
    const stop = tracer.subscribe((event) => seen.push(`${event.subject}: ${event.command} @${event.time}`));
    tracer.emit({ op: "mkdir", path: "/a" }, "c1");
    stop();
    tracer.emit({ op: "mkdir", path: "/b" }, "c1");
    expect(seen).toEqual(["c1: mkdir /a @1000"]);
  });
});
