/**
 * yamux frame header codec (hashicorp/yamux spec.md): a 12-byte big-endian header of version, type, flags,
 * stream id and length. For Data frames the length counts the payload that follows; for WindowUpdate it is a
 * window delta, for Ping an opaque value and for GoAway an error code.
 */

export const PROTOCOL_VERSION = 0;
export const HEADER_SIZE = 12;
/** Every stream starts with this receive window on both sides (spec: "256KB"). */
export const INITIAL_STREAM_WINDOW = 256 * 1024;

export const FrameType = { Data: 0, WindowUpdate: 1, Ping: 2, GoAway: 3 } as const;
export type FrameType = typeof FrameType[keyof typeof FrameType];

export const Flag = { SYN: 0x1, ACK: 0x2, FIN: 0x4, RST: 0x8 } as const;

export const GoAwayCode = { Normal: 0, ProtocolError: 1, InternalError: 2 } as const;
export type GoAwayCode = typeof GoAwayCode[keyof typeof GoAwayCode];

export interface FrameHeader {
  type: FrameType;
  flags: number;
  streamId: number;
  length: number;
}

/** The peer broke the protocol; the session answers with GoAway(ProtocolError) and closes. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(`yamux protocol error: ${message}`);
    this.name = "ProtocolError";
  }
}

export function encodeHeader(header: FrameHeader, target: Uint8Array = new Uint8Array(HEADER_SIZE), at = 0) {
  const view = new DataView(target.buffer, target.byteOffset + at, HEADER_SIZE);
  view.setUint8(0, PROTOCOL_VERSION);
  view.setUint8(1, header.type);
  view.setUint16(2, header.flags);
  view.setUint32(4, header.streamId);
  view.setUint32(8, header.length);
  return target;
}

export function decodeHeader(bytes: Uint8Array): FrameHeader {
  if (bytes.length < HEADER_SIZE) {
    throw new RangeError(`yamux header needs ${HEADER_SIZE} bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const version = view.getUint8(0);
  if (version !== PROTOCOL_VERSION) throw new ProtocolError(`unsupported version ${version}`);
  const type = view.getUint8(1);
  if (type > FrameType.GoAway) throw new ProtocolError(`unknown frame type ${type}`);
  return {
    type: type as FrameType,
    flags: view.getUint16(2),
    streamId: view.getUint32(4),
    length: view.getUint32(8),
  };
}

export function describeHeader(header: FrameHeader): string {
  const type = Object.entries(FrameType).find(([, value]) => value === header.type)?.[0];
  const flags = Object.entries(Flag).filter(([, bit]) => header.flags & bit).map(([name]) => name);
  return `${type} stream=${header.streamId} flags=${flags.join("|") || "-"} length=${header.length}`;
}
