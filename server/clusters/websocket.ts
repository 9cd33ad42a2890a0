/**
 * A small WebSocket client (RFC 6455) over any node Duplex: a tunnel stream to a cluster's agent, or a TLS
 * socket straight to an apiserver. It does what Kubernetes streaming (exec, attach, port-forward) needs and
 * no more: the opening handshake with its Sec-WebSocket-Accept check and subprotocol choice, masked frames
 * out, fragmented messages in, ping/pong, the close handshake, and no extensions.
 *
 * Written here rather than taken from a library because it must run over a Duplex that is not a socket
 * (a yamux stream), hand refused upgrades back with their status and body (the apiserver's Status is the
 * error a caller needs), and apply backpressure: received messages wait in a bounded queue, and the socket
 * is paused while that queue is full, so a slow reader stalls the sender instead of growing memory.
 */
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { ByteQueue } from "./byte_queue.ts";
import { concatBytes } from "../../shared/bytes.ts";
import {
  encodeRequestHead,
  indexOfHeadEnd,
  MAX_HEAD_BYTES,
  parseHead,
  refusalBody,
  refusalBodyComplete,
  type ResponseHead,
  UpgradeRefusedError,
  type UpgradeRequest,
} from "./upgrade_answer.ts";

const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const enum Opcode {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

export const CLOSE_NORMAL = 1000;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_TOO_BIG = 1009;

export interface WebSocketRequest extends UpgradeRequest {
  /** Largest message accepted (default 16 MiB); a larger one fails the connection. */
  maxMessageBytes?: number;
  /** Received bytes queued before the socket is paused (default 256 KiB). */
  highWaterBytes?: number;
}

/** The peer broke the WebSocket protocol, or the connection ended without a close handshake. */
export class WebSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebSocketError";
  }
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** True when the peer's close frame arrived; false when the connection just ended or failed. */
  clean: boolean;
  error?: Error;
}

/** Opens a WebSocket on `socket`: sends the upgrade request and resolves once the server switched protocols. */
export function connectWebSocket(socket: Duplex, request: WebSocketRequest): Promise<WebSocketClient> {
  return new WebSocketClient(socket, request).opened;
}

interface FrameHeader {
  fin: boolean;
  opcode: number;
  headerLength: number;
  payloadLength: number;
}

export class WebSocketClient {
  /** The subprotocol the server chose ("" when it named none). */
  protocol = "";
  readonly opened: Promise<WebSocketClient>;
  readonly closed: Promise<CloseInfo>;

  readonly #socket: Duplex;
  readonly #key: string;
  readonly #offered: readonly string[];
  readonly #maxMessageBytes: number;
  readonly #highWater: number;
  #state: "handshake" | "open" | "ended" = "handshake";
  #settleOpen!: { resolve: (ws: WebSocketClient) => void; reject: (error: Error) => void };
  #resolveClosed!: (info: CloseInfo) => void;
  #handshakeCleanup: () => void = () => {};
  /** Set while a refused upgrade's body is read: settles the handshake with what has arrived. */
  #settleRefusal: (() => void) | null = null;

  // bytes received and not yet parsed
  /** Received bytes not parsed yet. */
  #received = new ByteQueue();
  // a message arriving in fragments
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  #fragmenting = false;
  // complete messages waiting for read()
  #messages: Uint8Array[] = [];
  #queuedBytes = 0;
  #paused = false;
  #reader: { resolve: (message: Uint8Array | null) => void; reject: (error: Error) => void } | null = null;

