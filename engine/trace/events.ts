// Trace events: each step the engine performs, as data, and as the command a person could type to do the same by
// hand. The data lets the inspector show fields; the command is what a learner copies into a shell.

/** What was done, with the fields needed to phrase it as a command. */
export type TraceAction =
  | { op: "mkdir"; path: string }
  | { op: "rmdir"; path: string }
  | { op: "rm"; path: string; recursive: boolean }
  | { op: "write"; path: string; value: string }
  | { op: "read"; path: string }
  | {
      op: "mount";
      source: string;
      target: string;
      fstype?: string;
      options?: string;
      bind?: boolean;
      readonly?: boolean;
    }
  | { op: "umount"; target: string; lazy: boolean }
  | { op: "clone"; flags: string[] }
  | { op: "pivot_root"; root: string }
  | { op: "mknod"; path: string; type: "c" | "b" | "p"; major: number; minor: number; mode: number }
  | { op: "symlink"; target: string; path: string }
  | { op: "mask"; path: string }
  | { op: "device-filter"; cgroup: string; rules: string[] }
  | {
      op: "setpriv";
      uid: number;
      gid: number;
      groups: number[];
      /** setpriv's capability lists (`-all,+chown,…`); absent: unchanged. */
      bounding?: string;
      inheritable?: string;
      ambient?: string;
      noNewPrivs: boolean;
      /** The seccomp profile installed last (`docker-default`); absent: none. */
      seccomp?: string;
    }
  | { op: "link-up"; device: string }
  /** A networking step (`ip …`, `nsenter --net=… ip …`, `docker-proxy …`), done by drydockd through rtnetlink. */
  | { op: "net"; argv: string[]; note?: string }
  | { op: "exec"; argv: string[] }
  /** Extended attributes read (of every entry under `path` when `recursive`) or set, by drydockd's XATTRS/SETXATTR. */
  | { op: "xattrs"; action: "get" | "set"; path: string; recursive?: boolean; names?: string[] }
  /** A document of the engine's own storage (OPFS in the page, the data root in Node) written whole, read or deleted. */
  | { op: "store"; action: "write" | "read" | "remove"; name: string; bytes?: number; note?: string }
  | { op: "kill"; pid: number; signal: number }
  | { op: "wait"; pid: number; code: number; signal?: number }
  | { op: "http"; method: string; url: string; status?: number }
  /**
   * A TCP connection out of the guest: through the relay, refused (by the relay, or because it is not connected), or
   * going nowhere because no relay is configured. `name` is what the relay's resolver handed `address` out for.
   */
  | {
      op: "connect";
      address: string;
      port: number;
      name?: string;
      via: "relay" | "refused" | "no relay";
      reason?: string;
    }
  /** The WASI runtime compiled a module (or found it compiled): no guest involved. */
  | { op: "wasm-compile"; path: string; digest?: string; cached: boolean; milliseconds: number }
  /** The WASI runtime started a module in a worker of its own. */
  | { op: "wasi-start"; argv: string[]; memoryMax?: number }
  /** The WASI runtime ended a module by terminating its worker (a module takes no signals). */
  | { op: "wasi-terminate"; signal: number }
  /** A container's restart policy starts it again after `delayMs` (the engine's restart manager, not a client). */
  | { op: "restart-policy"; policy: string; exitCode: number; restart: number; delayMs: number };

/** One step, when it happened, and which container or snapshot it was for. */
export type TraceEvent = TraceAction & {
  /** Milliseconds since the epoch. */
  time: number;
  /** The container (or snapshot key) the step belongs to, when it belongs to one. */
  subject?: string;
  /** The step as a shell command or HTTP request line. */
  command: string;
};

const SIGNAL_NAMES: Record<number, string> = {
  1: "HUP",
  2: "INT",
  3: "QUIT",
  9: "KILL",
  10: "USR1",
  12: "USR2",
  15: "TERM",
  18: "CONT",
  19: "STOP",
};

/** The signal's name without `SIG`, as `kill -l` prints it; the number when it has no common name. */
export function signalName(signal: number): string {
  return SIGNAL_NAMES[signal] ?? String(signal);
}

