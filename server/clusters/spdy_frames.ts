/**
 * SPDY/3.1 framing (the protocol Kubernetes' older streaming transport speaks): the binary layout of data and
 * control frames, and of the name/value header block inside SYN_STREAM, SYN_REPLY and HEADERS (kept
 * compressed here; spdy_zlib.ts compresses and expands it).
 *
 * Every frame has an 8-byte head. A control frame: bit 1, a 15-bit version (3), a 16-bit type, 8 bits of flags
 * and a 24-bit length. A data frame: bit 0, a 31-bit stream id, 8 bits of flags and a 24-bit length. All
 * numbers are big-endian.
 */

import { ByteQueue } from "./byte_queue.ts";

export const SPDY_VERSION = 3;
/** The largest payload a 24-bit length can state. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

/** FLAG_FIN on data, SYN_STREAM, SYN_REPLY and HEADERS frames: the sender's side of the stream is done. */
export const FLAG_FIN = 0x01;
/** FLAG_UNIDIRECTIONAL on SYN_STREAM: the receiver will not send on the stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;
/** FLAG_SETTINGS_CLEAR_SETTINGS on SETTINGS. */
export const FLAG_CLEAR_SETTINGS = 0x01;

/** RST_STREAM status codes. */
export const RstStatus = {
  ProtocolError: 1,
  InvalidStream: 2,
  RefusedStream: 3,
  UnsupportedVersion: 4,
  Cancel: 5,
  InternalError: 6,
  FlowControlError: 7,
  StreamInUse: 8,
  StreamAlreadyClosed: 9,
  FrameTooLarge: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { Ok: 0, ProtocolError: 1, InternalError: 2 } as const;

export const SettingId = { MaxConcurrentStreams: 4, InitialWindowSize: 7 } as const;

export interface SettingEntry {
  flags: number;
  id: number;
  value: number;
}

export type SpdyFrame =
  | { kind: "data"; streamId: number; fin: boolean; data: Uint8Array }
  | {
    kind: "syn_stream";
    streamId: number;
    associatedId: number;
    priority: number;
    fin: boolean;
    unidirectional: boolean;
    headerBlock: Uint8Array;
  }
  | { kind: "syn_reply"; streamId: number; fin: boolean; headerBlock: Uint8Array }
  | { kind: "rst_stream"; streamId: number; status: number }
  | { kind: "settings"; clear: boolean; entries: SettingEntry[] }
  | { kind: "ping"; id: number }
  | { kind: "goaway"; lastGoodStreamId: number; status: number }
  | { kind: "headers"; streamId: number; fin: boolean; headerBlock: Uint8Array }
  | { kind: "window_update"; streamId: number; delta: number }
  /** A control frame of a type SPDY/3.1 does not define; the spec says to ignore it. */
  | { kind: "unknown"; type: number; flags: number; payload: Uint8Array };

/** The peer broke the SPDY protocol (a malformed frame, an unsupported version, a bad header block). */
export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpdyProtocolError";
  }
}

// ---- encoding ----

const STREAM_ID_MASK = 0x7fffffff;

function checkStreamId(streamId: number, allowZero = false): void {
  if (!Number.isInteger(streamId) || streamId < (allowZero ? 0 : 1) || streamId > STREAM_ID_MASK) {
    throw new RangeError(`SPDY stream id ${streamId} is out of range`);
  }
}

function controlFrame(
  type: number,
  flags: number,
  payloadLength: number,
): { frame: Uint8Array; view: DataView } {
  if (payloadLength > MAX_FRAME_PAYLOAD) {
    throw new RangeError(`a SPDY frame payload of ${payloadLength} bytes`);
  }
  const frame = new Uint8Array(8 + payloadLength);
  const view = new DataView(frame.buffer);
  view.setUint16(0, 0x8000 | SPDY_VERSION);
  view.setUint16(2, type);
  view.setUint32(4, ((flags & 0xff) << 24 | payloadLength) >>> 0);
  return { frame, view };
}

