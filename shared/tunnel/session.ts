import type { Duplex } from "node:stream";
import {
  describeHeader,
  Flag,
  type FrameHeader,
  FrameType,
  GoAwayCode,
  INITIAL_STREAM_WINDOW,
  ProtocolError,
} from "./frame.ts";
import { FrameReader } from "./frame_reader.ts";
import { FrameWriter } from "./frame_writer.ts";
import { type SocketAddresses, type StreamHost, YamuxStream } from "./stream.ts";

export type SessionRole = "client" | "server";
/** A node:net or node:tls socket (any Duplex works; the address fields are optional). */
export type SessionSocket = Duplex & SocketAddresses;

export interface SessionOptions {
  /** The client opens odd stream ids, the server even ones. */
  role: SessionRole;
  /**
   * Receives every stream the peer opens. Without it, inbound streams are refused with RST (the hub does this:
   * only the hub opens streams).
   */
  onStream?: (stream: YamuxStream) => void;
  /** The peer sent a normal GoAway: it accepts no new streams, existing ones carry on. */
  onGoAway?: () => void;
  /**
   * Default for every stream: false (like net.Socket) ends our side once the peer's FIN arrived; true keeps
   * it writable. A handler may still set `stream.allowHalfOpen` on an accepted stream. Default false.
   */
  allowHalfOpen?: boolean;
  /** Open streams (both directions) allowed at once; default 1024. */
  maxStreams?: number;
  /** Receive window per stream, 256 KiB (default) to 16 MiB; also the most a stream ever buffers. */
  streamWindow?: number;
  /** Interval between keepalive pings; default 15 000. 0 turns keepalive and the silence timeout off. */
  keepAliveIntervalMs?: number;
  /** Close the session when nothing at all arrived for this long; default 2 × keepAliveIntervalMs. */
  keepAliveTimeoutMs?: number;
  /** How long a locally destroyed stream waits for the peer's FIN before sending RST; default 30 000. */
  streamCloseTimeoutMs?: number;
  /** How long a graceful close waits for the peer to close the socket before destroying it; default 5 000. */
  socketCloseTimeoutMs?: number;
}

export interface StreamOptions {
  /** Overrides SessionOptions.allowHalfOpen for this stream. */
  allowHalfOpen?: boolean;
}

export interface SessionStats {
  openStreams: number;
  streamsOpened: number;
  streamsAccepted: number;
  streamsRefused: number;
  /** Bytes on the socket, frame headers included. */
  bytesIn: number;
  bytesOut: number;
  /** Round trip of the last answered ping (keepalive or ping()), if any. */
  lastPingRttMs: number | undefined;
}

export const MAX_STREAM_WINDOW = 16 * 1024 * 1024;
const MAX_STREAM_ID = 0xffff_ffff;
// A peer that makes us queue this many control replies while our socket is backpressured is paused.
const CONTROL_BACKLOG_LIMIT = 4096;

interface PendingPing {
  sentAt: number;
  settle: (rttMs: number | Error) => void;
}

/**
 * A yamux session (hashicorp/yamux spec) over one socket. The socket reader never waits on a stream: each
 * stream buffers at most its window, and a peer that overruns a window breaks the protocol. TCP_NODELAY is
 * the caller's job on the real socket (`socket.setNoDelay(true)`); without it small exchanges wait ~40 ms.
 */
export class YamuxSession {
  readonly role: SessionRole;
  readonly socket: SessionSocket;
  readonly streamWindow: number;
  /** Settles once the session is over and its socket closed, with the reason (undefined: normal close). */
  readonly closed: Promise<Error | undefined>;

