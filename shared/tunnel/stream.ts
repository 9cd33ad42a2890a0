import { Duplex } from "node:stream";
import { Flag, type FrameHeader, FrameType, INITIAL_STREAM_WINDOW } from "./frame.ts";
import type { DataSource } from "./frame_writer.ts";
import { concatBytes } from "../bytes.ts";

/** What a stream needs from its session; the session implements it. */
export interface StreamHost {
  /** Receive window each stream advertises (fixed, ≥ INITIAL_STREAM_WINDOW). */
  readonly streamWindow: number;
  /** How long a stream destroyed locally waits for the peer's FIN before resetting it. */
  readonly streamCloseTimeoutMs: number;
  /** The session's socket, for the address getters node:http reads. */
  readonly socket: SocketAddresses;
  sendControl(header: FrameHeader): void;
  wantsToSend(stream: YamuxStream): void;
  /** The stream is finished on the wire; drop it from the session's table. */
  release(stream: YamuxStream): void;
  /** Set once the session is closed, so writes fail fast. */
  closedError(): Error | undefined;
}

export interface SocketAddresses {
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
  localAddress?: string;
  localPort?: number;
}

/** The error a stream is destroyed with when the peer resets it; `code` matches what node:http expects. */
export class StreamResetError extends Error {
  readonly code = "ECONNRESET";
  constructor(streamId: number, detail: string) {
    super(`yamux stream ${streamId} ${detail}`);
    this.name = "StreamResetError";
  }
}

// Small enough that a consumer calling read() always leaves room to grant at least half a window (see #credit).
const READ_HIGH_WATER_MARK = 64 * 1024;

/**
 * One yamux stream as a node Duplex, usable as a socket by node:http (client `createConnection`, server
 * `emit("connection")`).
 *
 * Receive side: frames are queued here and handed to the Readable as it asks for data. Credit (window
 * updates) is granted only for bytes the consumer has taken out of the Readable, so a stream never holds
 * more than the window it advertised; a slow reader stalls only its own sender.
 * Send side: one chunk at a time is offered to the session's writer, bounded by the peer's window.
 */
export class YamuxStream extends Duplex implements DataSource {
  readonly id: number;
  /** Payload bytes received / sent on this stream. */
  bytesRead = 0;
  bytesWritten = 0;
  readonly connecting = false;
  readonly pending = false;

  readonly #host: StreamHost;
  // receive side
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #recvWindow = INITIAL_STREAM_WINDOW;
  #readRequested = false;
  #creditScheduled = false;
  #remoteFin = false;
  #discarding = false;
  // send side
  #sendWindow = INITIAL_STREAM_WINDOW;
  #pending: Uint8Array | null = null;
  #pendingOffset = 0;
  #pendingCallback: ((error?: Error | null) => void) | null = null;
  #finSent = false;
  #reset = false;
  #released = false;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  // node:net style idle timeout
  #idleTimeoutMs = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lastActivity = 0;

  /**
   * Created by the session only; `openingFlag` is SYN for a stream we open, ACK for one we accept.
   * `allowHalfOpen` false (as for net.Socket) ends our side when the peer's FIN arrives: node:http's agent
   * relies on that to drop a pooled connection the server closed, instead of reusing a half-closed one.
   */
  constructor(host: StreamHost, id: number, openingFlag: number, allowHalfOpen: boolean) {
    super({ allowHalfOpen, readableHighWaterMark: READ_HIGH_WATER_MARK });
    this.#host = host;
    this.id = id;
    const delta = host.streamWindow - INITIAL_STREAM_WINDOW;
    this.#recvWindow += delta;
    host.sendControl({ type: FrameType.WindowUpdate, flags: openingFlag, streamId: id, length: delta });
  }

  /** Bytes received and not yet taken by the consumer (our queue plus the Readable's buffer). */
  get bufferedBytes(): number {
    return this.#queuedBytes + (this.destroyed ? 0 : this.readableLength);
  }

  // ---- frames from the session (these and the DataSource methods are for the session only) ----

