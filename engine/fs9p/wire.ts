// 9P2000.L on the wire: message numbers, errno values, and a reader and a writer for little-endian messages
// (`size[4] type[1] tag[2] body`). Shared by the server and its tests, which play the kernel's part.

/** Message types of 9P2000.L that the server knows; a reply is its request's number + 1. */
export const Op = {
  Rlerror: 7,
  Tstatfs: 8,
  Tlopen: 12,
  Tlcreate: 14,
  Tsymlink: 16,
  Tmknod: 18,
  Trename: 20,
  Treadlink: 22,
  Tgetattr: 24,
  Tsetattr: 26,
  Txattrwalk: 30,
  Txattrcreate: 32,
  Treaddir: 40,
  Tfsync: 50,
  Tlock: 52,
  Tgetlock: 54,
  Tlink: 70,
  Tmkdir: 72,
  Trenameat: 74,
  Tunlinkat: 76,
  Tversion: 100,
  Tauth: 102,
  Tattach: 104,
  Tflush: 108,
  Twalk: 110,
  Tread: 116,
  Twrite: 118,
  Tclunk: 120,
  Tremove: 122,
} as const;

/** Linux errno values, as Rlerror carries them. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOTEMPTY: 39,
  ENODATA: 61,
  EPROTO: 71,
  EOPNOTSUPP: 95,
} as const;

export const QidType = { DIR: 0x80, SYMLINK: 0x02, FILE: 0x00 } as const;

/** What identifies a file to the client: its kind, a version, and a path the kernel turns into the inode number. */
export interface Qid {
  type: number;
  version: number;
  path: number;
}

/** The size of a message header: size[4] type[1] tag[2]. */
export const HEADER_SIZE = 7;
/** Rread's fixed part (header and count[4]): a read may return msize minus this. */
export const READ_OVERHEAD = HEADER_SIZE + 4;
export const NOFID = 0xffffffff;

/** A message that does not parse: the server answers EPROTO. */
export class MalformedMessage extends Error {
  override readonly name = "MalformedMessage";
}

const utf8 = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

/** Reads a message's fields in order; every read checks the bounds, so a short message throws MalformedMessage. */
export class MessageReader {
  readonly #view: DataView;
  readonly #bytes: Uint8Array;
  #at: number;

  constructor(bytes: Uint8Array, at = HEADER_SIZE) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#at = at;
  }

  #take(length: number): number {
    const at = this.#at;
    if (at + length > this.#bytes.byteLength) throw new MalformedMessage("message ends before its fields do");
    this.#at += length;
    return at;
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }

  u16(): number {
    return this.#view.getUint16(this.#take(2), true);
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }

  /** A u64 as a number: offsets and sizes beyond 2^53 do not occur in layers a browser holds. */
  u64(): number {
    const at = this.#take(8);
    return this.#view.getUint32(at, true) + this.#view.getUint32(at + 4, true) * 2 ** 32;
  }

  string(): string {
    const length = this.u16();
    const at = this.#take(length);
    return utf8.decode(this.#bytes.subarray(at, at + length));
  }

  qid(): Qid {
    return { type: this.u8(), version: this.u32(), path: this.u64() };
  }

  bytes(length: number): Uint8Array {
    const at = this.#take(length);
    return this.#bytes.subarray(at, at + length);
  }

  get remaining(): number {
    return this.#bytes.byteLength - this.#at;
  }
}

/** Builds one message; `finish()` fills in the size. Grows as needed, so callers need not size it exactly. */
export class MessageWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #at = HEADER_SIZE;

  constructor(type: number, tag: number, capacity = 64) {
    this.#bytes = new Uint8Array(Math.max(capacity, HEADER_SIZE));
    this.#view = new DataView(this.#bytes.buffer);
    this.#bytes[4] = type;
    this.#view.setUint16(5, tag, true);
  }

  /** Reserves `length` bytes and returns where they start; it may replace #bytes and #view, so call it first. */
  #room(length: number): number {
    const at = this.#at;
    if (at + length > this.#bytes.byteLength) {
      const grown = new Uint8Array(Math.max(this.#bytes.byteLength * 2, at + length));
      grown.set(this.#bytes);
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#at += length;
    return at;
  }

  get length(): number {
    return this.#at;
  }

  u8(value: number): this {
    const at = this.#room(1);
    this.#view.setUint8(at, value);
    return this;
  }

  u16(value: number): this {
    const at = this.#room(2);
    this.#view.setUint16(at, value, true);
    return this;
  }

  u32(value: number): this {
    const at = this.#room(4);
    this.#view.setUint32(at, value >>> 0, true);
    return this;
  }

  u64(value: number): this {
    const at = this.#room(8);
    this.#view.setUint32(at, value % 2 ** 32, true);
    this.#view.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
    return this;
  }

  string(value: string): this {
    return this.encodedString(encoder.encode(value));
  }

  /** A string already in UTF-8 (names the server encodes once and sends many times). */
  encodedString(value: Uint8Array): this {
    return this.u16(value.byteLength).bytes(value);
  }

  qid(qid: Qid): this {
    return this.u8(qid.type).u32(qid.version).u64(qid.path);
  }

  bytes(value: Uint8Array): this {
    const at = this.#room(value.byteLength);
    this.#bytes.set(value, at);
    return this;
  }

  /** Overwrites a u32 written earlier (Rreaddir's count, known only once the entries are in). */
  patchU32(at: number, value: number): this {
    this.#view.setUint32(at, value >>> 0, true);
    return this;
  }

  finish(): Uint8Array {
    this.#view.setUint32(0, this.#at, true);
    return this.#bytes.subarray(0, this.#at);
  }
}

/** The header of a message: its size as declared, type and tag. Undefined when even those are missing. */
export function readHeader(bytes: Uint8Array): { size: number; type: number; tag: number } | undefined {
  if (bytes.byteLength < HEADER_SIZE) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { size: view.getUint32(0, true), type: view.getUint8(4), tag: view.getUint16(5, true) };
}

export function errorReply(tag: number, errno: number): Uint8Array {
  return new MessageWriter(Op.Rlerror, tag, 11).u32(errno).finish();
}

/**
 * Answers a Tgetlock whose fid `r` has already read: no conflicting lock (F_UNLCK), the asked range echoed back. Both
 * servers answer so: the layer share is read-only, and the volume share's one client is the guest, whose kernel keeps
 * its own lock table.
 */
export function unlockedGetlock(r: MessageReader, w: MessageWriter): Uint8Array {
  r.u8(); // the lock type asked about
  const start = r.u64();
  const length = r.u64();
  const procId = r.u32();
  const clientId = r.string();
  return w.u8(2).u64(start).u64(length).u32(procId).string(clientId).finish();
}

/** An error the guest sees as this errno: what the layer server and the volume server throw to answer Rlerror. */
export class FsError extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}