/** A data frame carrying `parts` joined. */
export function encodeDataFrame(streamId: number, parts: readonly Uint8Array[], fin = false): Uint8Array {
  checkStreamId(streamId);
  let length = 0;
  for (const part of parts) length += part.length;
  if (length > MAX_FRAME_PAYLOAD) throw new RangeError(`a SPDY data frame of ${length} bytes`);
  const frame = new Uint8Array(8 + length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, streamId);
  view.setUint32(4, ((fin ? FLAG_FIN : 0) << 24 | length) >>> 0);
  let offset = 8;
  for (const part of parts) {
    frame.set(part, offset);
    offset += part.length;
  }
  return frame;
}

export interface SynStreamOptions {
  streamId: number;
  associatedId?: number;
  /** 0 (highest) to 7. */
  priority?: number;
  fin?: boolean;
  unidirectional?: boolean;
}

/** SYN_STREAM with an already compressed header block. */
export function encodeSynStream(options: SynStreamOptions, headerBlock: Uint8Array): Uint8Array {
  checkStreamId(options.streamId);
  checkStreamId(options.associatedId ?? 0, true);
  const flags = (options.fin ? FLAG_FIN : 0) | (options.unidirectional ? FLAG_UNIDIRECTIONAL : 0);
  const { frame, view } = controlFrame(FrameType.SynStream, flags, 10 + headerBlock.length);
  view.setUint32(8, options.streamId);
  view.setUint32(12, options.associatedId ?? 0);
  frame[16] = ((options.priority ?? 0) & 0x07) << 5;
  frame[17] = 0; // credential slot: unused
  frame.set(headerBlock, 18);
  return frame;
}

/** SYN_REPLY (or HEADERS, which has the same layout) with an already compressed header block. */
export function encodeSynReply(streamId: number, headerBlock: Uint8Array, fin = false): Uint8Array {
  return streamHeaderFrame(FrameType.SynReply, streamId, headerBlock, fin);
}

export function encodeHeaders(streamId: number, headerBlock: Uint8Array, fin = false): Uint8Array {
  return streamHeaderFrame(FrameType.Headers, streamId, headerBlock, fin);
}

function streamHeaderFrame(
  type: number,
  streamId: number,
  headerBlock: Uint8Array,
  fin: boolean,
): Uint8Array {
  checkStreamId(streamId);
  const { frame, view } = controlFrame(type, fin ? FLAG_FIN : 0, 4 + headerBlock.length);
  view.setUint32(8, streamId);
  frame.set(headerBlock, 12);
  return frame;
}

export function encodeRstStream(streamId: number, status: number): Uint8Array {
  checkStreamId(streamId);
  const { frame, view } = controlFrame(FrameType.RstStream, 0, 8);
  view.setUint32(8, streamId);
  view.setUint32(12, status);
  return frame;
}

export function encodeSettings(entries: readonly SettingEntry[], clear = false): Uint8Array {
  const { frame, view } = controlFrame(
    FrameType.Settings,
    clear ? FLAG_CLEAR_SETTINGS : 0,
    4 + 8 * entries.length,
  );
  view.setUint32(8, entries.length);
  entries.forEach((entry, i) => {
    view.setUint32(12 + 8 * i, ((entry.flags & 0xff) << 24 | (entry.id & 0xffffff)) >>> 0);
    view.setUint32(16 + 8 * i, entry.value >>> 0);
  });
  return frame;
}

export function encodePing(id: number): Uint8Array {
  const { frame, view } = controlFrame(FrameType.Ping, 0, 4);
  view.setUint32(8, id >>> 0);
  return frame;
}

export function encodeGoAway(lastGoodStreamId: number, status: number = GoAwayStatus.Ok): Uint8Array {
  checkStreamId(lastGoodStreamId, true);
  const { frame, view } = controlFrame(FrameType.GoAway, 0, 8);
  view.setUint32(8, lastGoodStreamId);
  view.setUint32(12, status);
  return frame;
}

