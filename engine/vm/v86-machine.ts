// V86Machine: the guest in the v86 emulator, booted from the artifacts of vm-images/ or restored from a saved state.
import { V86, type V86Options } from "v86";
import { EngineError } from "../errors.ts";
import { Emitter } from "../events.ts";
import type { GuestArtifacts } from "./artifacts.ts";
import type { ByteChannel, Machine } from "./machine.ts";
import { Transcript } from "./transcript.ts";

/** What v86 needs: the BIOS always; the kernel and its command line only for a cold boot. */
export type MachineArtifacts = Pick<GuestArtifacts, "bios" | "vgaBios"> &
  Partial<Pick<GuestArtifacts, "bzImage" | "cmdline">>;

export interface V86MachineOptions {
  artifacts: MachineArtifacts;
  /** Where v86.wasm is: a file path in Node, a URL in the browser. */
  wasmPath: string;
  /** Guest memory in MiB. A saved state must be restored with the size it was saved with. */
  memoryMiB?: number;
  /** Adds to the kernel command line (cold boot only). */
  extraCmdline?: string;
  /** A state saved by `saveState()` (raw or zstd-compressed) to resume instead of booting. */
  state?: ArrayBuffer;
  /**
   * v86's own 9P server with an empty tree, for tests that fill it from JS. By default the machine has a 9P device
   * whose messages go to `set9pHandler()` (the engine's layer server); both give the guest the same device set.
   */
  builtin9p?: boolean;
  /**
   * The Wisp server the guest's network card reaches the outside through (`ws://…/wisp/`, `wss://…`, or v86's own
   * `wisp://`/`wisps://` spelling). Without one the card is present but leads nowhere: only the guest's own networks
   * (containers, bridges) work.
   */
  relayUrl?: string;
  /**
   * v86.wasm already compiled (the page compiles it from a cacheable response while the state downloads, so the
   * browser can keep the compiled code). Without it v86 fetches and compiles `wasmPath` itself.
   */
  wasmModule?: CompiledWasm;
  /** Told the start and end (performance.now()) of each step of a start (the wasm and state steps only with `wasmModule`). */
  onStep?: (step: MachineStep, start: number, end: number) => void;
}

/** v86 picks its Wisp adapter by the URL's scheme: `wisp://` for `ws://`, `wisps://` for `wss://`. */
export function wispRelayUrl(url: string): string {
  const match = /^(wss?|wisps?):\/\/(.+)$/.exec(url);
  if (!match) {
    throw new EngineError(
      "invalidArgument",
      `relay URL ${JSON.stringify(url)} must start with ws:// or wss:// (a Wisp server, such as the relay's /wisp/)`,
    );
  }
  const secure = match[1] === "wss" || match[1] === "wisps";
  return `${secure ? "wisps" : "wisp"}://${match[2]}`;
}

/** A compiled WebAssembly.Module (typed loosely: the Node config, which checks engine/ too, has no WebAssembly types). */
export type CompiledWasm = object;
type WasmExports = Record<string, unknown>;
const webAssembly = (
  globalThis as unknown as {
    WebAssembly: { instantiate(module: CompiledWasm, imports: object): Promise<{ exports: WasmExports }> };
  }
).WebAssembly;

/** The steps of a restore that `onStep` reports. */
export type MachineStep = "instantiate wasm" | "inflate state" | "set state" | "new V86 → emulator-started";

/** Answers one 9P message: `request` is a whole message (size[4] type[1] tag[2] ...); call `reply` once. */
export type NinePHandler = (request: Uint8Array, reply: (response: Uint8Array) => void) => void;

export const DEFAULT_MEMORY_MIB = 128;

/** The part of v86's internal message bus the engine uses (not in v86's type declarations). */
interface V86Bus {
  listeners: Record<string, { fn: (data: Uint8Array) => void; this_value: unknown }[] | undefined>;
  register(name: string, listener: (data: Uint8Array) => void, context: unknown): void;
  unregister(name: string, listener: (data: Uint8Array) => void): void;
  send(name: string, data: Uint8Array): void;
}

/** One end of an Ethernet cable: frames that come out of it, and a way to put frames in. */
export interface FrameLink {
  /** Puts a whole Ethernet frame (no preamble, no FCS) in. */
  send(frame: Uint8Array): void;
  /** Told each frame that comes out. */
  onFrame(listener: (frame: Uint8Array) => void): () => void;
}

/** What `takeNetwork()` gives: the guest's card, and v86's router (and relay behind it) if the machine had one. */
export interface MachineNetwork {
  /** The guest's eth0: frames it transmits come out, frames sent in are what it receives. */
  card: FrameLink;
  /** v86's router at 192.168.86.1 (its Wisp relay behind it), now on its own cable; absent without a relay. */
  router: FrameLink | undefined;
}

