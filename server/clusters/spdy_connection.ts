/**
 * The client side of a SPDY/3.1 session over any node Duplex (a tunnel stream to a cluster's agent, whose
 * apiserver passes the connection through to the kubelet): streams opened with SYN_STREAM and answered by
 * SYN_REPLY, data frames both ways, half-close by FIN, RST_STREAM, PING answers, GOAWAY, and one header
 * compression context per direction.
 *
 * Flow control: Kubernetes' SPDY peers (moby/spdystream) neither send WINDOW_UPDATE nor honour it, so this
 * side does not stop sending when a 64 KiB window is spent (it would stall for good); it does send
 * WINDOW_UPDATE for what its reader has taken, as SPDY/3.1 asks of a receiver. The real brake is the
 * transport: the socket is paused while the reader is behind (pause/resume), and writes resolve only once
 * the socket has taken them.
 */
import type { Duplex } from "node:stream";
import {
  decodeHeaderBlock,
  encodeDataFrame,
  encodeGoAway,
  encodeHeaderBlock,
  encodePing,
  encodeRstStream,
  encodeSynStream,
  encodeWindowUpdate,
  FrameReader,
  GoAwayStatus,
  type HeaderList,
  RstStatus,
  type SpdyFrame,
  SpdyProtocolError,
} from "./spdy_frames.ts";
import { HeaderCompressor, HeaderDecompressor } from "./spdy_zlib.ts";

/** SPDY/3.1's initial flow-control window; WINDOW_UPDATE is sent once half of it has been read. */
const INITIAL_WINDOW = 64 * 1024;
const WINDOW_UPDATE_THRESHOLD = INITIAL_WINDOW / 2;

/** A stream was reset by the peer. */
export class SpdyStreamResetError extends Error {
  constructor(readonly streamId: number, readonly status: number) {
    super(`the server reset SPDY stream ${streamId} (status ${status})`);
    this.name = "SpdyStreamResetError";
  }
}

/** The session is closed or closing; nothing more can be sent. */
export class SpdyClosedError extends Error {
  constructor(message = "the SPDY connection is closed") {
    super(message);
    this.name = "SpdyClosedError";
  }
}

export interface SpdyStreamHandlers {
  /** Data that arrived on the stream, in order. */
  onData(data: Uint8Array): void;
  /**
   * The peer is done sending: FIN (no arguments), RST_STREAM (its status), or the session ended (`error` when
   * it failed). Called at most once.
   */
  onRemoteEnd(resetStatus?: number, error?: Error): void;
}

export class SpdyStream {
  /** Settles with the SYN_REPLY's headers, or rejects when the stream is reset or the session ends first. */
  readonly reply: Promise<Map<string, string[]>>;
  remoteEnded = false;
  localEnded = false;
  /** Bytes taken by the reader not yet returned to the peer's window. */
  unacknowledged = 0;
  settleReply!: { resolve: (headers: Map<string, string[]>) => void; reject: (error: Error) => void };

  constructor(readonly id: number, readonly handlers: SpdyStreamHandlers) {
    this.reply = new Promise((resolve, reject) => (this.settleReply = { resolve, reject }));
    // A reply nobody waits for must not become an unhandled rejection.
    this.reply.catch(() => {});
  }

  endRemote(resetStatus?: number, error?: Error): void {
    if (this.remoteEnded) return;
    this.remoteEnded = true;
    this.handlers.onRemoteEnd(resetStatus, error);
  }
}

export interface SpdySessionEnd {
  /** Set when the session failed (protocol error, transport error, cut without GOAWAY). */
  error?: Error;
  /** The peer sent GOAWAY before the end. */
  goneAway: boolean;
}

export class SpdyConnection {
  /** Settles once the transport has closed. */
  readonly closed: Promise<SpdySessionEnd>;

  readonly #socket: Duplex;
  readonly #reader = new FrameReader();
  readonly #compressor = new HeaderCompressor();
  readonly #decompressor = new HeaderDecompressor();
  readonly #streams = new Map<number, SpdyStream>();
  #nextStreamId = 1;
  #headerWrites: Promise<void> = Promise.resolve();
  #pumping = false;
  #pumpRun: Promise<void> = Promise.resolve();
  #inputEnded = false;
  #goneAway = false;
  #goAwaySent = false;
  #end: SpdySessionEnd | undefined;
  #sessionUnacknowledged = 0;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #resolveClosed!: (end: SpdySessionEnd) => void;