  readonly #onStream?: (stream: YamuxStream) => void;
  readonly #onGoAway?: () => void;
  readonly #maxStreams: number;
  readonly #allowHalfOpen: boolean;
  readonly #keepAliveIntervalMs: number;
  readonly #keepAliveTimeoutMs: number;
  readonly #socketCloseTimeoutMs: number;
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  readonly #host: StreamHost;
  readonly #streams = new Map<number, YamuxStream>();
  readonly #pings = new Map<number, PendingPing>();
  #resolveClosed!: (reason: Error | undefined) => void;
  #nextStreamId: number;
  #nextPingId = 0;
  #closedError: Error | undefined;
  #closeReason: Error | undefined;
  #localGoAway = false;
  #remoteGoAway = false;
  #socketClosed = false;
  #pausedForControl = false;
  #keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  #keepAlivePingOutstanding = false;
  #livenessTimer: ReturnType<typeof setTimeout> | undefined;
  #destroyTimer: ReturnType<typeof setTimeout> | undefined;
  #lastReceivedAt = performance.now();
  #bytesIn = 0;
  #streamsOpened = 0;
  #streamsAccepted = 0;
  #streamsRefused = 0;
  #lastPingRttMs: number | undefined;

  constructor(socket: SessionSocket, options: SessionOptions) {
    this.role = options.role;
    this.socket = socket;
    this.streamWindow = options.streamWindow ?? INITIAL_STREAM_WINDOW;
    if (this.streamWindow < INITIAL_STREAM_WINDOW || this.streamWindow > MAX_STREAM_WINDOW) {
      throw new RangeError(
        `yamux streamWindow must be ${INITIAL_STREAM_WINDOW}..${MAX_STREAM_WINDOW} bytes, got ${this.streamWindow}`,
      );
    }
    this.#onStream = options.onStream;
    this.#onGoAway = options.onGoAway;
    this.#maxStreams = options.maxStreams ?? 1024;
    this.#allowHalfOpen = options.allowHalfOpen ?? false;
    this.#keepAliveIntervalMs = options.keepAliveIntervalMs ?? 15_000;
    this.#keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 2 * this.#keepAliveIntervalMs;
    this.#socketCloseTimeoutMs = options.socketCloseTimeoutMs ?? 5_000;
    this.#nextStreamId = this.role === "client" ? 1 : 2;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#reader = new FrameReader(this.#onFrame, this.streamWindow);
    this.#writer = new FrameWriter(socket);
    this.#host = {
      streamWindow: this.streamWindow,
      streamCloseTimeoutMs: options.streamCloseTimeoutMs ?? 30_000,
      socket,
      sendControl: (header) => this.#writer.sendControl(header),
      wantsToSend: (stream) => this.#writer.wake(stream),
      release: (stream) => {
        if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id);
      },
      closedError: () => this.#closedError,
    };

    socket.on("data", this.#onData);
    socket.on("drain", this.#onDrain);
    socket.on("end", () => {
      const reason = this.#remoteGoAway ? undefined : new Error("yamux peer closed the connection");
      this.#terminate(reason, { abort: false });
    });
    socket.on("error", (error: Error) => this.#terminate(error, { abort: true }));
    socket.on("close", () => {
      this.#socketClosed = true;
      this.#terminate(new Error("yamux connection closed"), { abort: true });
      this.#settleClosed();
    });
    this.#startKeepAlive();
  }

  get isClosed(): boolean {
    return this.#closedError !== undefined;
  }

  /** Opens a stream; data may be written at once (the peer's ACK is not awaited). */
  openStream(options: StreamOptions = {}): YamuxStream {
    if (this.#closedError) throw new Error(`cannot open a yamux stream: ${this.#closedError.message}`);
    if (this.#remoteGoAway) throw new Error("cannot open a yamux stream: the peer sent GoAway");
    if (this.#streams.size >= this.#maxStreams) {
      throw new Error(`cannot open a yamux stream: ${this.#streams.size} streams open (maxStreams)`);
    }
    const id = this.#nextStreamId;
    if (id > MAX_STREAM_ID) throw new Error("cannot open a yamux stream: stream ids exhausted");
    this.#nextStreamId += 2;
    const stream = new YamuxStream(this.#host, id, Flag.SYN, options.allowHalfOpen ?? this.#allowHalfOpen);
    this.#streams.set(id, stream);
    this.#streamsOpened++;
    return stream;
  }

  /** Round-trip time in ms. Rejects on timeout (default: keepalive timeout, else 30 s) or session close. */
  ping(timeoutMs = this.#keepAliveTimeoutMs || 30_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(id);
        reject(new Error(`yamux ping got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const id = this.#sendPing((result) => {
        clearTimeout(timer);
        if (result instanceof Error) reject(result);
        else resolve(result);
      });
    });
  }

  /** Tells the peer we accept no new streams; streams already open continue. */
  goAway(): void {
    this.#sendGoAway(GoAwayCode.Normal);
  }

  /**
   * GoAway, then end the socket; resolves once the socket is closed. Open streams are destroyed, with an
   * error only if a reason is given.
   */
  close(reason?: Error): Promise<void> {
    this.#terminate(reason, { abort: false, goAway: GoAwayCode.Normal });
    return this.closed.then(() => undefined);
  }

  stats(): SessionStats {
    return {
      openStreams: this.#streams.size,
      streamsOpened: this.#streamsOpened,
      streamsAccepted: this.#streamsAccepted,
      streamsRefused: this.#streamsRefused,
      bytesIn: this.#bytesIn,
      bytesOut: this.#writer.bytesWritten,
      lastPingRttMs: this.#lastPingRttMs,
    };
  }

  // ---- incoming ----

  readonly #onData = (chunk: Uint8Array) => {
    if (this.#closedError) return;
    this.#lastReceivedAt = performance.now();
    this.#bytesIn += chunk.length;
    try {
      this.#reader.push(chunk);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#terminate(error, { abort: false, goAway: GoAwayCode.ProtocolError });
      return;
    }
    if (this.#writer.controlBacklog > CONTROL_BACKLOG_LIMIT && !this.#pausedForControl) {
      this.#pausedForControl = true;
      this.socket.pause();
    }
  };

  readonly #onDrain = () => {
    if (this.#pausedForControl && this.#writer.controlBacklog === 0 && !this.#closedError) {
      this.#pausedForControl = false;
      this.socket.resume();
    }
  };

  readonly #onFrame = (header: FrameHeader, payload: Uint8Array) => {
    if (this.#closedError) return;
    if (header.type === FrameType.Ping) this.#onPing(header);
    else if (header.type === FrameType.GoAway) this.#onGoAwayFrame(header.length);
    else this.#onStreamFrame(header, payload);
  };

  #onStreamFrame(header: FrameHeader, payload: Uint8Array): void {
    const { streamId, flags } = header;
    if (streamId === 0) throw new ProtocolError(`stream frame on stream 0 (${describeHeader(header)})`);
    let stream = this.#streams.get(streamId);
    let accepted: YamuxStream | undefined;
    if (flags & Flag.SYN) {
      const peerParity = this.role === "client" ? 0 : 1;
      if (stream || streamId % 2 !== peerParity) {
        throw new ProtocolError(`unexpected SYN (${describeHeader(header)})`);
      }
      if (!this.#onStream || this.#localGoAway || this.#streams.size >= this.#maxStreams) {
        this.#streamsRefused++;
        this.#writer.sendControl({ type: FrameType.WindowUpdate, flags: Flag.RST, streamId, length: 0 });
        return;
      }
      stream = accepted = new YamuxStream(this.#host, streamId, Flag.ACK, this.#allowHalfOpen);
      this.#streams.set(streamId, stream);
      this.#streamsAccepted++;
    }
    // A frame for a stream we already finished (e.g. reset) is late, not wrong: drop it.
    if (!stream) return;
    if (header.type === FrameType.Data) {
      if (!stream.receiveData(payload)) {
        throw new ProtocolError(`peer overran the receive window (${describeHeader(header)})`);
      }
    } else {
      stream.receiveWindowUpdate(header.length);
    }
    if (flags & Flag.RST) stream.receiveReset();
    else if (flags & Flag.FIN) stream.receiveFin();
    if (accepted) this.#onStream!(accepted);
  }

  #onPing(header: FrameHeader): void {
    if (header.flags & Flag.SYN) {
      this.#writer.sendControl({ type: FrameType.Ping, flags: Flag.ACK, streamId: 0, length: header.length });
      return;
    }
    const pending = this.#pings.get(header.length);
    if (!pending) return;
    this.#pings.delete(header.length);
    this.#lastPingRttMs = performance.now() - pending.sentAt;
    pending.settle(this.#lastPingRttMs);
  }

  #onGoAwayFrame(code: number): void {
    if (code !== GoAwayCode.Normal) {
      const meaning = code === GoAwayCode.ProtocolError
        ? "protocol error"
        : code === GoAwayCode.InternalError
        ? "internal error"
        : "unknown code";
      this.#terminate(new Error(`yamux peer sent GoAway ${code} (${meaning})`), { abort: false });
      return;
    }
    if (this.#remoteGoAway) return;
    this.#remoteGoAway = true;
    this.#onGoAway?.();
  }

  // ---- outgoing ----

  #sendPing(settle: PendingPing["settle"]): number {
    const id = this.#nextPingId;
    this.#nextPingId = (id + 1) >>> 0;
    if (this.#closedError) {
      queueMicrotask(() => settle(this.#closedError!));
      return id;
    }
    this.#pings.set(id, { sentAt: performance.now(), settle });
    this.#writer.sendControl({ type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: id });
    return id;
  }

  #sendGoAway(code: GoAwayCode): void {
    if (this.#localGoAway || this.#closedError) return;
    this.#localGoAway = true;
    this.#writer.sendControl({ type: FrameType.GoAway, flags: 0, streamId: 0, length: code });
  }

  // ---- keepalive ----

  #startKeepAlive(): void {
    if (this.#keepAliveIntervalMs <= 0) return;
    this.#keepAliveTimer = setInterval(() => {
      if (this.#keepAlivePingOutstanding) return;
      this.#keepAlivePingOutstanding = true;
      this.#sendPing(() => this.#keepAlivePingOutstanding = false);
    }, this.#keepAliveIntervalMs);
    this.#armLiveness(this.#keepAliveTimeoutMs);
  }

  /** Any received byte proves the peer alive; re-armed lazily instead of on every chunk. */
  #armLiveness(delayMs: number): void {
    this.#livenessTimer = setTimeout(() => {
      const silentMs = performance.now() - this.#lastReceivedAt;
      if (silentMs < this.#keepAliveTimeoutMs) return this.#armLiveness(this.#keepAliveTimeoutMs - silentMs);
      const reason = new Error(
        `yamux keepalive timeout: nothing received for ${Math.round(silentMs)} ms ` +
          `(limit ${this.#keepAliveTimeoutMs} ms)`,
      );
      this.#terminate(reason, { abort: true });
    }, delayMs);
  }

  // ---- shutdown ----

  #terminate(reason: Error | undefined, how: { abort: boolean; goAway?: GoAwayCode }): void {
    if (this.#closedError) return;
    this.#closeReason = reason;
    this.#closedError = new Error(`yamux session closed${reason ? `: ${reason.message}` : ""}`, {
      cause: reason,
    });
    clearInterval(this.#keepAliveTimer);
    clearTimeout(this.#livenessTimer);
    for (const pending of this.#pings.values()) pending.settle(this.#closedError);
    this.#pings.clear();
    const streamError = reason &&
      Object.assign(new Error(`yamux session closed: ${reason.message}`, { cause: reason }), {
        code: "ECONNRESET",
      });
    for (const stream of [...this.#streams.values()]) stream.abort(streamError);
    this.#streams.clear();
    if (how.abort || !this.socket.writable) {
      this.#writer.stop();
      this.socket.destroy();
      return;
    }
    if (how.goAway !== undefined && !this.#localGoAway) {
      this.#localGoAway = true;
      this.#writer.sendControl({ type: FrameType.GoAway, flags: 0, streamId: 0, length: how.goAway });
    }
    this.#writer.stopAfterControl();
    this.socket.end();
    // The peer normally closes its side at once; one that does not must not keep the socket open.
    this.#destroyTimer = setTimeout(() => this.socket.destroy(), this.#socketCloseTimeoutMs);
    if (this.#socketClosed) this.#settleClosed();
  }

  #settleClosed(): void {
    clearTimeout(this.#destroyTimer);
    this.#resolveClosed(this.#closeReason);
  }
}