/** v86's network adapter (Wisp or fetch): `send` is a frame for the router, `receive` what the router answers. */
interface V86Adapter {
  send(frame: Uint8Array): void;
  receive(frame: Uint8Array): void;
}

const PANIC = /Kernel panic|Attempted to kill init|general protection fault|BUG: /;

/** The virtio-console port drydockd speaks on: port 1, `/dev/vport0p1` in the guest. */
const AGENT_PORT = 1;
/** The control event that makes a virtio-console port a console (an `hvc` tty in the guest). */
const VIRTIO_CONSOLE_CONSOLE_PORT = 4;

/** The control event a guest sends when a port's file is opened (value 1) or its last file closed (value 0). */
const VIRTIO_CONSOLE_PORT_OPEN = 6;
/** The virtio-console queue that carries the guest's control messages to the device. */
const CONTROL_OUT_QUEUE = 3;

/** A descriptor chain the guest posted on a queue, as v86 holds it (not in v86's type declarations). */
interface V86BufferChain {
  cpu: { read_blob(address: number, length: number): Uint8Array };
  read_buffers: { addr_low: number; len: number }[];
}

/** The part of v86's virtio-console device the machine changes (not in v86's type declarations). */
interface V86VirtioConsole {
  SendEvent(port: number, event: number, value: number): void;
  Ack(queue: number, chain: V86BufferChain): void;
}

function virtioConsole(emulator: V86): V86VirtioConsole {
  const device = (emulator as unknown as { v86?: { cpu?: { devices?: { virtio_console?: V86VirtioConsole } } } }).v86
    ?.cpu?.devices?.virtio_console;
  if (!device) throw new EngineError("internal", "v86 started without its virtio console: the agent has no port");
  return device;
}

/**
 * v86 announces every port of its virtio console as a console, so the guest puts each behind an hvc tty, which reads
 * 16 bytes per call and pushes every byte through the tty layer. Ports other than 0 are left plain instead: the guest
 * sees `/dev/vport0pN`, a character device whose reads take a whole buffer (a page) and whose writes send up to
 * 32 KiB at once. The guest learns a port's kind when its driver starts (a cold boot); a restored state keeps it.
 */
function plainPorts(emulator: V86): void {
  const device = virtioConsole(emulator);
  const send = device.SendEvent.bind(device);
  device.SendEvent = (port, event, value) => {
    if (port !== 0 && event === VIRTIO_CONSOLE_CONSOLE_PORT) return;
    send(port, event, value);
  };
}

/**
 * Calls `closed` when the guest closes the last file of the agent's port: drydockd has exited (killed, crashed), and
 * the kernel says so at once, before busybox init starts another. The guest's virtio console driver tells the device
 * `PORT_OPEN 0` on that release; v86 reads the control message and acknowledges it, and the acknowledgement is where
 * the message can be read (v86 acts on nothing else of it).
 */
function watchAgentPort(emulator: V86, closed: () => void): void {
  const device = virtioConsole(emulator);
  const ack = device.Ack.bind(device);
  device.Ack = (queue, chain) => {
    if (queue === CONTROL_OUT_QUEUE) {
      const first = chain.read_buffers?.[0];
      if (first && first.len >= 8) {
        // struct virtio_console_control: u32 id, u16 event, u16 value (little-endian).
        const message = chain.cpu.read_blob(first.addr_low, 8);
        const view = new DataView(message.buffer, message.byteOffset, 8);
        const port = view.getUint32(0, true);
        const event = view.getUint16(4, true);
        const value = view.getUint16(6, true);
        if (port === AGENT_PORT && event === VIRTIO_CONSOLE_PORT_OPEN && value === 0) closed();
      }
    }
    ack(queue, chain);
  };
}

/**
 * Instantiates v86's module for v86's `wasm_fn`; with `onStep`, wraps the three zstd calls that open and close a
 * restore, so the inflating and the setting of the state can be told apart (v86 does both in one call).
 */
async function instantiate(
  module: CompiledWasm,
  imports: object,
  onStep: V86MachineOptions["onStep"],
): Promise<WasmExports> {
  const started = performance.now();
  const { exports } = await webAssembly.instantiate(module, imports);
  onStep?.("instantiate wasm", started, performance.now());
  if (!onStep) return exports;
  type Call = (...args: number[]) => number;
  const wrapped: WasmExports = { ...exports };
  let inflating = 0;
  let read = 0;
  const create = exports.zstd_create_ctx as Call;
  const readFree = exports.zstd_read_free as Call;
  const free = exports.zstd_free_ctx as Call;
  wrapped.zstd_create_ctx = (...args: number[]) => {
    inflating = performance.now();
    return create(...args);
  };
  wrapped.zstd_read_free = (...args: number[]) => {
    const result = readFree(...args);
    read = performance.now();
    return result;
  };
  wrapped.zstd_free_ctx = (...args: number[]) => {
    const result = free(...args);
    onStep("inflate state", inflating, read);
    onStep("set state", read, performance.now());
    return result;
  };
  return wrapped;
}