  constructor(socket: Duplex, rest: Uint8Array = new Uint8Array(0)) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    socket.on("data", (chunk: Uint8Array) => {
      this.#reader.push(chunk);
      this.#pump();
    });
    socket.on("end", () => {
      this.#inputEnded = true;
      this.#pump();
    });
    socket.on("error", (error: Error) => this.#fail(error));
    socket.on("close", () => {
      clearTimeout(this.#closeTimer);
      this.#inputEnded = true;
      // Frames received before the close are handled first.
      void this.#pumpRun.then(() => {
        this.#finish();
        this.#compressor.close();
        this.#decompressor.close();
        this.#resolveClosed(this.#end!);
      });
    });
    this.#reader.push(rest);
    this.#pump();
    socket.resume();
  }

  /** True once the peer has sent GOAWAY. */
  get goneAway(): boolean {
    return this.#goneAway;
  }

  /** Opens a stream: sends SYN_STREAM with `headers` (lower-case names). Await `reply` before sending data. */
  openStream(headers: HeaderList, handlers: SpdyStreamHandlers, options: { fin?: boolean } = {}): SpdyStream {
    if (this.#end || this.#goAwaySent || this.#goneAway) throw new SpdyClosedError();
    const stream = new SpdyStream(this.#nextStreamId, handlers);
    this.#nextStreamId += 2;
    this.#streams.set(stream.id, stream);
    if (options.fin) stream.localEnded = true;
    const block = encodeHeaderBlock(headers);
    // Header blocks must reach the peer in the order they were compressed: one shared context.
    const sent = this.#headerWrites.then(async () => {
      const compressed = await this.#compressor.compress(block);
      await this.#write(encodeSynStream({ streamId: stream.id, fin: options.fin }, compressed));
    });
    this.#headerWrites = sent.catch((error) => this.#fail(error));
    sent.catch((error) => stream.settleReply.reject(error));
    return stream;
  }

  /** Sends data on `stream` (FIN with `fin`); resolves once the transport has taken it. */
  writeData(stream: SpdyStream, parts: readonly Uint8Array[], fin = false): Promise<void> {
    if (this.#end) return Promise.reject(this.#end.error ?? new SpdyClosedError());
    if (stream.localEnded) {
      return Promise.reject(new SpdyClosedError(`SPDY stream ${stream.id} is closed for writing`));
    }
    if (fin) stream.localEnded = true;
    return this.#write(encodeDataFrame(stream.id, parts, fin));
  }

  /** Ends this side of `stream` (an empty data frame with FIN); a no-op when it is ended already. */
  finish(stream: SpdyStream): Promise<void> {
    if (stream.localEnded || this.#end) return Promise.resolve();
    return this.writeData(stream, [], true);
  }

  /** Abandons `stream` (RST_STREAM CANCEL). */
  reset(stream: SpdyStream, status: number = RstStatus.Cancel): void {
    if (!this.#streams.has(stream.id) || this.#end) return;
    this.#streams.delete(stream.id);
    stream.localEnded = true;
    void this.#write(encodeRstStream(stream.id, status)).catch(() => {});
  }

  /** Records that the reader took `bytes` of `stream`'s data, and returns window to the peer in batches. */
  consumed(stream: SpdyStream, bytes: number): void {
    if (this.#end || bytes <= 0) return;
    stream.unacknowledged += bytes;
    this.#sessionUnacknowledged += bytes;
    if (stream.unacknowledged >= WINDOW_UPDATE_THRESHOLD && !stream.remoteEnded) {
      void this.#write(encodeWindowUpdate(stream.id, stream.unacknowledged)).catch(() => {});
      stream.unacknowledged = 0;
    }
    if (this.#sessionUnacknowledged >= WINDOW_UPDATE_THRESHOLD) {
      void this.#write(encodeWindowUpdate(0, this.#sessionUnacknowledged)).catch(() => {});
      this.#sessionUnacknowledged = 0;
    }
  }

  /** Stops reading from the transport (the reader is behind); frames already received are still handled. */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /**
   * Ends the session politely: GOAWAY, then the transport's writing side; the transport is dropped if the
   * peer has not closed it within `timeoutMs`.
   */
  close(timeoutMs = 2_000): Promise<SpdySessionEnd> {
    if (!this.#end && !this.#socket.destroyed) {
      this.#sendGoAway(GoAwayStatus.Ok);
      this.#socket.end();
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(() => this.#socket.destroy(), timeoutMs);
    }
    return this.closed;
  }

  /** Drops the transport at once; `error` (if given) is how the session ended. */
  destroy(error?: Error): void {
    if (error) this.#fail(error);
    else this.#socket.destroy();
  }

  // ---- receiving ----

  /**
   * Handles buffered frames in order. Header blocks expand asynchronously, so frames after one wait for it
   * (their stream's SYN_REPLY must come first, and the shared context needs every block in order).
   */
  #pump(): void {
    if (this.#pumping || this.#end) return;
    this.#pumping = true;
    this.#pumpRun = (async () => {
      try {
        // Bytes that arrive during an await are picked up by the next call to next().
        for (let frame = this.#reader.next(); frame && !this.#end; frame = this.#reader.next()) {
          const pending = this.#onFrame(frame);
          if (pending) await pending;
        }
      } catch (error) {
        this.#protocolError(error as Error);
      } finally {
        this.#pumping = false;
      }
      if (this.#inputEnded) this.#finish();
    })();
  }

  #onFrame(frame: SpdyFrame): Promise<void> | undefined {
    switch (frame.kind) {
      case "data":
        return this.#onDataFrame(frame.streamId, frame.data, frame.fin);
      case "syn_reply":
      case "headers":
        return this.#decompress(frame.headerBlock).then((headers) => {
          const stream = this.#streams.get(frame.streamId);
          if (!stream) return;
          if (frame.kind === "syn_reply") stream.settleReply.resolve(headers);
          if (frame.fin) this.#remoteEnd(stream);
        });
      case "syn_stream":
        // The client takes no streams from the server; the block still goes through the shared context.
        return this.#decompress(frame.headerBlock).then(() => {
          void this.#write(encodeRstStream(frame.streamId, RstStatus.RefusedStream)).catch(() => {});
        });
      case "rst_stream": {
        const stream = this.#streams.get(frame.streamId);
        if (!stream) return;
        this.#streams.delete(stream.id);
        stream.localEnded = true;
        stream.settleReply.reject(new SpdyStreamResetError(stream.id, frame.status));
        stream.endRemote(frame.status);
        return;
      }
      case "ping":
        // Odd ids are the client's own pings coming back; an even one is the server's, to be echoed.
        if (frame.id % 2 === 0) void this.#write(encodePing(frame.id)).catch(() => {});
        return;
      case "goaway":
        this.#goneAway = true;
        return;
      case "settings":
      case "window_update":
      case "unknown":
        // See the module comment on flow control; unknown control frames are ignored, as SPDY/3 says.
        return;
    }
  }

  #onDataFrame(streamId: number, data: Uint8Array, fin: boolean): undefined {
    const stream = this.#streams.get(streamId);
    if (!stream || stream.remoteEnded) return;
    if (data.length > 0) stream.handlers.onData(data);
    if (fin) this.#remoteEnd(stream);
  }

  #remoteEnd(stream: SpdyStream): void {
    stream.endRemote();
    if (stream.localEnded) this.#streams.delete(stream.id);
  }

  #decompress(block: Uint8Array): Promise<Map<string, string[]>> {
    return this.#decompressor.decompress(block).then(decodeHeaderBlock);
  }

  // ---- ending ----

  #protocolError(error: Error): void {
    if (this.#end) return;
    this.#sendGoAway(GoAwayStatus.ProtocolError);
    const failure = error instanceof SpdyProtocolError ? error : new SpdyProtocolError(error.message);
    this.#fail(failure);
  }

  /** The session failed: every open stream ends, and the transport goes. */
  #fail(error: Error): void {
    this.#settle({ error, goneAway: this.#goneAway });
    this.#socket.destroy();
  }

  /** The transport's input ended and every frame before the end has been handled. */
  #finish(): void {
    if (this.#end) return;
    const open = [...this.#streams.values()].some((stream) => !stream.remoteEnded);
    // Without GOAWAY, a connection that ends while the server still owes stream data was cut.
    const error = open && !this.#goneAway
      ? new SpdyClosedError("the SPDY connection ended while streams were open")
      : undefined;
    this.#settle({ error, goneAway: this.#goneAway });
    if (this.#socket.destroyed || this.#socket.writableEnded) return;
    this.#socket.end();
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), 2_000);
  }

  #settle(end: SpdySessionEnd): void {
    if (this.#end) return;
    this.#end = end;
    const failure = end.error ?? new SpdyClosedError();
    for (const stream of this.#streams.values()) {
      stream.settleReply.reject(failure);
      stream.endRemote(undefined, end.error);
    }
    this.#streams.clear();
  }

  // ---- sending ----

  #sendGoAway(status: number): void {
    if (this.#goAwaySent || this.#socket.destroyed || this.#socket.writableEnded) return;
    this.#goAwaySent = true;
    // The client accepts no server streams, so the last good one is 0.
    void this.#write(encodeGoAway(0, status)).catch(() => {});
  }

  #write(frame: Uint8Array): Promise<void> {
    if (this.#socket.destroyed || this.#socket.writableEnded) return Promise.reject(new SpdyClosedError());
    return new Promise((resolve, reject) => {
      this.#socket.write(frame, (error?: Error | null) => (error ? reject(error) : resolve()));
    });
  }
}
