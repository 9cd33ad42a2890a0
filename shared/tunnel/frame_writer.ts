import type { Writable } from "node:stream";
import { encodeHeader, type FrameHeader, FrameType, HEADER_SIZE } from "./frame.ts";

/** Largest Data payload sent in one frame, so streams take turns in small slices. */
export const MAX_DATA_FRAME = 64 * 1024;
/** Bytes gathered into one socket write; control frames never wait behind more than about this much. */
const BATCH_BYTES = 256 * 1024;

/** A stream with bytes to send; it decides how much its send window allows. */
export interface DataSource {
  /** The next payload slice (at most `limit` bytes), or null when it has nothing it may send now. */
  takeData(limit: number): { streamId: number; payload: Uint8Array } | null;
  hasSendableData(): boolean;
}

/**
 * The one writer of a session's socket. Control frames (acks, window updates, pings, resets, go-away) go out
 * first; Data is taken round-robin, one slice per stream per turn, so one busy stream cannot starve the others.
 * It writes one batch at a time and waits for 'drain' when the socket reports backpressure.
 */
export class FrameWriter {
  readonly #socket: Writable;
  #control: FrameHeader[] = [];
  #ready: DataSource[] = [];
  #readySet = new Set<DataSource>();
  #flushScheduled = false;
  #awaitingDrain = false;
  #stopped = false;
  #bytesWritten = 0;
  readonly #onDrain = () => {
    this.#awaitingDrain = false;
    this.flush();
  };

  constructor(socket: Writable) {
    this.#socket = socket;
    socket.on("drain", this.#onDrain);
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  get controlBacklog(): number {
    return this.#control.length;
  }

  sendControl(header: FrameHeader): void {
    if (this.#stopped) return;
    this.#control.push(header);
    this.#scheduleFlush();
  }

  /** A source got data or window; it is served on a later turn. */
  wake(source: DataSource): void {
    if (this.#stopped || this.#readySet.has(source)) return;
    this.#readySet.add(source);
    this.#ready.push(source);
    this.#scheduleFlush();
  }

  /** Writes everything the socket will take now. */
  flush(): void {
    while (!this.#awaitingDrain && !this.#stopped && this.#socket.writable) {
      const batch = this.#nextBatch();
      if (batch === null) return;
      this.#bytesWritten += batch.length;
      if (!this.#socket.write(batch)) this.#awaitingDrain = true;
    }
  }

  /** Writes the queued control frames even past backpressure (the socket buffers them), then stops for good. */
  stopAfterControl(): void {
    if (this.#stopped) return;
    if (this.#control.length > 0 && this.#socket.writable) {
      const batch = this.#encode(this.#control.splice(0), []);
      this.#bytesWritten += batch.length;
      this.#socket.write(batch);
    }
    this.stop();
  }

  stop(): void {
    this.#stopped = true;
    this.#control = [];
    this.#ready = [];
    this.#readySet.clear();
    this.#socket.off("drain", this.#onDrain);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Coalesce everything queued during the current task into few socket writes.
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.flush();
    });
  }

  #nextBatch(): Uint8Array | null {
    const control = this.#control.splice(0);
    const data: { streamId: number; payload: Uint8Array }[] = [];
    let size = control.length * HEADER_SIZE;
    while (size < BATCH_BYTES && this.#ready.length > 0) {
      const source = this.#ready.shift()!;
      this.#readySet.delete(source);
      const slice = source.takeData(MAX_DATA_FRAME);
      if (slice !== null) {
        data.push(slice);
        size += HEADER_SIZE + slice.payload.length;
      }
      if (source.hasSendableData()) this.wake(source);
    }
    if (control.length === 0 && data.length === 0) return null;
    return this.#encode(control, data);
  }

  #encode(control: FrameHeader[], data: { streamId: number; payload: Uint8Array }[]): Uint8Array {
    let size = control.length * HEADER_SIZE;
    for (const slice of data) size += HEADER_SIZE + slice.payload.length;
    const batch = new Uint8Array(size);
    let at = 0;
    for (const header of control) {
      encodeHeader(header, batch, at);
      at += HEADER_SIZE;
    }
    for (const { streamId, payload } of data) {
      encodeHeader({ type: FrameType.Data, flags: 0, streamId, length: payload.length }, batch, at);
      batch.set(payload, at + HEADER_SIZE);
      at += HEADER_SIZE + payload.length;
    }
    return batch;
  }
}
