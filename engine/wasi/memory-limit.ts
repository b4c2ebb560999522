// `docker run -m` for a WebAssembly module: a module declares its own memory (an initial size and, optionally, a
// maximum, in 64 KiB pages), and `memory.grow` fails past the maximum. Capping it means rewriting the memory section
// of the binary before it is compiled: each memory gets the smaller of its own maximum and the limit.
import { EngineError } from "../errors.ts";

export const WASM_PAGE_BYTES = 65536;
const MEMORY_SECTION = 5;

function readUleb(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  for (let i = offset; i < bytes.length; i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new EngineError("invalidArgument", "the WebAssembly module is cut short (a LEB128 number runs off its end)");
}

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

export interface MemoryLimitResult {
  /** The module's bytes with every memory capped (the same array when nothing needed changing). */
  bytes: Uint8Array;
  /** The largest initial size a memory of the module asks for, in pages (0 when it defines none). */
  initialPages: number;
}

/**
 * Caps every memory the module defines at `maxPages`. Throws invalidArgument when the module is not WebAssembly, and
 * when it needs more than the limit to start at all (as Docker refuses a limit below what a container needs).
 * @example
 * const { bytes } = capMemory(wasm, (32 * 1024 * 1024) / WASM_PAGE_BYTES);
 */
export function capMemory(bytes: Uint8Array, maxPages: number): MemoryLimitResult {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new EngineError("invalidArgument", "the file is not a WebAssembly module (it lacks the \\0asm header)");
  }
  let offset = 8;
  while (offset < bytes.length) {
    const id = bytes[offset]!;
    const size = readUleb(bytes, offset + 1);
    const start = size.next;
    const end = start + size.value;
    if (id !== MEMORY_SECTION) {
      offset = end;
      continue;
    }
    const count = readUleb(bytes, start);
    const body: number[] = [...uleb(count.value)];
    let at = count.next;
    let initialPages = 0;
    for (let i = 0; i < count.value; i++) {
      const flags = bytes[at]!;
      if (flags & 0x04) throw new EngineError("invalidArgument", "the module uses 64-bit memory, which -m cannot cap");
      const min = readUleb(bytes, at + 1);
      at = min.next;
      let max = maxPages;
      if (flags & 0x01) {
        const own = readUleb(bytes, at);
        at = own.next;
        max = Math.min(own.value, maxPages);
      }
      if (min.value > maxPages) {
        throw new EngineError(
          "invalidArgument",
          `the module needs ${mib(min.value)} of memory to start, more than its limit of ${mib(maxPages)} (-m)`,
        );
      }
      initialPages = Math.max(initialPages, min.value);
      body.push(flags | 0x01, ...uleb(min.value), ...uleb(max));
    }
    const section = [MEMORY_SECTION, ...uleb(body.length), ...body];
    const patched = new Uint8Array(offset + section.length + (bytes.length - end));
    patched.set(bytes.subarray(0, offset), 0);
    patched.set(section, offset);
    patched.set(bytes.subarray(end), offset + section.length);
    return { bytes: patched, initialPages };
  }
  return { bytes, initialPages: 0 };
}

function mib(pages: number): string {
  return `${((pages * WASM_PAGE_BYTES) / 1024 / 1024).toFixed(pages % 16 === 0 ? 0 : 2)} MiB`;
}