  #closeSent = false;
  #end: CloseInfo | null = null;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: Duplex, request: WebSocketRequest) {
    this.#socket = socket;
    this.#offered = request.protocols;
    this.#maxMessageBytes = request.maxMessageBytes ?? 16 * 1024 * 1024;
    this.#highWater = request.highWaterBytes ?? 256 * 1024;
    this.#key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    this.opened = new Promise((resolve, reject) => (this.#settleOpen = { resolve, reject }));
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));

    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("end", () => this.#finish({ code: 1006, reason: "", clean: false }, "the connection ended"));
    socket.on("error", (error: Error) => this.#finish({ code: 1006, reason: "", clean: false, error }));
    socket.on("close", () => {
      clearTimeout(this.#closeTimer);
      this.#finish({ code: 1006, reason: "", clean: false }, "the connection closed");
      this.#resolveClosed(this.#end!);
    });
    this.#startHandshake(request);
  }

  /** Bytes of received messages not read yet. */
  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * The next message (text or binary, as bytes); null once the peer has closed cleanly. Rejects when the
   * connection failed or ended without a close handshake. One read at a time.
   */
  read(): Promise<Uint8Array | null> {
    if (this.#reader) return Promise.reject(new Error("WebSocketClient.read: a read is already pending"));
    const message = this.#shift();
    if (message) return Promise.resolve(message);
    if (this.#end) return this.#end.clean ? Promise.resolve(null) : Promise.reject(this.#endError());
    return new Promise((resolve, reject) => (this.#reader = { resolve, reject }));
  }

  /** Async iteration over read(). */
  async *messages(): AsyncGenerator<Uint8Array> {
    for (let message = await this.read(); message !== null; message = await this.read()) yield message;
  }

  /**
   * Sends one binary message made of `parts`. Resolves when the socket has taken it (so awaiting each send
   * applies the socket's backpressure); rejects once the connection is closing or closed.
   */
  send(parts: Uint8Array | readonly Uint8Array[], opcode: number = Opcode.Binary): Promise<void> {
    if (this.#state !== "open" || this.#closeSent) {
      return Promise.reject(new WebSocketError("the WebSocket is closed"));
    }
    return this.#write(encodeFrame(opcode, Array.isArray(parts) ? parts : [parts as Uint8Array]));
  }

  /** Sends a ping; the server's pong is not awaited (it only shows the connection is alive). */
  ping(payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    return this.send(payload, Opcode.Ping);
  }

  /**
   * Starts the close handshake and resolves once the connection is closed: when the peer answers, or after
   * `timeoutMs` (the socket is then destroyed).
   */
  close(code = CLOSE_NORMAL, reason = "", timeoutMs = 2_000): Promise<CloseInfo> {
    if (this.#state === "handshake") {
      this.#socket.destroy();
    } else if (!this.#socket.destroyed) {
      this.#sendClose(code, reason);
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(() => this.#socket.destroy(), timeoutMs);
    }
    return this.closed;
  }

  /** Drops the connection at once; pending and later reads fail with `error` (if given). */
  destroy(error?: Error): void {
    if (error) this.#finish({ code: 1006, reason: "", clean: false, error });
    this.#socket.destroy();
  }

  // ---- opening handshake ----

  #startHandshake(request: WebSocketRequest): void {
    const lines = [
      `GET ${request.path} HTTP/1.1`,
      `Host: ${request.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${this.#key}`,
      "Sec-WebSocket-Version: 13",
    ];
    if (request.protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${request.protocols.join(", ")}`);
    for (const [name, value] of request.headers ?? []) lines.push(`${name}: ${value}`);
    let head: Uint8Array;
    try {
      head = encodeRequestHead(lines, "WebSocket");
    } catch (error) {
      this.#failHandshake(error as Error);
      return;
    }

    const signal = request.signal;
    const onAbort = () => this.#failHandshake(signal?.reason ?? new DOMException("aborted", "AbortError"));
    const timeoutMs = request.timeoutMs ?? 30_000;
    const timer = setTimeout(
      () =>
        this.#failHandshake(
          new DOMException(`no answer to the WebSocket upgrade within ${timeoutMs} ms`, "TimeoutError"),
        ),
      timeoutMs,
    );
    this.#handshakeCleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#socket.write(head);
  }

  #failHandshake(error: Error): void {
    if (this.#state !== "handshake") return;
    this.#state = "ended";
    this.#handshakeCleanup();
    this.#end = { code: 1006, reason: "", clean: false, error };
    this.#settleOpen.reject(error);
    this.#socket.destroy();
  }

  /** Parses the response head once it is complete; returns false while more bytes are needed. */
  #readHandshake(): boolean {
    const bytes = this.#received.peek(Math.min(this.#received.length, MAX_HEAD_BYTES + 4));
    const end = indexOfHeadEnd(bytes);
    if (end < 0) {
      if (this.#received.length > MAX_HEAD_BYTES) {
        this.#failHandshake(new WebSocketError(`the upgrade answer's head exceeds ${MAX_HEAD_BYTES} bytes`));
      }
      return false;
    }
    const head = parseHead(new TextDecoder().decode(bytes.subarray(0, end)));
    if (!head) {
      this.#failHandshake(new WebSocketError("the upgrade answer is not HTTP/1.1"));
      return false;
    }
    if (head.status !== 101) {
      // The body (an apiserver Status, usually) follows; keep reading it to the end.
      this.#received.consume(end + 4);
      this.#collectRefusal(head);
      return false;
    }
    const problem = this.#checkAccepted(head.headers);
    if (problem) {
      this.#failHandshake(new WebSocketError(problem));
      return false;
    }
    this.#received.consume(end + 4);
    this.#handshakeCleanup();
    this.#state = "open";
    this.#settleOpen.resolve(this);
    return true;
  }

  #checkAccepted(headers: Record<string, string>): string | undefined {
    if (headers["upgrade"]?.toLowerCase() !== "websocket") return "the server switched to another protocol";
    const expected = createHash("sha1").update(this.#key + ACCEPT_GUID).digest("base64");
    if (headers["sec-websocket-accept"] !== expected) {
      return "the server's Sec-WebSocket-Accept does not match";
    }
    if (headers["sec-websocket-extensions"]) return "the server chose an extension that was not offered";
    const chosen = headers["sec-websocket-protocol"] ?? "";
    if (chosen !== "" && !this.#offered.includes(chosen)) {
      return `the server chose subprotocol ${JSON.stringify(chosen)}, which was not offered`;
    }
    this.protocol = chosen;
    return undefined;
  }

  #collectRefusal(head: ResponseHead): void {
    const settle = () => {
      const body = refusalBody(head, this.#received.peek(this.#received.length));
      this.#failHandshake(
        new UpgradeRefusedError("WebSocket", head.status, head.statusText, head.headers, body),
      );
    };
    const complete = () => refusalBodyComplete(head, this.#received.peek(this.#received.length));
    // From here on, every arrival (and the end of the connection) checks whether the body is complete.
    this.#settleRefusal = settle;
    this.#onData = (chunk) => {
      this.#received.push(chunk);
      if (complete()) settle();
    };
    if (complete()) settle();
  }

  // ---- receiving ----

  #onData = (chunk: Uint8Array): void => {
    this.#received.push(chunk);
    if (this.#state === "handshake" && !this.#readHandshake()) return;
    this.#parseFrames();
  };

  #parseFrames(): void {
    while (this.#state === "open" && this.#end === null) {
      const header = this.#peekHeader();
      if (!header) return;
      if (header.payloadLength > this.#maxMessageBytes) {
        return this.#protocolError(
          CLOSE_TOO_BIG,
          `a frame of ${header.payloadLength} bytes exceeds the limit`,
        );
      }
      if (this.#received.length < header.headerLength + header.payloadLength) return;
      this.#received.consume(header.headerLength);
      this.#onFrame(header, this.#received.take(header.payloadLength));
    }
  }

  #peekHeader(): FrameHeader | undefined {
    if (this.#received.length < 2) return undefined;
    const start = this.#received.peek(Math.min(this.#received.length, 10));
    const first = start[0];
    const second = start[1];
    if ((first & 0x70) !== 0) {
      this.#protocolError(CLOSE_PROTOCOL_ERROR, "a frame sets reserved bits (no extension was negotiated)");
      return undefined;
    }
    if ((second & 0x80) !== 0) {
      this.#protocolError(CLOSE_PROTOCOL_ERROR, "the server masked a frame");
      return undefined;
    }
    let payloadLength = second & 0x7f;
    let headerLength = 2;
    if (payloadLength === 126) {
      if (start.length < 4) return undefined;
      payloadLength = (start[2] << 8) | start[3];
      headerLength = 4;
    } else if (payloadLength === 127) {
      if (start.length < 10) return undefined;
      const view = new DataView(start.buffer, start.byteOffset, 10);
      payloadLength = Number(view.getBigUint64(2));
      headerLength = 10;
    }
    return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, headerLength, payloadLength };
  }

  #onFrame(header: FrameHeader, payload: Uint8Array): void {
    const { opcode, fin } = header;
    if (opcode >= 0x8) {
      if (!fin || payload.length > 125) {
        return this.#protocolError(CLOSE_PROTOCOL_ERROR, "a control frame is fragmented or too long");
      }
      if (opcode === Opcode.Ping) {
        if (!this.#closeSent) void this.#write(encodeFrame(Opcode.Pong, [payload])).catch(() => {});
      } else if (opcode === Opcode.Close) {
        this.#onClose(payload);
      } else if (opcode !== Opcode.Pong) {
        this.#protocolError(CLOSE_PROTOCOL_ERROR, `unknown control opcode ${opcode}`);
      }
      return;
    }
    if (opcode === Opcode.Continuation) {
      if (!this.#fragmenting) {
        return this.#protocolError(CLOSE_PROTOCOL_ERROR, "a continuation without a start");
      }
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.#fragmenting) {
        return this.#protocolError(CLOSE_PROTOCOL_ERROR, "a new message inside a fragmented one");
      }
    } else {
      return this.#protocolError(CLOSE_PROTOCOL_ERROR, `unknown data opcode ${opcode}`);
    }
    if (fin && !this.#fragmenting) return this.#enqueue(payload);
    this.#fragmenting = true;
    this.#fragments.push(payload);
    this.#fragmentBytes += payload.length;
    if (this.#fragmentBytes > this.#maxMessageBytes) {
      return this.#protocolError(CLOSE_TOO_BIG, `a message exceeds ${this.#maxMessageBytes} bytes`);
    }
    if (fin) {
      const message = concatBytes(this.#fragments, this.#fragmentBytes);
      this.#fragments = [];
      this.#fragmentBytes = 0;
      this.#fragmenting = false;
      this.#enqueue(message);
    }
  }

  #onClose(payload: Uint8Array): void {
    const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
    const reason = new TextDecoder().decode(payload.subarray(2));
    // Answer with the same code, then let the server close the connection (RFC 6455 §7.1.1).
    this.#sendClose(payload.length >= 2 ? code : CLOSE_NORMAL, "");
    this.#finish({ code, reason, clean: true });
    this.#socket.end();
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), 2_000);
  }

  #enqueue(message: Uint8Array): void {
    if (this.#reader) {
      const reader = this.#reader;
      this.#reader = null;
      reader.resolve(message);
      return;
    }
    this.#messages.push(message);
    this.#queuedBytes += message.length;
    if (!this.#paused && this.#queuedBytes >= this.#highWater) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  #shift(): Uint8Array | undefined {
    const message = this.#messages.shift();
    if (!message) return undefined;
    this.#queuedBytes -= message.length;
    if (this.#paused && this.#queuedBytes < this.#highWater / 2) {
      this.#paused = false;
      this.#socket.resume();
    }
    return message;
  }

  #protocolError(code: number, message: string): void {
    this.#sendClose(code, "");
    this.#finish({ code, reason: message, clean: false, error: new WebSocketError(message) });
    // The close frame goes out first; the connection is dropped if the peer does not close it soon.
    this.#socket.end();
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), 2_000);
  }

  /** Records how the connection ended (first cause wins) and wakes a waiting reader. */
  #finish(info: CloseInfo, detail?: string): void {
    if (this.#state === "handshake") {
      if (this.#settleRefusal && !info.error) return this.#settleRefusal();
      this.#failHandshake(
        info.error ?? new WebSocketError(`${detail ?? "the connection ended"} before the upgrade`),
      );
      return;
    }
    if (this.#end) return;
    this.#state = "ended";
    this.#end = info.error || info.clean || !detail
      ? info
      : { ...info, error: new WebSocketError(`${detail} without a WebSocket close handshake`) };
    const reader = this.#reader;
    this.#reader = null;
    if (!reader) return;
    if (this.#end.clean) reader.resolve(null);
    else reader.reject(this.#endError());
  }

  #endError(): Error {
    return this.#end?.error ?? new WebSocketError("the WebSocket connection failed");
  }

  // ---- sending ----

  #sendClose(code: number, reason: string): void {
    if (this.#closeSent || this.#state === "handshake" || this.#socket.destroyed) return;
    this.#closeSent = true;
    const reasonBytes = new TextEncoder().encode(reason).subarray(0, 123);
    const payload = new Uint8Array(2 + reasonBytes.length);
    payload[0] = code >> 8;
    payload[1] = code & 0xff;
    payload.set(reasonBytes, 2);
    void this.#write(encodeFrame(Opcode.Close, [payload])).catch(() => {});
  }

  #write(frame: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(frame, (error?: Error | null) => (error ? reject(error) : resolve()));
    });
  }
}

