// The agent protocol, version 5: message and field numbers, frame encoding and decoding. This mirrors
// vm-images/agent/PROTOCOL.md (the description) and vm-images/agent/protocol.h (the C side); change all three together.

export const PROTOCOL_VERSION = 5;
export const HEADER_SIZE = 12;
export const MAX_PAYLOAD = 32768;
/** Initial credit of every stream direction, in bytes. */
export const STREAM_WINDOW = 65536;
/** The virtio console port fills one guest buffer (one page) per send and drops sends for which no buffer is posted. */
export const LINK_SEND_SIZE = 4096;
export const LINK_MAX_UNACKED_SENDS = 16;
export const AGENT_STREAM_BIT = 0x80000000;

export const Msg = {
  HELLO: 0x01,
  SYNC: 0x02,
  ERROR: 0x03,
  OK: 0x04,
  PING: 0x05,
  PONG: 0x06,
  ACK: 0x07,
  SPAWN: 0x10,
  SPAWNED: 0x11,
  INPUT: 0x12,
  STDOUT: 0x13,
  STDERR: 0x14,
  CREDIT: 0x15,
  RESIZE: 0x16,
  SIGNAL: 0x17,
  EXIT: 0x18,
  ADOPT: 0x19,
  FS: 0x20,
  FS_REPLY: 0x21,
  LISTEN: 0x30,
  CONNECT: 0x31,
  CLOSE: 0x32,
  DEVICE_FILTER: 0x40,
  NET: 0x50,
  PUBLISH: 0x51,
  UNPUBLISH: 0x52,
  TCP_CONNECT: 0x53,
  DNS_SERVE: 0x54,
  DNS_QUERY: 0x55,
  DNS_ANSWER: 0x56,
} as const;
export type MsgType = (typeof Msg)[keyof typeof Msg];

export const Field = {
  VERSION: 1,
  KERNEL: 2,
  FEATURE: 3,
  BOOT_ID: 4,
  TIME: 5,
  ENTROPY: 6,
  ERRNO: 7,
  MESSAGE: 8,
  ARG: 16,
  ENV: 17,
  CWD: 18,
  UID: 19,
  GID: 20,
  PTY: 21,
  CLONE: 22,
  CGROUP: 23,
  ROOT: 24,
  MOUNT: 25,
  HOSTNAME: 26,
  PID: 27,
  LOOPBACK: 28,
  OP: 32,
  PATH: 33,
  TARGET: 34,
  DATA: 35,
  OFFSET: 36,
  LENGTH: 37,
  MODE: 38,
  FLAGS: 39,
  FSTYPE: 40,
  SIZE: 41,
  MTIME: 42,
  DIRENT: 43,
  MORE: 44,
  CAPS: 45,
  NO_NEW_PRIVS: 46,
  GROUPS: 47,
  DEVICE: 48,
  MASK: 49,
  READONLY: 50,
  SYMLINK: 51,
  ENTER: 52,
  RDEV: 53,
  IFNAME: 54,
  PEER: 55,
  ADDRESS: 56,
  MAC: 57,
  GATEWAY: 58,
  NETNS: 59,
  MASTER: 60,
  FROM: 61,
  TO: 62,
  PROTO: 63,
  PORT: 64,
  REMOTE: 65,
  REMOTE_PORT: 66,
  SECCOMP: 67,
  PARK: 68,
  VNI: 69,
  MTU: 70,
  XATTR: 71,
} as const;

export const FsOp = {
  STAT: 1,
  READ: 2,
  WRITE: 3,
  MKDIR: 4,
  READDIR: 5,
  REMOVE: 6,
  MOUNT: 7,
  UMOUNT: 8,
  RESOLVE: 9,
  XATTRS: 10,
  SETXATTR: 11,
} as const;

export const NetOp = {
  BRIDGE_ADD: 1,
  LINK_DEL: 2,
  NETNS_ADD: 3,
  NETNS_DEL: 4,
  VETH_ADD: 5,
  RULE_ADD: 6,
  RULE_DEL: 7,
  VXLAN_ADD: 8,
  FDB_ADD: 9,
  FDB_DEL: 10,
} as const;

export const Channel = { INPUT: 0, STDOUT: 1, STDERR: 2 } as const;

