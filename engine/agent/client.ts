// The engine's side of the agent protocol: one AgentClient per guest, over the guest's virtio console.
import { EngineError, type ErrorKind } from "../errors.ts";
import type { ByteChannel } from "../vm/machine.ts";
import {
  AGENT_STREAM_BIT,
  Channel,
  CloneFlag,
  encodeFrame,
  Field,
  Fields,
  type Frame,
  FrameDecoder,
  FsOp,
  LINK_MAX_UNACKED_SENDS,
  LINK_SEND_SIZE,
  MAX_PAYLOAD,
  Msg,
  NetOp,
  ParsedFields,
  PROTOCOL_VERSION,
} from "./protocol.ts";
import { IncomingStream, OutgoingStream } from "./streams.ts";

export interface AgentHello {
  version: number;
  kernel: string;
  features: string[];
  bootId: string;
}

export type Namespace = keyof typeof CloneFlag;

export interface MountSpec {
  source: string;
  /** Inside `root` when a root is given. */
  target: string;
  fstype?: string;
  options?: string;
  /** `MS_*` flags. */
  flags?: number;
}

export interface SpawnOptions {
  /** argv; `argv[0]` is looked up in the PATH of `env`. */
  argv: string[];
  env?: string[];
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Run on a new pty of this size; otherwise stdin, stdout and stderr are pipes. */
  pty?: { rows: number; cols: number };
  namespaces?: Namespace[];
  /** A cgroup directory (`/sys/fs/cgroup/...`) the process joins before exec. */
  cgroup?: string;
  mounts?: MountSpec[];
  /** A directory to `pivot_root` into, after the mounts. */
  root?: string;
  hostname?: string;
  /** Bring `lo` up before exec (a new network namespace starts with it down). */
  loopback?: boolean;
  /** Supplementary groups set with the gid (none when absent). */
  groups?: number[];
  /**
   * The capability sets the process execs with, as bit masks (bit n = capability n). Without them it keeps root's
   * full set (the engine's own helpers).
   */
  capabilities?: CapabilitySets;
  /** `PR_SET_NO_NEW_PRIVS`: no exec may gain privileges (setuid bits and file capabilities are ignored). */
  noNewPrivileges?: boolean;
  /**
   * Install Docker's default seccomp profile (drydockd holds it), as moby computes it for a container whose bounding
   * set is this mask: CAP_SYS_ADMIN unlocks mount/unshare/setns, CAP_SYS_PTRACE kcmp, … Absent: no filter.
   */
  seccomp?: bigint;
  /** Device nodes made after the mounts (paths inside `root`). */
  devices?: DeviceNode[];
  /** Paths inside `root` covered after the mounts: a directory by an empty read-only tmpfs, a file by /dev/null. */
  masks?: string[];
  /** Paths inside `root` made read-only after the mounts ("/" is the root itself). */
  readonly?: string[];
  /** Symbolic links made after the devices (`path` inside `root`). */
  symlinks?: { target: string; path: string }[];
  /**
   * exec in a running container: join the cgroup, the namespaces and the root of this process (a guest pid) instead
   * of making new ones; `namespaces`, `mounts` and `root` are ignored.
   */
  enter?: number;
  /**
   * Join the network namespace held at this guest path (a sandbox made by `createNetns`) instead of making a new
   * one; "net" in `namespaces` is then ignored.
   */
  netns?: string;
}

/** A veth pair: `name` on `bridge` in the guest, `peer` born in the namespace at `netns` with its address. */
export interface VethSpec {
  name: string;
  bridge: string;
  netns: string;
  peer: string;
  /** The peer's address, `a.b.c.d/len`. */
  cidr: string;
  /** The peer's MAC, `02:42:ac:11:00:02`. */
  mac: string;
  /** The peer's default route goes through this address. */
  gateway?: string;
  /** Both ends' MTU (1450 on an overlay network, room for VXLAN's 50 bytes); the kernel's 1500 when absent. */
  mtu?: number;
}

/** A VXLAN device on a bridge: a swarm overlay network's tunnel end on one node. */
export interface VxlanSpec {
  name: string;
  /** The VXLAN network identifier (1–16777215). */
  vni: number;
  /** The node's own (underlay) address the tunnel's packets leave from. */
  local: string;
  bridge: string;
  mtu?: number;
}

/** A port the agent listens on in the guest and forwards to `target` (the userland proxy). */
export interface ProxiedPort {
  proto: "tcp" | "udp";
  /** An IPv4 address of the guest ("0.0.0.0": all). */
  address: string;
  port: number;
}

export interface CapabilitySets {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

export interface DeviceNode {
  type: "c" | "b" | "p";
  path: string;
  major: number;
  minor: number;
  /** Permission bits. */
  mode: number;
  uid: number;
  gid: number;
}

export interface ExitStatus {
  /** The exit code; 128 + the signal number when a signal killed the process, as a shell reports it. */
  code: number;
  /** The signal that killed the process, if one did. */
  signal?: number;
}

export interface FileStat {
  mode: number;
  size: number;
  mtime: number;
  uid: number;
  gid: number;
  isDirectory: boolean;
  isFile: boolean;
  isSymlink: boolean;
  /** A device node's number. */
  rdev?: { major: number; minor: number };
}

export interface DirEntry {
  name: string;
  mode: number;
}

/** A process running in the guest. */
export interface GuestProcess {
  /** Its pid in the guest's root pid namespace. */
  readonly pid: number;
  /** stdout, or everything the terminal shows when on a pty. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** stderr; empty when on a pty. */
  readonly stderr: ReadableStream<Uint8Array>;
  readonly stdin: WritableStream<Uint8Array>;
  /** Resolves when the process has exited and its output has been delivered. */
  readonly exit: Promise<ExitStatus>;
  resize(rows: number, cols: number): void;
  kill(signal?: number): void;
}

/** A client connection accepted on a unix socket the agent listens on in the guest. */
export interface GuestConnection {
  readonly path: string;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  close(): void;
}

/** A terminal size as PTY and RESIZE carry it: u16 rows, u16 cols. */
function ptySize({ rows, cols }: { rows: number; cols: number }): Uint8Array {
  const size = new Uint8Array(4);
  new DataView(size.buffer).setUint16(0, rows, true);
  new DataView(size.buffer).setUint16(2, cols, true);
  return size;
}

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
}