// ---- frames ----

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const maskPool = new Uint8Array(4096);
let maskOffset = maskPool.length;

/** A fresh random masking key (taken from a pool, so each frame does not call into the RNG). */
function nextMask(): Uint8Array {
  if (maskOffset === maskPool.length) {
    crypto.getRandomValues(maskPool);
    maskOffset = 0;
  }
  const mask = maskPool.slice(maskOffset, maskOffset + 4);
  maskOffset += 4;
  return mask;
}

/** One final, masked client frame carrying `parts` concatenated. */
export function encodeFrame(opcode: number, parts: readonly Uint8Array[], mask = nextMask()): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerLength = 2 + lengthBytes + 4;
  const frame = new Uint8Array(headerLength + length);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) {
    frame[1] = 0x80 | length;
  } else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  frame.set(mask, 2 + lengthBytes);
  let offset = headerLength;
  for (const part of parts) {
    frame.set(part, offset);
    offset += part.length;
  }
  applyMask(frame, headerLength, mask);
  return frame;
}

/** XORs `bytes[start..]` with the repeating 4-byte `mask`, a 32-bit word at a time where aligned. */
export function applyMask(bytes: Uint8Array, start: number, mask: Uint8Array): void {
  const end = bytes.length;
  let i = start;
  const alignedStart = Math.min(end, start + ((4 - ((bytes.byteOffset + start) & 3)) & 3));
  for (; i < alignedStart; i++) bytes[i] ^= mask[(i - start) & 3];
  const words = (end - i) >> 2;
  if (littleEndian && words > 0) {
    const shift = (i - start) & 3;
    const word = mask[shift] | (mask[(shift + 1) & 3] << 8) | (mask[(shift + 2) & 3] << 16) |
      (mask[(shift + 3) & 3] << 24);
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] ^= word;
    i += words * 4;
  }
  for (; i < end; i++) bytes[i] ^= mask[(i - start) & 3];
}