/** Quotes a word for a POSIX shell only when it needs quoting. */
export function shellQuote(word: string): string {
  if (word !== "" && /^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'"'"'`)}'`;
}

/** Phrases an action as the command behind it. */
export function commandOf(action: TraceAction): string {
  const q = shellQuote;
  switch (action.op) {
    case "mkdir":
      return `mkdir ${q(action.path)}`;
    case "rmdir":
      return `rmdir ${q(action.path)}`;
    case "rm":
      return `rm ${action.recursive ? "-rf" : "-f"} ${q(action.path)}`;
    case "write":
      return `echo ${q(action.value)} > ${q(action.path)}`;
    case "read":
      return `cat ${q(action.path)}`;
    case "mount": {
      const options = [action.readonly ? "ro" : "", action.options ?? ""].filter(Boolean).join(",");
      const kind = action.bind ? "--bind" : `-t ${q(action.fstype ?? "none")}`;
      return `mount ${kind}${options ? ` -o ${q(options)}` : ""} ${q(action.source)} ${q(action.target)}`;
    }
    case "umount":
      return `umount ${action.lazy ? "-l " : ""}${q(action.target)}`;
    case "clone":
      return `clone(${action.flags.join("|") || "0"})`;
    case "pivot_root":
      return `pivot_root ${q(action.root)} ${q(action.root)}`;
    case "xattrs":
      return action.action === "get"
        ? `getfattr ${action.recursive ? "-R " : ""}-d -m - ${q(action.path)}`
        : `setfattr ${(action.names ?? []).map((name) => `-n ${q(name)}`).join(" ")} ${q(action.path)}`;
    case "mknod":
      return `mknod -m ${action.mode.toString(8)} ${q(action.path)} ${action.type}${action.type === "p" ? "" : ` ${action.major} ${action.minor}`}`;
    case "symlink":
      return `ln -s ${q(action.target)} ${q(action.path)}`;
    case "mask":
      return `mount --bind /dev/null ${q(action.path)} # masked (a directory: an empty read-only tmpfs)`;
    case "device-filter":
      return `bpftool cgroup attach ${q(action.cgroup)} device multi <program> # the last matching rule decides: ${action.rules.join(", ")}`;
    case "setpriv": {
      const groups = action.groups.length ? `--groups=${action.groups.join(",")}` : "--clear-groups";
      const caps = action.bounding
        ? ` --inh-caps=${action.inheritable} --ambient-caps=${action.ambient} --bounding-set=${action.bounding}`
        : "";
      const seccomp = action.seccomp
        ? ` --seccomp-filter=${action.seccomp} # other syscalls (unshare, mount, keyctl, …) fail with EPERM`
        : "";
      return `setpriv --reuid=${action.uid} --regid=${action.gid} ${groups}${caps}${action.noNewPrivs ? " --no-new-privs" : ""}${seccomp}`;
    }
    case "restart-policy":
      return `${action.delayMs ? `sleep ${action.delayMs / 1000} && ` : ""}docker start # restart policy ${action.policy}: exit code ${action.exitCode}, restart ${action.restart}`;
    case "link-up":
      return `ip link set ${q(action.device)} up`;
    case "net":
      return `${action.argv.map(q).join(" ")}${action.note ? ` # ${action.note}` : ""}`;
    case "exec":
      return `exec ${action.argv.map(q).join(" ")}`;
    case "store": {
      const size = action.bytes !== undefined ? `${action.bytes} bytes` : "";
      const comment = [size, action.note ?? ""].filter(Boolean).join(", ");
      return `store ${action.action} ${q(action.name)}${comment ? ` # ${comment}` : ""}`;
    }
    case "kill":
      return `kill -${signalName(action.signal)} ${action.pid}`;
    case "wait":
      return `wait ${action.pid} # exit ${action.code}${action.signal ? ` (SIG${signalName(action.signal)})` : ""}`;
    case "http":
      return `${action.method} ${action.url}${action.status ? ` → ${action.status}` : ""}`;
    case "connect": {
      const where = `${action.name ?? action.address}:${action.port}`;
      if (action.via === "relay") return `connect ${where} (via relay${action.name ? `, ${action.address}` : ""})`;
      const why =
        action.via === "refused" ? `refused: ${action.reason ?? "by the relay"}` : (action.reason ?? "no relay");
      return `connect ${where} # ${why}`;
    }
    case "wasm-compile":
      return `WebAssembly.compile(${q(action.path)}) # ${action.cached ? "cached" : `${action.milliseconds} ms`}${action.digest ? ` ${action.digest.slice(0, 19)}` : ""}`;
    case "wasi-start":
      return `new WASI([${action.argv.map((arg) => JSON.stringify(arg)).join(", ")}]).start(instance) # WASI runtime, own worker${action.memoryMax ? `, memory max ${action.memoryMax} bytes` : ""}`;
    case "wasi-terminate":
      return `worker.terminate() # SIG${signalName(action.signal)}: a WASI module takes no signals`;
  }
}
