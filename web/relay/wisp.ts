// The Wisp protocol's frames (version 1, the one v86's network adapter speaks): many TCP or UDP streams multiplexed
// over one WebSocket. Every frame is one binary WebSocket message: type (u8), stream id (u32 little-endian), payload.
// No Node APIs here, so a test client or a benchmark can use the same encoder as the server.

export const PacketType = { connect: 0x01, data: 0x02, continue: 0x03, close: 0x04, info: 0x05 } as const;

export const StreamType = { tcp: 0x01, udp: 0x02 } as const;

/** The close reasons of the Wisp specification that the relay sends. */
export const CloseReason = {
  unknown: 0x01,
  voluntary: 0x02,
  networkError: 0x03,
  invalidInfo: 0x41,
  unreachable: 0x42,
  noResponse: 0x43,
  refused: 0x44,
  transferTimeout: 0x47,
  /** The destination is blocked by the relay's rules (allowlist, address checks, ports, UDP). */
  blocked: 0x48,
  /** The client went over one of the relay's rate limits. */
  throttled: 0x49,
} as const;

export type CloseReasonCode = (typeof CloseReason)[keyof typeof CloseReason];

/** A reason code as words, for logs and traces. */
export function describeCloseReason(code: number): string {
  switch (code) {
    case CloseReason.unknown:
      return "closed (reason unspecified)";
    case CloseReason.voluntary:
      return "closed";
    case CloseReason.networkError:
      return "network error";
    case CloseReason.invalidInfo:
      return "invalid stream request";
    case CloseReason.unreachable:
      return "destination unreachable";
    case CloseReason.noResponse:
      return "destination did not answer";
    case CloseReason.refused:
      return "destination refused the connection";
    case CloseReason.transferTimeout:
      return "transfer timed out";
    case CloseReason.blocked:
      return "blocked by the relay's rules";
    case CloseReason.throttled:
      return "throttled by the relay's rate limits";
    default:
      return `closed with reason 0x${code.toString(16)}`;
  }
}

export type WispPacket =
  | { type: "connect"; streamId: number; streamType: number; port: number; hostname: string }
  | { type: "data"; streamId: number; data: Uint8Array }
  | { type: "continue"; streamId: number; remaining: number }
  | { type: "close"; streamId: number; reason: number }
  | { type: "info"; streamId: number; major: number; minor: number };

export class WispProtocolError extends Error {
  override name = "WispProtocolError";
}

const HEADER = 5;

/** Reads one frame. Throws WispProtocolError for a frame too short for its type or of an unknown type. */
export function decodePacket(frame: Uint8Array): WispPacket {
  if (frame.length < HEADER) throw new WispProtocolError(`a Wisp frame of ${frame.length} bytes is too short`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const streamId = view.getUint32(1, true);
  switch (frame[0]) {
    case PacketType.connect: {
      if (frame.length < HEADER + 3) throw new WispProtocolError("a CONNECT frame without its port");
      const hostname = new TextDecoder("utf-8", { fatal: false }).decode(frame.subarray(HEADER + 3));
      return {
        type: "connect",
        streamId,
        streamType: frame[HEADER]!,
        port: view.getUint16(HEADER + 1, true),
        hostname,
      };
    }
    case PacketType.data:
      return { type: "data", streamId, data: frame.subarray(HEADER) };
    case PacketType.continue:
      if (frame.length < HEADER + 4) throw new WispProtocolError("a CONTINUE frame without its count");
      return { type: "continue", streamId, remaining: view.getUint32(HEADER, true) };
    case PacketType.close:
      if (frame.length < HEADER + 1) throw new WispProtocolError("a CLOSE frame without its reason");
      return { type: "close", streamId, reason: frame[HEADER]! };
    case PacketType.info:
      return { type: "info", streamId, major: frame[HEADER] ?? 0, minor: frame[HEADER + 1] ?? 0 };
    default:
      throw new WispProtocolError(`unknown Wisp frame type 0x${frame[0]!.toString(16)}`);
  }
}

function header(type: number, streamId: number, payloadLength: number): { frame: Uint8Array; view: DataView } {
  const frame = new Uint8Array(HEADER + payloadLength);
  const view = new DataView(frame.buffer);
  frame[0] = type;
  view.setUint32(1, streamId, true);
  return { frame, view };
}

export function encodeConnect(streamId: number, streamType: number, hostname: string, port: number): Uint8Array {
  const name = new TextEncoder().encode(hostname);
  const { frame, view } = header(PacketType.connect, streamId, 3 + name.length);
  frame[HEADER] = streamType;
  view.setUint16(HEADER + 1, port, true);
  frame.set(name, HEADER + 3);
  return frame;
}

export function encodeData(streamId: number, data: Uint8Array): Uint8Array {
  const { frame } = header(PacketType.data, streamId, data.length);
  frame.set(data, HEADER);
  return frame;
}

export function encodeContinue(streamId: number, remaining: number): Uint8Array {
  const { frame, view } = header(PacketType.continue, streamId, 4);
  view.setUint32(HEADER, remaining, true);
  return frame;
}

export function encodeClose(streamId: number, reason: number): Uint8Array {
  const { frame } = header(PacketType.close, streamId, 1);
  frame[HEADER] = reason;
  return frame;
}