  /** Returns false if the peer overran the window we advertised (a protocol error). */
  receiveData(payload: Uint8Array): boolean {
    if (payload.length > this.#recvWindow) return false;
    this.#recvWindow -= payload.length;
    this.bytesRead += payload.length;
    if (this.#discarding || this.#remoteFin) {
      // Nobody will read these (destroyed locally, or sent after the peer's own FIN). While the peer may still
      // FIN, keep granting credit so it is not stuck writing into a stream we abandoned.
      this.#scheduleCredit();
      return true;
    }
    this.#touch();
    // A small payload cut from a large socket chunk would keep the whole chunk alive while it waits here.
    if (payload.byteLength * 4 < payload.buffer.byteLength) payload = payload.slice();
    this.#queue.push(payload);
    this.#queuedBytes += payload.length;
    if (this.#readRequested) this.#deliver();
    return true;
  }

  receiveWindowUpdate(delta: number): void {
    this.#sendWindow += delta;
    if (this.#pending !== null && this.#sendWindow > 0) this.#host.wantsToSend(this);
  }

  receiveFin(): void {
    if (this.#remoteFin) return;
    this.#remoteFin = true;
    if (this.#finSent || this.#discarding) this.#finishWire();
    this.#deliver();
  }

  receiveReset(): void {
    this.#reset = true;
    this.#finishWire();
    this.destroy(new StreamResetError(this.id, "reset by peer"));
  }

  /**
   * The session is gone: destroy without sending anything. Without an error (a normal close) the stream
   * just closes, like http2 streams on session.destroy(); readers still see that 'end' never came.
   */
  abort(error: Error | undefined): void {
    this.#reset = true;
    this.#finishWire();
    this.destroy(error);
  }

  // ---- DataSource for the session's writer ----

  takeData(limit: number): { streamId: number; payload: Uint8Array } | null {
    const pending = this.#pending;
    if (pending === null || this.#sendWindow <= 0) return null;
    const size = Math.min(limit, this.#sendWindow, pending.length - this.#pendingOffset);
    const payload = pending.subarray(this.#pendingOffset, this.#pendingOffset + size);
    this.#pendingOffset += size;
    this.#sendWindow -= size;
    this.bytesWritten += size;
    this.#touch();
    if (this.#pendingOffset === pending.length) {
      const callback = this.#pendingCallback!;
      this.#pending = null;
      this.#pendingCallback = null;
      // After the writer has put this slice into the socket write it is building.
      queueMicrotask(() => callback());
    }
    return { streamId: this.id, payload };
  }

  hasSendableData(): boolean {
    return this.#pending !== null && this.#sendWindow > 0;
  }

  // ---- Duplex implementation ----

  override _read(): void {
    this.#readRequested = true;
    this.#deliver();
  }

  override _write(chunk: Uint8Array, _encoding: string, callback: (error?: Error | null) => void): void {
    const error = this.#writeError();
    if (error) return callback(error);
    if (chunk.length === 0) return callback();
    this.#pending = chunk;
    this.#pendingOffset = 0;
    this.#pendingCallback = callback;
    this.#host.wantsToSend(this);
  }

  /**
   * Chunks that queued up while a write was under way (node:http corks a response's head and first body
   * bytes together) leave as one payload: one frame and one TLS record instead of one each, and no wait
   * for the first to be sent before the second is offered.
   */
  override _writev(
    chunks: { chunk: Uint8Array }[],
    callback: (error?: Error | null) => void,
  ): void {
    this._write(
      chunks.length === 1 ? chunks[0].chunk : concatBytes(chunks.map((c) => c.chunk)),
      "",
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    const error = this.#writeError();
    if (error) return callback(error);
    this.#sendFin();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#stopIdleTimer();
    const unsent = this.#pending !== null || this.writableLength > 0;
    if (this.#pendingCallback) {
      const pendingCallback = this.#pendingCallback;
      this.#pending = null;
      this.#pendingCallback = null;
      queueMicrotask(() => pendingCallback(error ?? new Error(`yamux stream ${this.id} destroyed`)));
    }
    this.#queue = [];
    this.#queuedBytes = 0;
    if (!this.#released) {
      if (error || unsent) {
        // An error, or bytes that will never be sent: the peer must not mistake this for a clean end.
        this.#sendReset();
      } else {
        // A plain destroy() is a graceful close (FIN), not RST: a reset would make the peer drop data it has
        // received but not yet read. Keep the read side open just to discard until the peer's FIN.
        this.#sendFin();
        this.#discarding = true;
        if (this.#remoteFin) this.#finishWire();
        else this.#startLinger();
        this.#scheduleCredit();
      }
    }
    callback(error);
  }

  // ---- node:net Socket shims that node:http relies on ----

  setTimeout(ms: number, callback?: () => void): this {
    this.#idleTimeoutMs = ms;
    this.#stopIdleTimer();
    if (callback) {
      if (ms === 0) this.off("timeout", callback);
      else this.once("timeout", callback);
    }
    if (ms > 0 && !this.destroyed) {
      this.#lastActivity = performance.now();
      this.#armIdleTimer(ms);
    }
    return this;
  }

  get timeout(): number {
    return this.#idleTimeoutMs;
  }

  setNoDelay(_noDelay?: boolean): this {
    return this; // the session's socket carries TCP_NODELAY for all streams
  }

  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this; // the session's pings are the keepalive
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", () => this.destroy());
  }

  address(): { address?: string; port?: number; family?: string } {
    const socket = this.#host.socket;
    return { address: socket.localAddress, port: socket.localPort, family: socket.remoteFamily };
  }

  get remoteAddress(): string | undefined {
    return this.#host.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#host.socket.remotePort;
  }

  get remoteFamily(): string | undefined {
    return this.#host.socket.remoteFamily;
  }

  get localAddress(): string | undefined {
    return this.#host.socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.#host.socket.localPort;
  }

  get readyState(): string {
    if (this.readable && this.writable) return "open";
    if (this.readable) return "readOnly";
    if (this.writable) return "writeOnly";
    return "closed";
  }

  // ---- internals ----

  #deliver(): void {
    if (this.destroyed) return;
    while (this.#readRequested && this.#queue.length > 0 && !this.destroyed) {
      const chunk = this.#queue.shift()!;
      this.#queuedBytes -= chunk.length;
      this.#readRequested = this.push(chunk);
    }
    if (this.#queue.length === 0 && this.#remoteFin) this.push(null);
    this.#scheduleCredit();
  }

  #scheduleCredit(): void {
    if (this.#creditScheduled) return;
    this.#creditScheduled = true;
    // Deferred: Readable calls _read before it removes the bytes being read, so measure once that is done.
    queueMicrotask(() => {
      this.#creditScheduled = false;
      this.#credit();
    });
  }

  /**
   * Grants the peer credit up to one window beyond what we still hold, once that adds at least half a window
   * (as hashicorp/yamux does), so updates stay rare. Window updates after the peer's FIN would only be noise.
   */
  #credit(): void {
    if (this.#remoteFin || this.#released) return;
    const window = this.#host.streamWindow;
    const delta = window - this.bufferedBytes - this.#recvWindow;
    if (delta < window / 2) return;
    this.#recvWindow += delta;
    this.#host.sendControl({ type: FrameType.WindowUpdate, flags: 0, streamId: this.id, length: delta });
  }

  #writeError(): Error | undefined {
    const sessionError = this.#host.closedError();
    if (sessionError) return sessionError;
    if (this.#reset) return new StreamResetError(this.id, "was reset");
    return undefined;
  }

  #sendFin(): void {
    if (this.#finSent || this.#released) return;
    this.#finSent = true;
    this.#host.sendControl({ type: FrameType.WindowUpdate, flags: Flag.FIN, streamId: this.id, length: 0 });
    if (this.#remoteFin) this.#finishWire();
  }

  #sendReset(): void {
    if (this.#released) return;
    this.#reset = true;
    this.#host.sendControl({ type: FrameType.WindowUpdate, flags: Flag.RST, streamId: this.id, length: 0 });
    this.#finishWire();
  }

  #startLinger(): void {
    const timeoutMs = this.#host.streamCloseTimeoutMs;
    if (timeoutMs <= 0) return;
    // A peer that never sends FIN must not pin this stream in the session forever.
    this.#lingerTimer = setTimeout(() => {
      this.#lingerTimer = undefined;
      this.#sendReset();
    }, timeoutMs);
  }

  #finishWire(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#lingerTimer !== undefined) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    this.#host.release(this);
  }

  #touch(): void {
    if (this.#idleTimeoutMs === 0) return;
    this.#lastActivity = performance.now();
    if (this.#idleTimer === undefined && !this.destroyed) this.#armIdleTimer(this.#idleTimeoutMs);
  }

  #armIdleTimer(delayMs: number): void {
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      const idleMs = performance.now() - this.#lastActivity;
      if (idleMs >= this.#idleTimeoutMs) this.emit("timeout");
      else this.#armIdleTimer(this.#idleTimeoutMs - idleMs);
    }, delayMs);
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}