/** WINDOW_UPDATE; stream 0 updates the session's window (SPDY/3.1). */
export function encodeWindowUpdate(streamId: number, delta: number): Uint8Array {
  checkStreamId(streamId, true);
  if (!Number.isInteger(delta) || delta < 1 || delta > STREAM_ID_MASK) {
    throw new RangeError(`a SPDY window update of ${delta}`);
  }
  const { frame, view } = controlFrame(FrameType.WindowUpdate, 0, 8);
  view.setUint32(8, streamId);
  view.setUint32(12, delta);
  return frame;
}

// ---- decoding ----

/**
 * Decodes one frame from its 8-byte head and its payload. Throws SpdyProtocolError for a control frame of
 * another version or one whose length does not fit its type.
 */
export function decodeFrame(head: Uint8Array, payload: Uint8Array): SpdyFrame {
  const headView = new DataView(head.buffer, head.byteOffset, 8);
  const first = headView.getUint32(0);
  const flags = head[4];
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  if ((first & 0x80000000) === 0) {
    return { kind: "data", streamId: first & STREAM_ID_MASK, fin: (flags & FLAG_FIN) !== 0, data: payload };
  }
  const version = (first >>> 16) & 0x7fff;
  if (version !== SPDY_VERSION) throw new SpdyProtocolError(`a control frame of SPDY version ${version}`);
  const type = first & 0xffff;
  const need = (bytes: number, exact = true) => {
    if (exact ? payload.length !== bytes : payload.length < bytes) {
      throw new SpdyProtocolError(
        `a SPDY control frame of type ${type} with a payload of ${payload.length} bytes`,
      );
    }
  };
  const fin = (flags & FLAG_FIN) !== 0;
  switch (type) {
    case FrameType.SynStream:
      need(10, false);
      return {
        kind: "syn_stream",
        streamId: view.getUint32(0) & STREAM_ID_MASK,
        associatedId: view.getUint32(4) & STREAM_ID_MASK,
        priority: payload[8] >> 5,
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: payload.subarray(10),
      };
    case FrameType.SynReply:
    case FrameType.Headers:
      need(4, false);
      return {
        kind: type === FrameType.SynReply ? "syn_reply" : "headers",
        streamId: view.getUint32(0) & STREAM_ID_MASK,
        fin,
        headerBlock: payload.subarray(4),
      };
    case FrameType.RstStream:
      need(8);
      return { kind: "rst_stream", streamId: view.getUint32(0) & STREAM_ID_MASK, status: view.getUint32(4) };
    case FrameType.Settings: {
      need(4, false);
      const count = view.getUint32(0);
      need(4 + 8 * count);
      const entries: SettingEntry[] = [];
      for (let i = 0; i < count; i++) {
        const word = view.getUint32(4 + 8 * i);
        entries.push({ flags: word >>> 24, id: word & 0xffffff, value: view.getUint32(8 + 8 * i) });
      }
      return { kind: "settings", clear: (flags & FLAG_CLEAR_SETTINGS) !== 0, entries };
    }
    case FrameType.Ping:
      need(4);
      return { kind: "ping", id: view.getUint32(0) };
    case FrameType.GoAway:
      need(8);
      return {
        kind: "goaway",
        lastGoodStreamId: view.getUint32(0) & STREAM_ID_MASK,
        status: view.getUint32(4),
      };
    case FrameType.WindowUpdate:
      need(8);
      return {
        kind: "window_update",
        streamId: view.getUint32(0) & STREAM_ID_MASK,
        delta: view.getUint32(4) & STREAM_ID_MASK,
      };
    default:
      return { kind: "unknown", type, flags, payload };
  }
}

/**
 * Cuts a byte stream into frames: push() what arrives, then next() until it returns undefined. A payload is
 * returned without copying when it lies within one received chunk.
 */
export class FrameReader {
  readonly #maxPayload: number;
  #received = new ByteQueue();