interface StreamState {
  stdout: IncomingStream;
  stderr?: IncomingStream;
  input: OutgoingStream;
  onExit?: (status: ExitStatus) => void;
  onFail: (error: Error) => void;
}

const ERRNO_KINDS: Record<number, ErrorKind> = {
  1: "unauthorized", // EPERM
  2: "notFound", // ENOENT
  3: "notFound", // ESRCH
  13: "unauthorized", // EACCES
  16: "conflict", // EBUSY
  17: "alreadyExists", // EEXIST
  20: "invalidArgument", // ENOTDIR
  21: "invalidArgument", // EISDIR
  22: "invalidArgument", // EINVAL
  28: "unavailable", // ENOSPC
  39: "conflict", // ENOTEMPTY
  19: "notFound", // ENODEV
  71: "invalidArgument", // EPROTO
  90: "invalidArgument", // EMSGSIZE
  98: "conflict", // EADDRINUSE
  99: "invalidArgument", // EADDRNOTAVAIL
  101: "unavailable", // ENETUNREACH
  110: "unavailable", // ETIMEDOUT
  111: "unavailable", // ECONNREFUSED
  113: "unavailable", // EHOSTUNREACH
};

export interface ConnectOptions {
  /** How long to wait for the agent's HELLO. */
  timeoutMs?: number;
  /** The guest console's last lines, quoted when the agent does not answer or goes away. */
  consoleTail?: () => string[];
  /** Override the clock given to the guest (tests). */
  now?: () => number;
  /**
   * Wait for the HELLO drydockd sends when it starts before saying anything (a cold boot). A restored guest's
   * drydockd is already running, so the engine speaks first.
   */
  awaitStart?: boolean;
  /**
   * Called right after the SYNC is sent, before its HELLO: requests made here travel with it (drydockd handles frames
   * in order), saving a round trip. A restored guest only (a cold boot's drydockd is not listening yet).
   */
  afterSync?: (client: AgentClient) => void;
}

/**
 * The agent link. Connect it to a booted or restored guest; it gives the guest the current time and fresh entropy,
 * then spawns processes, runs filesystem requests and accepts forwarded connections.
 * @example
 * const agent = await AgentClient.connect(machine.agentLink, { consoleTail: () => machine.consoleTail() });
 * const proc = await agent.spawn({ argv: ["uname", "-a"] });
 */
export class AgentClient {
  hello!: AgentHello;
  readonly #link: ByteChannel;
  readonly #decoder = new FrameDecoder();
  readonly #unsubscribe: () => void;
  readonly #consoleTail: () => string[];
  #queue: Uint8Array[] = [];
  #queued = 0;
  #unacked: number[] = [];
  #acked = 0;
  #nextStream = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #streams = new Map<number, StreamState>();
  readonly #listeners = new Map<string, (connection: GuestConnection) => void>();
  readonly #dnsServers = new Map<number, (query: Uint8Array) => Promise<Uint8Array>>();
  #started: (() => void) | undefined;
  #connected = false;
  #failure: Error | undefined;
  readonly #failureListeners = new Set<(error: Error) => void>();

  private constructor(link: ByteChannel, consoleTail: () => string[]) {
    this.#link = link;
    this.#consoleTail = consoleTail;
    this.#unsubscribe = link.onData((bytes) => this.#receive(bytes));
  }

