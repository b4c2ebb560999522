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
  13: "unauthorized", // EACCES
  16: "conflict", // EBUSY
  17: "alreadyExists", // EEXIST
  20: "invalidArgument", // ENOTDIR
  21: "invalidArgument", // EISDIR
  22: "invalidArgument", // EINVAL
  28: "unavailable", // ENOSPC
  39: "conflict", // ENOTEMPTY
  71: "invalidArgument", // EPROTO
  90: "invalidArgument", // EMSGSIZE
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
      const frame = await Promise.race([client.#request(Msg.SYNC, sync), deadline]);
      client.hello = parseHello(frame.payload);
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
      case Msg.CLOSE: {
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
    if (!options.argv.length) throw new EngineError("invalidArgument", "spawn needs a command");
    const fields = new Fields();
    for (const arg of options.argv) fields.string(Field.ARG, arg);
    for (const entry of options.env ?? ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]) {
      fields.string(Field.ENV, entry);
    }
    if (options.cwd) fields.string(Field.CWD, options.cwd);
    if (options.uid !== undefined) fields.u32(Field.UID, options.uid);
    if (options.gid !== undefined) fields.u32(Field.GID, options.gid);
    if (options.pty) {
      const size = new Uint8Array(4);
      new DataView(size.buffer).setUint16(0, options.pty.rows, true);
      new DataView(size.buffer).setUint16(2, options.pty.cols, true);
      fields.bytes(Field.PTY, size);
    }
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
    const payload = fields.finish();
    if (payload.length > MAX_PAYLOAD) {
      throw new EngineError(
        "invalidArgument",
        `the command line and environment are too long (${payload.length} bytes)`,
      );
    }

    const id = this.#allocateStream();
    const state = this.#streamState(id, !options.pty);
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
        this.#send(Msg.SPAWN, id, payload);
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
        const size = new Uint8Array(4);
        new DataView(size.buffer).setUint16(0, rows, true);
        new DataView(size.buffer).setUint16(2, cols, true);
        if (this.#streams.has(id)) this.#send(Msg.RESIZE, id, size);
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

  async mount(source: string, target: string, fstype: string, options = "", flags = 0): Promise<void> {
    await this.#fs(
      new Fields()
        .u8(Field.OP, FsOp.MOUNT)
        .string(Field.PATH, source)
        .string(Field.TARGET, target)
        .string(Field.FSTYPE, fstype)
        .string(Field.DATA, options)
        .u32(Field.FLAGS, flags),
    );
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
