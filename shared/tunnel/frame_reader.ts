import {
  decodeHeader,
  describeHeader,
  type FrameHeader,
  FrameType,
  HEADER_SIZE,
  ProtocolError,
} from "./frame.ts";

export type FrameHandler = (header: FrameHeader, payload: Uint8Array) => void;

const NO_PAYLOAD = new Uint8Array(0);

/**
 * Cuts the socket's byte chunks into frames. A Data payload is handed over whole, so the reader holds at most
 * one frame; `maxPayload` rejects a length no stream window could ever allow before buffering any of it.
 */
export class FrameReader {
  readonly #onFrame: FrameHandler;
  readonly #maxPayload: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #header: FrameHeader | null = null;

  constructor(onFrame: FrameHandler, maxPayload: number) {
    this.#onFrame = onFrame;
    this.#maxPayload = maxPayload;
  }

  /** Throws ProtocolError on a malformed header; the caller must then stop feeding this reader. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (true) {
      if (this.#header === null) {
        if (this.#buffered < HEADER_SIZE) return;
        const header = decodeHeader(this.#take(HEADER_SIZE));
        if (header.type === FrameType.Data && header.length > this.#maxPayload) {
          throw new ProtocolError(`data frame larger than any window (${describeHeader(header)})`);
        }
        this.#header = header;
      }
      const header = this.#header;
      const payloadLength = header.type === FrameType.Data ? header.length : 0;
      if (this.#buffered < payloadLength) return;
      const payload = payloadLength > 0 ? this.#take(payloadLength) : NO_PAYLOAD;
      this.#header = null;
      this.#onFrame(header, payload);
    }
  }

  /** Bytes received but not yet handed out as a frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  #take(length: number): Uint8Array {
    this.#buffered -= length;
    const first = this.#chunks[0];
    if (first.length > length) {
      this.#chunks[0] = first.subarray(length);
      return first.subarray(0, length);
    }
    if (first.length === length) {
      this.#chunks.shift();
      return first;
    }
    const joined = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.#chunks[0];
      const wanted = length - filled;
      if (chunk.length > wanted) {
        joined.set(chunk.subarray(0, wanted), filled);
        this.#chunks[0] = chunk.subarray(wanted);
        filled = length;
      } else {
        joined.set(chunk, filled);
        this.#chunks.shift();
        filled += chunk.length;
      }
    }
    return joined;
  }
}