function copy(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

export class V86Machine implements Machine {
  readonly serial: ByteChannel;
  readonly agentLink: ByteChannel;
  readonly #emulator: V86;
  readonly #transcript = new Transcript();
  readonly #serialOut = new Emitter<Uint8Array>();
  readonly #agentOut = new Emitter<Uint8Array>();
  readonly #crash = new Emitter<string>();
  readonly #agentClosed = new Emitter<void>();
  #disposed = false;
  #crashed = false;
  #ninePHandler: NinePHandler | undefined;
  #networkTaken = false;

  private constructor(emulator: V86) {
    this.#emulator = emulator;
    const bus = (emulator as unknown as { bus: V86Bus }).bus;
    this.serial = {
      onData: (listener) => this.#serialOut.on(listener),
      // v86 takes serial input as a string of byte-valued characters.
      write: (data) => {
        const text = typeof data === "string" ? data : String.fromCharCode(...data);
        if (!this.#disposed) this.#emulator.serial0_send(text);
      },
    };
    this.agentLink = {
      onData: (listener) => this.#agentOut.on(listener),
      write: (data) => {
        const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
        if (!this.#disposed) bus.send(`virtio-console${AGENT_PORT}-input-bytes`, bytes);
      },
    };
    emulator.add_listener("serial0-output-byte", (byte: number) => {
      const bytes = Uint8Array.of(byte);
      this.#transcript.push(bytes);
      this.#serialOut.emit(bytes);
      if (!this.#crashed && byte === 10 && PANIC.test(this.#transcript.tail(1)[0] ?? "")) {
        this.#crashed = true;
        this.#crash.emit(this.#transcript.tail(1)[0] ?? "kernel panic");
      }
    });
    bus.register(`virtio-console${AGENT_PORT}-output-bytes`, (bytes) => this.#agentOut.emit(bytes), this);
  }

  /**
   * Boots the guest from its kernel (a cold boot: a few seconds), or resumes it from `options.state` (a blink).
   * @example
   * const machine = await V86Machine.boot({ artifacts, wasmPath });
   * machine.serial.onData((bytes) => process.stdout.write(bytes));
   */
  static async boot(options: V86MachineOptions): Promise<V86Machine> {
    const { artifacts } = options;
    if (!options.state && !artifacts.bzImage?.length) {
      throw new EngineError(
        "invalidArgument",
        "a cold boot needs the guest kernel (bzImage); only a restore can do without",
      );
    }
    const memoryMiB = options.memoryMiB ?? DEFAULT_MEMORY_MIB;
    const relayUrl = options.relayUrl === undefined ? undefined : wispRelayUrl(options.relayUrl);
    if (relayUrl && typeof WebSocket === "undefined") {
      throw new EngineError(
        "unavailable",
        "this JavaScript runtime has no WebSocket, which the network relay needs (in Node, import engine/node first)",
      );
    }
    const config: V86Options = {
      wasm_path: options.wasmPath,
      ...(options.wasmModule
        ? {
            wasm_fn: ((imports: object) =>
              instantiate(options.wasmModule!, imports, options.onStep)) as V86Options["wasm_fn"],
          }
        : {}),
      memory_size: memoryMiB * 1024 * 1024,
      vga_memory_size: 2 * 1024 * 1024,
      bios: { buffer: copy(artifacts.bios) },
      vga_bios: { buffer: copy(artifacts.vgaBios) },
      // A restore starts the machine itself, once the state is in (below).
      autostart: !options.state,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
      // The device set is part of a saved state: always the same, whether booting or restoring.
      virtio_console: { type: "none" },
      // A virtio-net card always (eth0 in the guest, 192.168.86.100 behind v86's router at .1), with or without a
      // relay behind it. The MAC stays the one the saved state's guest knows, or its ARP entries would go stale.
      net_device: { type: "virtio", ...(relayUrl ? { relay_url: relayUrl } : {}) },
      preserve_mac_from_state_image: true,
      ...(options.state
        ? {}
        : {
            bzimage: { buffer: copy(artifacts.bzImage ?? new Uint8Array(0)) },
            cmdline: [artifacts.cmdline, options.extraCmdline].filter(Boolean).join(" "),
          }),
      // A 9P device is always present, so states saved and restored have the same devices. The guest mounts it
      // only after a restore (a saved state must hold no 9P fids a fresh server has never seen).
      filesystem: options.builtin9p ? {} : { handle9p: (request, reply) => machine.#handle9p(request, reply) },
    };
    let machine: V86Machine;
    let emulator: V86;
    const constructing = performance.now();
    try {
      emulator = new V86(config);
    } catch (cause) {
      throw new EngineError("internal", `v86 refused the guest configuration: ${String(cause)}`, { cause });
    }
    machine = new V86Machine(emulator);
    const started = new Promise<void>((resolve) => emulator.add_listener("emulator-started", () => resolve()));
    if (options.state) {
      // Restored here rather than through v86's `initial_state`, whose failure v86 leaves unhandled: the restore would
      // never settle. The same steps in the same order (devices made, state set, then run).
      await new Promise<void>((resolve) => emulator.add_listener("emulator-loaded", () => resolve()));
      try {
        await emulator.restore_state(options.state);
      } catch (cause) {
        await machine.dispose().catch(() => {});
        throw new EngineError(
          "dataLoss",
          `v86 could not restore the saved state (${cause instanceof Error ? cause.message : String(cause)}): it is damaged, or saved by another build of the guest or of v86; make it again`,
          { cause },
        );
      }
      void emulator.run();
    }
    await started;
    // Before the guest's kernel has run (the BIOS is just starting): its virtio console driver starts later.
    plainPorts(emulator);
    watchAgentPort(emulator, () => machine.#agentClosed.emit());
    options.onStep?.("new V86 → emulator-started", constructing, performance.now());
    return machine;
  }

  /** The emulator itself, for the parts of the engine that attach devices. */
  get emulator(): V86 {
    return this.#emulator;
  }

  /**
   * Unplugs the guest's network card from v86's router and gives both ends to the caller, who wires them (to a
   * switch, with other guests' cards). Once only.
   * @example
   * const { card, router } = machine.takeNetwork();
   * card.onFrame((frame) => port.send(frame));
   */
  takeNetwork(): MachineNetwork {
    if (this.#networkTaken) {
      throw new EngineError("conflict", "this machine's network card is already wired: takeNetwork() is once only");
    }
    this.#networkTaken = true;
    const bus = (this.#emulator as unknown as { bus: V86Bus }).bus;
    const adapter = (this.#emulator as unknown as { network_adapter?: V86Adapter }).network_adapter;
    // The adapter listens to the card on the bus: take it off, so a frame for another guest never reaches v86's TCP
    // stack (which answers whatever it is handed).
    for (const listener of [...(bus.listeners["net0-send"] ?? [])]) {
      if (listener.this_value === adapter) bus.unregister("net0-send", listener.fn);
    }
    const fromCard = new Emitter<Uint8Array>();
    const onSend = (frame: Uint8Array) => fromCard.emit(frame);
    bus.register("net0-send", onSend, this);
    const card: FrameLink = {
      send: (frame) => {
        if (!this.#disposed) bus.send("net0-receive", frame);
      },
      onFrame: (listener) => fromCard.on(listener),
    };
    let router: FrameLink | undefined;
    if (adapter) {
      const fromRouter = new Emitter<Uint8Array>();
      // The adapter builds its answers in one reused buffer: each is copied as it leaves.
      adapter.receive = (frame) => fromRouter.emit(new Uint8Array(frame));
      router = {
        send: (frame) => {
          if (!this.#disposed) adapter.send(frame);
        },
        onFrame: (listener) => fromRouter.on(listener),
      };
    }
    return { card, router };
  }

  /** Routes the guest's 9P messages to `handler` (the engine's layer server). */
  set9pHandler(handler: NinePHandler | undefined): void {
    this.#ninePHandler = handler;
  }

  #handle9p(request: Uint8Array, reply: (response: Uint8Array) => void): void {
    if (this.#ninePHandler) {
      this.#ninePHandler(request, reply);
      return;
    }
    // No server attached: answer Rlerror(EIO) for the request's tag, so a mount fails instead of hanging.
    const tag = request[5]! | (request[6]! << 8);
    const response = new Uint8Array(11);
    const view = new DataView(response.buffer);
    view.setUint32(0, 11, true);
    response[4] = 7; // Rlerror
    view.setUint16(5, tag, true);
    view.setUint32(7, 5, true); // EIO
    reply(response);
  }

  consoleTail(lines = 20): string[] {
    return this.#transcript.tail(lines);
  }

  onCrash(listener: (reason: string) => void): () => void {
    return this.#crash.on(listener);
  }

  onAgentLinkClosed(listener: () => void): () => void {
    return this.#agentClosed.on(listener);
  }

  async saveState(): Promise<ArrayBuffer> {
    return this.#emulator.save_state();
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#serialOut.clear();
    this.#agentOut.clear();
    this.#crash.clear();
    this.#agentClosed.clear();
    await this.#emulator.destroy();
  }
}