  static async connect(link: ByteChannel, options: ConnectOptions = {}): Promise<AgentClient> {
    const client = new AgentClient(link, options.consoleTail ?? (() => []));
    const timeoutMs = options.timeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(client.#withConsole(`drydockd did not answer within ${timeoutMs} ms`, "unavailable")),
        timeoutMs,
      );
    });
    try {
      if (options.awaitStart) {
        await Promise.race([new Promise<void>((resolve) => (client.#started = resolve)), deadline]);
      }
      const entropy = new Uint8Array(64);
      crypto.getRandomValues(entropy);
      const sync = new Fields()
        .u32(Field.VERSION, PROTOCOL_VERSION)
        .u64(Field.TIME, Math.round((options.now ?? Date.now)()))
        .bytes(Field.ENTROPY, entropy)
        .finish();
      const syncing = client.#request(Msg.SYNC, sync);
      options.afterSync?.(client);
      const frame = await Promise.race([syncing, deadline]);
      client.hello = parseHello(frame.payload);
      if (client.hello.version !== PROTOCOL_VERSION) {
        throw new EngineError(
          "invalidArgument",
          `drydockd speaks agent protocol ${client.hello.version}, the engine ${PROTOCOL_VERSION}: rebuild the guest with \`npm run build:vm\``,
        );
      }
    } catch (error) {
      client.dispose();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  #withConsole(message: string, kind: ErrorKind): EngineError {
    const tail = this.#consoleTail();
    const quoted = tail.length ? `; the guest console ended with:\n${tail.join("\n")}` : "";
    return new EngineError(kind, `${message}${quoted}`);
  }

  // ---- link ---------------------------------------------------------------------------------------------------

  #send(type: number, stream: number, payload?: Uint8Array): void {
    if (this.#failure) throw this.#failure;
    const frame = encodeFrame(type, stream, payload);
    this.#queue.push(frame);
    this.#queued += frame.length;
    this.#pump();
  }

  /** Sends queued bytes in page-sized pieces, never more pieces in flight than the guest has buffers posted. */
  #pump(): void {
    while (this.#queued > 0 && this.#unacked.length < LINK_MAX_UNACKED_SENDS) {
      const size = Math.min(LINK_SEND_SIZE, this.#queued);
      const chunk = new Uint8Array(size);
      let filled = 0;
      while (filled < size) {
        const head = this.#queue[0]!;
        const take = Math.min(head.length, size - filled);
        chunk.set(head.subarray(0, take), filled);
        filled += take;
        if (take === head.length) this.#queue.shift();
        else this.#queue[0] = head.subarray(take);
      }
      this.#queued -= size;
      this.#unacked.push(size);
      this.#link.write(chunk);
    }
  }

  #receive(bytes: Uint8Array): void {
    let frames: Frame[];
    try {
      frames = this.#decoder.push(bytes);
    } catch (error) {
      this.#fail(this.#withConsole((error as Error).message, "dataLoss"));
      return;
    }
    for (const frame of frames) this.#dispatch(frame);
  }

  #dispatch(frame: Frame): void {
    const { type, stream, payload } = frame;
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    switch (type) {
      case Msg.ACK: {
        this.#acked += view.getUint32(0, true);
        while (this.#unacked.length && this.#unacked[0]! <= this.#acked) this.#acked -= this.#unacked.shift()!;
        this.#pump();
        return;
      }
      case Msg.HELLO: {
        if (stream !== 0) {
          this.#connected = true;
          this.#pending.get(stream)?.resolve(frame);
          this.#pending.delete(stream);
        } else if (this.#connected) {
          // drydockd announced itself again: it was restarted, and whatever it was doing for us is gone.
          this.#fail(this.#withConsole("drydockd restarted in the guest", "unavailable"));
        } else {
          this.#started?.();
        }
        return;
      }
      case Msg.ERROR: {
        const fields = new ParsedFields(payload);
        const errno = fields.u32(Field.ERRNO) ?? 0;
        const error = new EngineError(ERRNO_KINDS[errno] ?? "internal", fields.string(Field.MESSAGE) ?? "agent error");
        const pending = this.#pending.get(stream);
        if (pending) {
          this.#pending.delete(stream);
          pending.reject(error);
        } else {
          this.#streams.get(stream)?.onFail(error);
        }
        return;
      }
      case Msg.OK:
      case Msg.PONG:
      case Msg.FS_REPLY:
      case Msg.SPAWNED: {
        const pending = this.#pending.get(stream);
        this.#pending.delete(stream);
        pending?.resolve(frame);
        return;
      }
      case Msg.STDOUT:
      case Msg.STDERR: {
        const state = this.#streams.get(stream);
        const target = type === Msg.STDOUT ? state?.stdout : state?.stderr;
        if (payload.length === 0) target?.end();
        else target?.push(payload);
        return;
      }
      case Msg.CREDIT: {
        if (payload[0] === Channel.INPUT) this.#streams.get(stream)?.input.addCredit(view.getUint32(1, true));
        return;
      }
      case Msg.EXIT: {
        const state = this.#streams.get(stream);
        this.#streams.delete(stream);
        const value = view.getUint32(1, true);
        state?.onExit?.(payload[0] === 1 ? { code: 128 + value, signal: value } : { code: value });
        return;
      }
      case Msg.CONNECT: {
        this.#accept(stream, new ParsedFields(payload).string(Field.PATH) ?? "");
        return;
      }
      case Msg.DNS_QUERY: {
        const answer = this.#dnsServers.get(stream);
        if (answer && payload.length > 4) this.#answerDns(stream, payload, answer);
        return;
      }
      case Msg.CLOSE: {
        this.#dnsServers.delete(stream);
        const state = this.#streams.get(stream);
        this.#streams.delete(stream);
        state?.stdout.end();
        state?.input.fail(new EngineError("unavailable", "the connection was closed"));
        return;
      }
    }
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    for (const listener of [...this.#failureListeners]) listener(error);
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    for (const state of this.#streams.values()) state.onFail(error);
    this.#streams.clear();
  }

  #request(type: number, payload: Uint8Array): Promise<Frame> {
    const stream = this.#allocateStream();
    return new Promise<Frame>((resolve, reject) => {
      this.#pending.set(stream, { resolve, reject });
      try {
        this.#send(type, stream, payload);
      } catch (error) {
        this.#pending.delete(stream);
        reject(error);
      }
    });
  }

  #allocateStream(): number {
    const id = this.#nextStream;
    this.#nextStream = this.#nextStream + 1 >= AGENT_STREAM_BIT ? 1 : this.#nextStream + 1;
    return id;
  }

  #streamState(id: number, withStderr: boolean): StreamState {
    const grant = (channel: number, bytes: number) => {
      const credit = new Uint8Array(5);
      credit[0] = channel;
      new DataView(credit.buffer).setUint32(1, bytes, true);
      if (!this.#failure) this.#send(Msg.CREDIT, id, credit);
    };
    const state: StreamState = {
      stdout: new IncomingStream(Channel.STDOUT, grant),
      input: new OutgoingStream((bytes) => this.#send(Msg.INPUT, id, bytes)),
      onFail: (error) => {
        state.stdout.fail(error);
        state.stderr?.fail(error);
        state.input.fail(error);
      },
    };
    if (withStderr) state.stderr = new IncomingStream(Channel.STDERR, grant);
    return state;
  }

  // ---- processes ------------------------------------------------------------------------------------------------

  /**
   * Starts a process in the guest.
   * @example
   * const proc = await agent.spawn({ argv: ["sh", "-c", "echo hi"], env: ["PATH=/bin"] });
   * const text = await new Response(proc.stdout).text();
   * const { code } = await proc.exit;
   */
  async spawn(options: SpawnOptions): Promise<GuestProcess> {
    return this.#start(Msg.SPAWN, this.#spawnFields(options).finish(), !options.pty);
  }

  /**
   * Starts a process and parks it under `key` (a saved state's shell, ready before anyone asks): drydockd reads
   * nothing of its output until `adopt(key)`. Resolves with its pid once it has written something (a shell: its
   * prompt, after which it waits for input).
   * @example
   * await agent.park("login", { argv: ["sh", "-l"], pty: { rows: 24, cols: 80 } });
   */
  async park(key: string, options: SpawnOptions): Promise<number> {
    const fields = this.#spawnFields(options).string(Field.PARK, key);
    const payload = fields.finish();
    const id = this.#allocateStream();
    let pid = 0;
    await new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        resolve: (frame) => {
          if (frame.type === Msg.SPAWNED) {
            pid = new ParsedFields(frame.payload).u32(Field.PID) ?? 0;
            this.#pending.set(id, pending);
          } else {
            resolve();
          }
        },
        reject,
      };
      this.#pending.set(id, pending);
      try {
        this.#send(Msg.SPAWN, id, payload);
      } catch (error) {
        this.#pending.delete(id);
        reject(error);
      }
    });
    return pid;
  }

  /**
   * Takes over the process parked under `key` (see `park`), as if spawned now: its output from its first byte, its
   * input, its exit. With `pty` its terminal takes that size (a parked pty process has no stderr). Fails with
   * notFound when nothing is parked under that key.
   * @example
   * const shell = await agent.adopt("login", { pty: { rows: 40, cols: 120 } });
   */
  async adopt(key: string, options: { pty?: { rows: number; cols: number } } = {}): Promise<GuestProcess> {
    const fields = new Fields().string(Field.PARK, key);
    if (options.pty) fields.bytes(Field.PTY, ptySize(options.pty));
    return this.#start(Msg.ADOPT, fields.finish(), !options.pty);
  }

  #spawnFields(options: SpawnOptions): Fields {
    if (!options.argv.length) throw new EngineError("invalidArgument", "spawn needs a command");
    const fields = new Fields();
    for (const arg of options.argv) fields.string(Field.ARG, arg);
    for (const entry of options.env ?? ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]) {
      fields.string(Field.ENV, entry);
    }
    if (options.cwd) fields.string(Field.CWD, options.cwd);
    if (options.uid !== undefined) fields.u32(Field.UID, options.uid);
    if (options.gid !== undefined) fields.u32(Field.GID, options.gid);
    if (options.pty) fields.bytes(Field.PTY, ptySize(options.pty));
    const clone = (options.namespaces ?? []).reduce((flags, ns) => flags | CloneFlag[ns], 0);
    if (clone) fields.u32(Field.CLONE, clone);
    if (options.cgroup) fields.string(Field.CGROUP, options.cgroup);
    for (const mount of options.mounts ?? []) {
      const text = new TextEncoder().encode(
        [mount.source, mount.target, mount.fstype ?? "", mount.options ?? ""].join("\0"),
      );
      const value = new Uint8Array(4 + text.length);
      new DataView(value.buffer).setUint32(0, mount.flags ?? 0, true);
      value.set(text, 4);
      fields.bytes(Field.MOUNT, value);
    }
    if (options.root) fields.string(Field.ROOT, options.root);
    if (options.hostname) fields.string(Field.HOSTNAME, options.hostname);
    if (options.loopback) fields.u8(Field.LOOPBACK, 1);
    if (options.groups?.length) {
      const groups = new Uint8Array(4 * options.groups.length);
      for (const [i, gid] of options.groups.entries()) new DataView(groups.buffer).setUint32(4 * i, gid, true);
      fields.bytes(Field.GROUPS, groups);
    }
    if (options.capabilities) {
      const { bounding, effective, permitted, inheritable, ambient } = options.capabilities;
      const sets = new Uint8Array(40);
      const view = new DataView(sets.buffer);
      for (const [i, set] of [bounding, effective, permitted, inheritable, ambient].entries()) {
        view.setBigUint64(8 * i, set, true);
      }
      fields.bytes(Field.CAPS, sets);
    }
    if (options.noNewPrivileges) fields.u8(Field.NO_NEW_PRIVS, 1);
    if (options.seccomp !== undefined) fields.u64(Field.SECCOMP, options.seccomp);
    for (const device of options.devices ?? []) {
      const path = new TextEncoder().encode(device.path);
      const value = new Uint8Array(21 + path.length);
      const view = new DataView(value.buffer);
      value[0] = device.type.charCodeAt(0);
      for (const [i, n] of [device.major, device.minor, device.mode, device.uid, device.gid].entries()) {
        view.setUint32(1 + 4 * i, n, true);
      }
      value.set(path, 21);
      fields.bytes(Field.DEVICE, value);
    }
    for (const path of options.masks ?? []) fields.string(Field.MASK, path);
    for (const path of options.readonly ?? []) fields.string(Field.READONLY, path);
    for (const link of options.symlinks ?? []) fields.string(Field.SYMLINK, `${link.target}\0${link.path}`);
    if (options.enter !== undefined) fields.u32(Field.ENTER, options.enter);
    if (options.netns) fields.string(Field.NETNS, options.netns);
    return fields;
  }

  /** Sends SPAWN or ADOPT and wires the stream of the process it names. */
  async #start(type: number, payload: Uint8Array, withStderr: boolean): Promise<GuestProcess> {
    if (payload.length > MAX_PAYLOAD) {
      throw new EngineError(
        "invalidArgument",
        `the command line and environment are too long (${payload.length} bytes)`,
      );
    }
    const id = this.#allocateStream();
    const state = this.#streamState(id, withStderr);
    let resolveExit!: (status: ExitStatus) => void;
    let rejectExit!: (error: Error) => void;
    const exit = new Promise<ExitStatus>((resolve, reject) => {
      resolveExit = resolve;
      rejectExit = reject;
    });
    // Nobody may await exit when spawn fails; keep that rejection from being reported as unhandled.
    exit.catch(() => {});
    state.onExit = resolveExit;
    const fail = state.onFail;
    state.onFail = (error) => {
      fail(error);
      rejectExit(error);
    };
    this.#streams.set(id, state);
    let spawned: Frame;
    try {
      spawned = await new Promise<Frame>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject });
        this.#send(type, id, payload);
      });
    } catch (error) {
      this.#streams.delete(id);
      this.#pending.delete(id);
      throw error;
    }
    const pid = new ParsedFields(spawned.payload).u32(Field.PID) ?? 0;
    const emptyStderr = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    return {
      pid,
      stdout: state.stdout.readable,
      stderr: state.stderr?.readable ?? emptyStderr,
      stdin: state.input.writable,
      exit,
      resize: (rows, cols) => {
        if (this.#streams.has(id)) this.#send(Msg.RESIZE, id, ptySize({ rows, cols }));
      },
      kill: (signal = 15) => {
        const value = new Uint8Array(4);
        new DataView(value.buffer).setUint32(0, signal, true);
        if (this.#streams.has(id)) this.#send(Msg.SIGNAL, id, value);
      },
    };
  }

  /**
   * Runs a command to completion and collects its output as text.
   * @example
   * const { stdout, code } = await agent.run(["cat", "/etc/hostname"]);
   */
  async run(
    argv: string[],
    options: Omit<SpawnOptions, "argv" | "pty"> & { input?: Uint8Array | string } = {},
  ): Promise<{ stdout: string; stderr: string; code: number; signal?: number }> {
    const { input, ...spawnOptions } = options;
    const proc = await this.spawn({ ...spawnOptions, argv });
    const writer = proc.stdin.getWriter();
    const feeding = (async () => {
      if (input !== undefined) await writer.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
      await writer.close();
    })();
    const [stdout, stderr, status] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exit,
      feeding,
    ]);
    return { stdout, stderr, ...status };
  }

  // ---- filesystem -----------------------------------------------------------------------------------------------

  async #fs(fields: Fields): Promise<ParsedFields> {
    return new ParsedFields((await this.#request(Msg.FS, fields.finish())).payload);
  }

  async stat(path: string): Promise<FileStat> {
    const reply = await this.#fs(new Fields().u8(Field.OP, FsOp.STAT).string(Field.PATH, path));
    const mode = reply.u32(Field.MODE) ?? 0;
    const type = mode & 0o170000;
    const rdev = reply.bytes(Field.RDEV);
    return {
      ...(rdev?.length === 8
        ? {
            rdev: {
              major: new DataView(rdev.buffer, rdev.byteOffset, 8).getUint32(0, true),
              minor: new DataView(rdev.buffer, rdev.byteOffset, 8).getUint32(4, true),
            },
          }
        : {}),
      mode,
      size: reply.u64(Field.SIZE) ?? 0,
      mtime: reply.u64(Field.MTIME) ?? 0,
      uid: reply.u32(Field.UID) ?? 0,
      gid: reply.u32(Field.GID) ?? 0,
      isDirectory: type === 0o040000,
      isFile: type === 0o100000,
      isSymlink: type === 0o120000,
    };
  }

  async readFile(path: string): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (;;) {
      const reply = await this.#fs(
        new Fields()
          .u8(Field.OP, FsOp.READ)
          .string(Field.PATH, path)
          .u64(Field.OFFSET, offset)
          .u32(Field.LENGTH, 32000),
      );
      const data = reply.bytes(Field.DATA) ?? new Uint8Array(0);
      if (data.length === 0) break;
      parts.push(data.slice());
      offset += data.length;
    }
    const out = new Uint8Array(offset);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  async writeFile(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const chunk = 32000;
    for (let offset = 0; offset === 0 || offset < bytes.length; offset += chunk) {
      await this.#request(
        Msg.FS,
        new Fields()
          .u8(Field.OP, FsOp.WRITE)
          .string(Field.PATH, path)
          .u64(Field.OFFSET, offset)
          .bytes(Field.DATA, bytes.subarray(offset, offset + chunk))
          .u32(Field.MODE, mode)
          .u32(Field.FLAGS, offset === 0 ? 1 | 2 : 0)
          .finish(),
      );
    }
  }

  async mkdir(path: string, options: { parents?: boolean; mode?: number } = {}): Promise<void> {
    await this.#fs(
      new Fields()
        .u8(Field.OP, FsOp.MKDIR)
        .string(Field.PATH, path)
        .u32(Field.MODE, options.mode ?? 0o755)
        .u32(Field.FLAGS, options.parents ? 1 : 0),
    );
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const entries: DirEntry[] = [];
    for (;;) {
      const reply = await this.#fs(
        new Fields().u8(Field.OP, FsOp.READDIR).string(Field.PATH, path).u64(Field.OFFSET, entries.length),
      );
      for (const value of reply.all(Field.DIRENT)) {
        entries.push({
          mode: new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true),
          name: new TextDecoder().decode(value.subarray(4)),
        });
      }
      if (!reply.bytes(Field.MORE)) return entries;
    }
  }

  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.#fs(
      new Fields()
        .u8(Field.OP, FsOp.REMOVE)
        .string(Field.PATH, path)
        .u32(Field.FLAGS, options.recursive ? 1 : 0),
    );
  }

  /**
   * Mounts `source` on `target`. With `root`, `target` is a path of the container whose root that is, looked up
   * inside it as `resolve` does, so the image's symlinks cannot send the mount outside the container.
   * @example
   * await agent.mount("/run/drydock/volumes/data", "/data", "", "", MS_BIND, "/run/drydock/containers/abc/rootfs");
   */
  async mount(source: string, target: string, fstype: string, options = "", flags = 0, root?: string): Promise<void> {
    const fields = new Fields()
      .u8(Field.OP, FsOp.MOUNT)
      .string(Field.PATH, source)
      .string(Field.TARGET, target)
      .string(Field.FSTYPE, fstype)
      .string(Field.DATA, options)
      .u32(Field.FLAGS, flags);
    if (root !== undefined) fields.string(Field.ROOT, root);
    await this.#fs(fields);
  }

  /**
   * Where a container's path is in the guest: looked up inside its root as the container will see it (the root's
   * symlinks followed there, an absolute one from the root, `..` stopping at it: runc's securejoin). Nothing is made.
   * @example
   * await agent.resolve("/run/drydock/containers/abc/rootfs", "/var/run/x"); // ".../rootfs/run/x" if var/run → ../run
   */
  async resolve(root: string, path: string): Promise<string> {
    const reply = await this.#fs(
      new Fields().u8(Field.OP, FsOp.RESOLVE).string(Field.PATH, path).string(Field.ROOT, root),
    );
    const resolved = reply.string(Field.PATH);
    if (resolved === undefined) throw new EngineError("internal", `drydockd did not say where ${path} is in ${root}`);
    return resolved;
  }

  /**
   * The extended attributes of one guest path (not followed if a symlink), by name.
   * @example
   * await agent.xattrs("/run/drydock/snapshots/4/fs/etc"); // Map { "trusted.overlay.opaque" => Uint8Array [121] }
   */
  async xattrs(path: string): Promise<Map<string, Uint8Array>> {
    const reply = await this.#fs(new Fields().u8(Field.OP, FsOp.XATTRS).string(Field.PATH, path));
    return xattrMap(reply.all(Field.XATTR));
  }

  /**
   * The extended attributes of every entry under a guest directory that has any, by path relative to it (`.` for
   * the directory itself). Symlinks are not followed; one request usually answers the whole tree.
   * @example
   * await agent.xattrTree("/run/drydock/snapshots/4/fs"); // Map { "usr/bin/ping" => Map { "security.capability" => … } }
   */
  async xattrTree(root: string): Promise<Map<string, Map<string, Uint8Array>>> {
    const tree = new Map<string, Map<string, Uint8Array>>();
    let offset = 0;
    for (;;) {
      const reply = await this.#fs(
        new Fields().u8(Field.OP, FsOp.XATTRS).string(Field.PATH, root).u32(Field.FLAGS, 1).u64(Field.OFFSET, offset),
      );
      let current: Map<string, Uint8Array> | undefined;
      for (const { tag, value } of reply.ordered()) {
        if (tag === Field.PATH) {
          current = new Map();
          tree.set(new TextDecoder().decode(value), current);
        } else if (tag === Field.XATTR && current) {
          const [name, bytes] = splitXattr(value);
          current.set(name, bytes);
        }
      }
      const next = reply.u64(Field.OFFSET);
      if (!reply.bytes(Field.MORE) || next === undefined || next <= offset) return tree;
      offset = next;
    }
  }

  /**
   * Sets extended attributes of one guest path (not followed if a symlink), each replacing any of the same name.
   * @example
   * await agent.setXattrs(`${upper}/etc`, new Map([["trusted.overlay.opaque", new TextEncoder().encode("y")]]));
   */
  async setXattrs(path: string, xattrs: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const names = [...xattrs.keys()];
    // A request holds up to 64 of them.
    for (let at = 0; at === 0 || at < names.length; at += 64) {
      const fields = new Fields().u8(Field.OP, FsOp.SETXATTR).string(Field.PATH, path);
      for (const name of names.slice(at, at + 64)) {
        const nameBytes = new TextEncoder().encode(name);
        const value = xattrs.get(name)!;
        const field = new Uint8Array(nameBytes.length + 1 + value.length);
        field.set(nameBytes);
        field.set(value, nameBytes.length + 1);
        fields.bytes(Field.XATTR, field);
      }
      await this.#fs(fields);
    }
  }

  async umount(target: string, flags = 0): Promise<void> {
    await this.#fs(new Fields().u8(Field.OP, FsOp.UMOUNT).string(Field.TARGET, target).u32(Field.FLAGS, flags));
  }

  /**
   * Loads a `BPF_PROG_TYPE_CGROUP_DEVICE` program (its instructions, 8 bytes each) and attaches it to a cgroup
   * directory: from then on every device open and mknod in that cgroup asks it.
   * @example
   * await agent.attachDeviceFilter("/sys/fs/cgroup/drydock/abc", deviceProgram(DEFAULT_DEVICE_RULES));
   */
  async attachDeviceFilter(cgroup: string, program: Uint8Array): Promise<void> {
    await this.#request(Msg.DEVICE_FILTER, new Fields().string(Field.PATH, cgroup).bytes(Field.DATA, program).finish());
  }

  // ---- forwarded unix sockets -----------------------------------------------------------------------------------

  /**
   * Listens on a unix socket in the guest; each client that connects there reaches `onConnection`.
   * @example
   * await agent.listen("/var/run/docker.sock", (conn) => conn.readable.pipeTo(conn.writable));
   */
  async listen(path: string, onConnection: (connection: GuestConnection) => void): Promise<void> {
    this.#listeners.set(path, onConnection);
    try {
      await this.#request(Msg.LISTEN, new Fields().string(Field.PATH, path).finish());
    } catch (error) {
      this.#listeners.delete(path);
      throw error;
    }
  }

  #accept(id: number, path: string): void {
    const handler = this.#listeners.get(path);
    if (!handler) {
      this.#send(Msg.CLOSE, id);
      return;
    }
    const state = this.#streamState(id, false);
    this.#streams.set(id, state);
    handler({
      path,
      readable: state.stdout.readable,
      writable: state.input.writable,
      close: () => {
        if (!this.#streams.delete(id)) return;
        state.stdout.end();
        this.#send(Msg.CLOSE, id);
      },
    });
  }

  // ---- networking ---------------------------------------------------------------------------------------------

  async #net(op: number, fields: Fields): Promise<void> {
    await this.#request(Msg.NET, fields.u8(Field.OP, op).finish());
  }

  /**
   * `ip link add NAME type bridge; ip addr add CIDR dev NAME; ip link set NAME up`, each step skipped when done.
   * @example
   * await agent.createBridge("docker0", "172.17.0.1/16");
   */
  async createBridge(name: string, cidr: string | readonly string[]): Promise<void> {
    const fields = new Fields().string(Field.IFNAME, name);
    // Several addresses (an overlay's bridge: the node's own first, the primary, then the network's gateway).
    for (const address of typeof cidr === "string" ? [cidr] : cidr) fields.string(Field.ADDRESS, address);
    await this.#net(NetOp.BRIDGE_ADD, fields);
  }

  /**
   * `ip link add NAME type vxlan id VNI local LOCAL dstport 4789 learning; ip link set NAME master BRIDGE up`.
   * @example
   * await agent.createVxlan({ name: "vxlan4097", vni: 4097, local: "192.168.86.101", bridge: "br-3f2a1b4c5d6e", mtu: 1450 });
   */
  async createVxlan(spec: VxlanSpec): Promise<void> {
    if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > 0xffffff) {
      throw new EngineError("invalidArgument", `VXLAN id ${spec.vni} is out of range (1-16777215)`);
    }
    const fields = new Fields()
      .string(Field.IFNAME, spec.name)
      .u32(Field.VNI, spec.vni)
      .string(Field.ADDRESS, spec.local)
      .string(Field.MASTER, spec.bridge);
    if (spec.mtu) fields.u32(Field.MTU, spec.mtu);
    await this.#net(NetOp.VXLAN_ADD, fields);
  }

  /**
   * `bridge fdb append|del 00:00:00:00:00:00 dev NAME dst REMOTE`: the flood entry that sends broadcast and unknown
   * unicast frames of the VXLAN device `name` to the node at `remote`. Adding one that is there is no error; deleting
   * one that is not is notFound.
   * @example
   * await agent.floodEntry("vxlan4097", "192.168.86.102", true);
   */
  async floodEntry(name: string, remote: string, add: boolean): Promise<void> {
    await this.#net(
      add ? NetOp.FDB_ADD : NetOp.FDB_DEL,
      new Fields().string(Field.IFNAME, name).string(Field.ADDRESS, remote),
    );
  }

  /**
   * `ip link del NAME` (inside the namespace at `netns` when given); a missing link is a notFound error.
   * @example
   * await agent.deleteLink("br-3f2a1b4c5d6e");
   */
  async deleteLink(name: string, netns?: string): Promise<void> {
    const fields = new Fields().string(Field.IFNAME, name);
    if (netns) fields.string(Field.NETNS, netns);
    await this.#net(NetOp.LINK_DEL, fields);
  }

  /**
   * A new network namespace bound at `path` (as `ip netns add` binds at /run/netns/NAME), with `lo` up.
   * @example
   * await agent.createNetns("/run/drydock/netns/3f2a1b4c5d6e");
   */
  async createNetns(path: string): Promise<void> {
    await this.#net(NetOp.NETNS_ADD, new Fields().string(Field.NETNS, path));
  }

  /**
   * Unbinds and removes the namespace at `path`; its DNS servers close. It goes away once no process is in it.
   * @example
   * await agent.deleteNetns("/run/drydock/netns/3f2a1b4c5d6e");
   */
  async deleteNetns(path: string): Promise<void> {
    await this.#net(NetOp.NETNS_DEL, new Fields().string(Field.NETNS, path));
  }

  /**
   * `ip link add NAME type veth peer name PEER netns NETNS`, NAME on the bridge and up, PEER with its MAC, address,
   * up and its default route. On failure nothing is left behind.
   * @example
   * await agent.createVeth({ name: "veth1a2b3c4", bridge: "docker0", netns, peer: "eth0",
   *   cidr: "172.17.0.2/16", mac: "02:42:ac:11:00:02", gateway: "172.17.0.1" });
   */
  async createVeth(spec: VethSpec): Promise<void> {
    const mac = spec.mac.split(":").map((part) => Number.parseInt(part, 16));
    if (mac.length !== 6 || mac.some((byte) => !(byte >= 0 && byte <= 255))) {
      throw new EngineError("invalidArgument", `invalid MAC address ${JSON.stringify(spec.mac)}`);
    }
    const fields = new Fields()
      .string(Field.IFNAME, spec.name)
      .string(Field.MASTER, spec.bridge)
      .string(Field.NETNS, spec.netns)
      .string(Field.PEER, spec.peer)
      .string(Field.ADDRESS, spec.cidr)
      .bytes(Field.MAC, Uint8Array.from(mac));
    if (spec.gateway) fields.string(Field.GATEWAY, spec.gateway);
    if (spec.mtu) fields.u32(Field.MTU, spec.mtu);
    await this.#net(NetOp.VETH_ADD, fields);
  }

  /**
   * `ip rule add from FROM to TO prohibit` (or `del`): the guest refuses to route traffic between the two subnets.
   * Adding a rule that exists is not an error; deleting one that does not is notFound.
   * @example
   * await agent.prohibitRoute("172.18.0.0/16", "172.19.0.0/16", true);
   */
  async prohibitRoute(from: string, to: string, add: boolean): Promise<void> {
    await this.#net(add ? NetOp.RULE_ADD : NetOp.RULE_DEL, new Fields().string(Field.FROM, from).string(Field.TO, to));
  }

  /**
   * The userland proxy: drydockd listens on `port` and forwards each connection (tcp) or each client's datagrams
   * (udp) to `target`. A port something already listens on is a conflict error (EADDRINUSE).
   * @example
   * await agent.publishPort({ proto: "tcp", address: "0.0.0.0", port: 8080 }, { ip: "172.17.0.2", port: 80 });
   */
  async publishPort(port: ProxiedPort, target: { ip: string; port: number }): Promise<void> {
    await this.#request(
      Msg.PUBLISH,
      this.#portFields(port).string(Field.REMOTE, target.ip).u16(Field.REMOTE_PORT, target.port).finish(),
    );
  }

  /**
   * Stops the proxy on `port` and closes what it forwards; notFound when nothing was published there.
   * @example
   * await agent.unpublishPort({ proto: "tcp", address: "0.0.0.0", port: 8080 });
   */
  async unpublishPort(port: ProxiedPort): Promise<void> {
    await this.#request(Msg.UNPUBLISH, this.#portFields(port).finish());
  }

  #portFields(port: ProxiedPort): Fields {
    return new Fields()
      .u8(Field.PROTO, port.proto === "tcp" ? 6 : 17)
      .string(Field.ADDRESS, port.address)
      .u16(Field.PORT, port.port);
  }

  /**
   * Opens a TCP connection from the guest's own namespace to ip:port, carried over the agent link with the same
   * flow control as a process's stdio. Rejects with drydockd's error when the connection is refused or times out.
   * @example
   * const conn = await agent.connectTcp("127.0.0.1", 8080);
   * await conn.writable.getWriter().write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
   */
  async connectTcp(ip: string, port: number): Promise<GuestConnection> {
    const id = this.#allocateStream();
    const state = this.#streamState(id, false);
    this.#streams.set(id, state);
    try {
      await new Promise<Frame>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject });
        this.#send(Msg.TCP_CONNECT, id, new Fields().string(Field.REMOTE, ip).u16(Field.REMOTE_PORT, port).finish());
      });
    } catch (error) {
      this.#streams.delete(id);
      this.#pending.delete(id);
      if (error instanceof EngineError) {
        throw new EngineError(error.kind, `${ip}:${port}: ${error.message}`, { cause: error });
      }
      throw error;
    }
    return {
      path: `tcp:${ip}:${port}`,
      readable: state.stdout.readable,
      writable: state.input.writable,
      close: () => {
        if (!this.#streams.delete(id)) return;
        state.stdout.end();
        this.#send(Msg.CLOSE, id);
      },
    };
  }

  /**
   * Binds udp `address`:`port` (inside the namespace at `netns`, or the guest's) and hands each query to `answer`;
   * its answer goes back to the asker. Returns a function that stops the server. The server also stops when its
   * namespace is deleted.
   * @example
   * await agent.serveDns({ address: "127.0.0.11", netns }, async (query) => answerFor(query));
   */
  async serveDns(
    where: { address: string; port?: number; netns?: string },
    answer: (query: Uint8Array) => Promise<Uint8Array>,
  ): Promise<() => void> {
    const id = this.#allocateStream();
    const fields = new Fields().string(Field.ADDRESS, where.address).u16(Field.PORT, where.port ?? 53);
    if (where.netns) fields.string(Field.NETNS, where.netns);
    this.#dnsServers.set(id, answer);
    try {
      await new Promise<Frame>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject });
        this.#send(Msg.DNS_SERVE, id, fields.finish());
      });
    } catch (error) {
      this.#dnsServers.delete(id);
      this.#pending.delete(id);
      throw error;
    }
    return () => {
      if (this.#dnsServers.delete(id) && !this.#failure) this.#send(Msg.CLOSE, id);
    };
  }

  #answerDns(stream: number, payload: Uint8Array, answer: (query: Uint8Array) => Promise<Uint8Array>): void {
    const tag = payload.slice(0, 4);
    answer(payload.slice(4)).then(
      (message) => {
        if (!this.#dnsServers.has(stream) || this.#failure || message.length + 4 > MAX_PAYLOAD) return;
        const reply = new Uint8Array(4 + message.length);
        reply.set(tag);
        reply.set(message, 4);
        this.#send(Msg.DNS_ANSWER, stream, reply);
      },
      // A resolver that fails leaves the asker to time out and retry, as an unanswered datagram does.
      () => {},
    );
  }

  // ---- misc -----------------------------------------------------------------------------------------------------

  /** Measures a round trip through the agent, in milliseconds. */
  async ping(payload: Uint8Array = new Uint8Array(0)): Promise<number> {
    const started = performance.now();
    await this.#request(Msg.PING, payload);
    return performance.now() - started;
  }

  /** Sends raw bytes on the link, bypassing the encoder (tests of malformed input). */
  sendRaw(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.#pump();
  }

  /** Sends one frame of any type and waits for the agent's answer on its stream (tests of malformed input). */
  requestRaw(type: number, payload: Uint8Array): Promise<Frame> {
    return this.#request(type, payload);
  }

  /**
   * Calls `listener` once when the connection fails for good (drydockd restarted, the machine crashed, or it was
   * disposed), with the error that says why; at once if it has failed already. Returns the unsubscriber.
   * @example
   * agent.onFailure((error) => console.error(`the guest is gone: ${error.message}`));
   */
  onFailure(listener: (error: Error) => void): () => void {
    if (this.#failure) {
      listener(this.#failure);
      return () => {};
    }
    this.#failureListeners.add(listener);
    return () => this.#failureListeners.delete(listener);
  }

  /** Rejects everything in flight with `error` (the machine died). */
  fail(error: Error): void {
    this.#fail(error);
  }

  dispose(): void {
    this.#unsubscribe();
    this.#fail(new EngineError("unavailable", "the agent connection was closed"));
  }
}

function parseHello(payload: Uint8Array): AgentHello {
  const fields = new ParsedFields(payload);
  return {
    version: fields.u32(Field.VERSION) ?? 0,
    kernel: fields.string(Field.KERNEL) ?? "",
    features: fields.strings(Field.FEATURE),
    bootId: fields.string(Field.BOOT_ID) ?? "",
  };
}

/** An XATTR field's name and value (`name\0value`). */
function splitXattr(field: Uint8Array): [string, Uint8Array] {
  const nul = field.indexOf(0);
  const end = nul === -1 ? field.length : nul;
  return [new TextDecoder().decode(field.subarray(0, end)), field.slice(Math.min(end + 1, field.length))];
}

function xattrMap(fields: readonly Uint8Array[]): Map<string, Uint8Array> {
  return new Map(fields.map(splitXattr));
}
