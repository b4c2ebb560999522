// V86Machine: the guest in the v86 emulator, booted from the artifacts of vm-images/ or restored from a saved state.
import { V86, type V86Options } from "v86";
import { EngineError } from "../errors.ts";
import { Emitter } from "../events.ts";
import type { GuestArtifacts } from "./artifacts.ts";
import type { ByteChannel, Machine } from "./machine.ts";
import { Transcript } from "./transcript.ts";

export interface V86MachineOptions {
  artifacts: GuestArtifacts;
  /** Where v86.wasm is: a file path in Node, a URL in the browser. */
  wasmPath: string;
  /** Guest memory in MiB. A saved state must be restored with the size it was saved with. */
  memoryMiB?: number;
  /** Adds to the kernel command line (cold boot only). */
  extraCmdline?: string;
  /** A state saved by `saveState()` (raw or zstd-compressed) to resume instead of booting. */
  state?: ArrayBuffer;
  /** v86's built-in 9P server (empty), or a handler for every 9P message (the engine's own server). */
  filesystem?: V86Options["filesystem"];
}

export const DEFAULT_MEMORY_MIB = 128;

/** The part of v86's internal message bus the engine uses (not in v86's type declarations). */
interface V86Bus {
  register(name: string, listener: (data: Uint8Array) => void, context: unknown): void;
  unregister(name: string, listener: (data: Uint8Array) => void): void;
  send(name: string, data: Uint8Array): void;
}

const PANIC = /Kernel panic|Attempted to kill init|general protection fault|BUG: /;

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
  #disposed = false;
  #crashed = false;

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
        if (!this.#disposed) bus.send("virtio-console0-input-bytes", bytes);
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
    bus.register("virtio-console0-output-bytes", (bytes) => this.#agentOut.emit(bytes), this);
  }

  /**
   * Boots the guest from its kernel (a cold boot: a few seconds), or resumes it from `options.state` (a blink).
   * @example
   * const machine = await V86Machine.boot({ artifacts, wasmPath });
   * machine.serial.onData((bytes) => process.stdout.write(bytes));
   */
  static async boot(options: V86MachineOptions): Promise<V86Machine> {
    const { artifacts } = options;
    const memoryMiB = options.memoryMiB ?? DEFAULT_MEMORY_MIB;
    const config: V86Options = {
      wasm_path: options.wasmPath,
      memory_size: memoryMiB * 1024 * 1024,
      vga_memory_size: 2 * 1024 * 1024,
      bios: { buffer: copy(artifacts.bios) },
      vga_bios: { buffer: copy(artifacts.vgaBios) },
      autostart: true,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
      // The device set is part of a saved state: always the same, whether booting or restoring.
      virtio_console: { type: "none" },
      ...(options.state
        ? { initial_state: { buffer: options.state } }
        : {
            bzimage: { buffer: copy(artifacts.bzImage) },
            cmdline: [artifacts.cmdline, options.extraCmdline].filter(Boolean).join(" "),
          }),
      ...(options.filesystem ? { filesystem: options.filesystem } : {}),
    };
    let emulator: V86;
    try {
      emulator = new V86(config);
    } catch (cause) {
      throw new EngineError("internal", `v86 refused the guest configuration: ${String(cause)}`, { cause });
    }
    const machine = new V86Machine(emulator);
    await new Promise<void>((resolve) => emulator.add_listener("emulator-started", () => resolve()));
    return machine;
  }

  /** The emulator itself, for the parts of the engine that attach devices. */
  get emulator(): V86 {
    return this.#emulator;
  }

  consoleTail(lines = 20): string[] {
    return this.#transcript.tail(lines);
  }

  onCrash(listener: (reason: string) => void): () => void {
    return this.#crash.on(listener);
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
    await this.#emulator.destroy();
  }
}
