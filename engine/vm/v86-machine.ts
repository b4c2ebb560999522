// V86Machine: the guest in the v86 emulator, booted from the artifacts of vm-images/.
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
  /** Adds to the kernel command line. */
  extraCmdline?: string;
  /** v86's built-in 9P server (empty), or a handler for every 9P message (the engine's own server). */
  filesystem?: V86Options["filesystem"];
}

export const DEFAULT_MEMORY_MIB = 128;

function copy(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

export class V86Machine implements Machine {
  readonly serial: ByteChannel;
  readonly #emulator: V86;
  readonly #transcript = new Transcript();
  readonly #serialOut = new Emitter<Uint8Array>();
  #disposed = false;

  private constructor(emulator: V86) {
    this.#emulator = emulator;
    this.serial = {
      onData: (listener) => this.#serialOut.on(listener),
      // v86 takes serial input as a string of byte-valued characters.
      write: (data) => {
        const text = typeof data === "string" ? data : String.fromCharCode(...data);
        if (!this.#disposed) this.#emulator.serial0_send(text);
      },
    };
    emulator.add_listener("serial0-output-byte", (byte: number) => {
      const bytes = Uint8Array.of(byte);
      this.#transcript.push(bytes);
      this.#serialOut.emit(bytes);
    });
  }

  /**
   * Boots the guest from its kernel (a cold boot: a few seconds).
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
      bzimage: { buffer: copy(artifacts.bzImage) },
      cmdline: [artifacts.cmdline, options.extraCmdline].filter(Boolean).join(" "),
      autostart: true,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
      virtio_console: { type: "none" },
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

  /** The emulator itself, for the parts of the engine that attach devices (9P, virtio console). */
  get emulator(): V86 {
    return this.#emulator;
  }

  consoleTail(lines = 20): string[] {
    return this.#transcript.tail(lines);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#serialOut.clear();
    await this.#emulator.destroy();
  }
}