/** The `CLONE_NEW*` flags of Linux, for `SpawnOptions.namespaces`. */
export const CloneFlag = {
  mount: 0x00020000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  net: 0x40000000,
  cgroup: 0x02000000,
} as const;

export interface Frame {
  type: number;
  stream: number;
  payload: Uint8Array;
}

export function encodeFrame(type: number, stream: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const frame = new Uint8Array(HEADER_SIZE + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.length, true);
  view.setUint16(4, type, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, stream >>> 0, true);
  frame.set(payload, HEADER_SIZE);
  return frame;
}

/** Splits a byte stream into frames. Throws on a frame the agent could never have sent (the link is corrupt). */
export class FrameDecoder {
  #buffer = new Uint8Array(0);

  push(bytes: Uint8Array): Frame[] {
    const joined = new Uint8Array(this.#buffer.length + bytes.length);
    joined.set(this.#buffer);
    joined.set(bytes, this.#buffer.length);
    const view = new DataView(joined.buffer);
    const frames: Frame[] = [];
    let at = 0;
    while (joined.length - at >= HEADER_SIZE) {
      const length = view.getUint32(at, true);
      if (length > MAX_PAYLOAD) {
        throw new Error(`the agent sent a frame of ${length} bytes (the limit is ${MAX_PAYLOAD}): the link is corrupt`);
      }
      if (joined.length - at < HEADER_SIZE + length) break;
      frames.push({
        type: view.getUint16(at + 4, true),
        stream: view.getUint32(at + 8, true),
        payload: joined.slice(at + HEADER_SIZE, at + HEADER_SIZE + length),
      });
      at += HEADER_SIZE + length;
    }
    this.#buffer = joined.slice(at);
    return frames;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds the fields of a control message. */
export class Fields {
  #parts: Uint8Array[] = [];
  #length = 0;

  bytes(tag: number, value: Uint8Array): this {
    if (value.length > 0xffff)
      throw new RangeError(`field ${tag} is ${value.length} bytes; a field holds at most 65535`);
    const head = new Uint8Array(3);
    head[0] = tag;
    head[1] = value.length & 0xff;
    head[2] = value.length >> 8;
    this.#parts.push(head, value);
    this.#length += 3 + value.length;
    return this;
  }

  string(tag: number, value: string): this {
    return this.bytes(tag, encoder.encode(value));
  }

  u32(tag: number, value: number): this {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value >>> 0, true);
    return this.bytes(tag, bytes);
  }

  u64(tag: number, value: number | bigint): this {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(value), true);
    return this.bytes(tag, bytes);
  }

  u8(tag: number, value: number): this {
    return this.bytes(tag, Uint8Array.of(value));
  }

  u16(tag: number, value: number): this {
    return this.bytes(tag, Uint8Array.of(value & 0xff, (value >> 8) & 0xff));
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let at = 0;
    for (const part of this.#parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

/** The fields of a received control message, by tag. */
export class ParsedFields {
  readonly #fields: { tag: number; value: Uint8Array }[] = [];

  constructor(payload: Uint8Array) {
    let at = 0;
    while (at + 3 <= payload.length) {
      const tag = payload[at]!;
      const size = payload[at + 1]! | (payload[at + 2]! << 8);
      if (at + 3 + size > payload.length) break;
      this.#fields.push({ tag, value: payload.subarray(at + 3, at + 3 + size) });
      at += 3 + size;
    }
  }

  all(tag: number): Uint8Array[] {
    return this.#fields.filter((f) => f.tag === tag).map((f) => f.value);
  }

  /** Every field in the order it came (replies where one field says what the next ones are about). */
  ordered(): readonly { tag: number; value: Uint8Array }[] {
    return this.#fields;
  }

  bytes(tag: number): Uint8Array | undefined {
    return this.#fields.find((f) => f.tag === tag)?.value;
  }

  string(tag: number): string | undefined {
    const value = this.bytes(tag);
    return value && decoder.decode(value);
  }

  strings(tag: number): string[] {
    return this.all(tag).map((v) => decoder.decode(v));
  }

  u32(tag: number): number | undefined {
    const value = this.bytes(tag);
    return value?.length === 4 ? new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true) : undefined;
  }

  u64(tag: number): number | undefined {
    const value = this.bytes(tag);
    return value?.length === 8
      ? Number(new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0, true))
      : undefined;
  }
}