  constructor(maxPayload = MAX_FRAME_PAYLOAD) {
    this.#maxPayload = maxPayload;
  }

  get bufferedBytes(): number {
    return this.#received.length;
  }

  push(chunk: Uint8Array): void {
    this.#received.push(chunk);
  }

  /** The next complete frame, or undefined while more bytes are needed. */
  next(): SpdyFrame | undefined {
    if (this.#received.length < 8) return undefined;
    const head = this.#received.peek(8);
    const length = ((head[5] << 16) | (head[6] << 8) | head[7]) >>> 0;
    if (length > this.#maxPayload) {
      throw new SpdyProtocolError(`a SPDY frame of ${length} bytes exceeds the limit of ${this.#maxPayload}`);
    }
    if (this.#received.length < 8 + length) return undefined;
    const headCopy = head.slice();
    this.#received.consume(8);
    const payload = this.#received.peek(length);
    this.#received.consume(length);
    return decodeFrame(headCopy, payload);
  }
}

// ---- header blocks (uncompressed) ----

/** Header names as SPDY/3 requires them: lower case; a name's values are joined by NUL in one entry. */
export type HeaderList = readonly (readonly [string, string])[];

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The name/value block: a 32-bit count, then per entry a 32-bit name length, the name, a 32-bit value length
 * and the value. Repeated names become one entry with NUL-separated values.
 */
export function encodeHeaderBlock(headers: HeaderList): Uint8Array {
  const merged = new Map<string, string[]>();
  for (const [name, value] of headers) {
    if (name === "" || name !== name.toLowerCase()) {
      throw new TypeError(`SPDY header names must be non-empty and lower case: ${JSON.stringify(name)}`);
    }
    if (value.includes("\0")) {
      throw new TypeError(`a SPDY header value holds a NUL: ${JSON.stringify(value)}`);
    }
    const values = merged.get(name) ?? [];
    values.push(value);
    merged.set(name, values);
  }
  const entries = [...merged].map((
    [name, values],
  ) => [encoder.encode(name), encoder.encode(values.join("\0"))]);
  const length = entries.reduce((sum, [name, value]) => sum + 8 + name.length + value.length, 4);
  const block = new Uint8Array(length);
  const view = new DataView(block.buffer);
  view.setUint32(0, entries.length);
  let offset = 4;
  for (const [name, value] of entries) {
    view.setUint32(offset, name.length);
    block.set(name, offset + 4);
    offset += 4 + name.length;
    view.setUint32(offset, value.length);
    block.set(value, offset + 4);
    offset += 4 + value.length;
  }
  return block;
}

/** Parses an uncompressed name/value block into lower-case names and their values. */
export function decodeHeaderBlock(block: Uint8Array): Map<string, string[]> {
  const view = new DataView(block.buffer, block.byteOffset, block.length);
  let offset = 0;
  const readString = (what: string): string => {
    if (offset + 4 > block.length) {
      throw new SpdyProtocolError(`a SPDY header block ends inside a ${what} length`);
    }
    const length = view.getUint32(offset);
    offset += 4;
    if (offset + length > block.length) {
      throw new SpdyProtocolError(`a SPDY header ${what} runs past its block`);
    }
    const bytes = block.subarray(offset, offset + length);
    offset += length;
    try {
      return decoder.decode(bytes);
    } catch {
      throw new SpdyProtocolError(`a SPDY header ${what} is not UTF-8`);
    }
  };
  if (block.length < 4) throw new SpdyProtocolError("a SPDY header block without its entry count");
  const count = view.getUint32(0);
  offset = 4;
  const headers = new Map<string, string[]>();
  for (let i = 0; i < count; i++) {
    const name = readString("name").toLowerCase();
    const values = readString("value").split("\0");
    headers.set(name, [...(headers.get(name) ?? []), ...values]);
  }
  if (offset !== block.length) throw new SpdyProtocolError("a SPDY header block has bytes after its entries");
  return headers;
}
