/**
 * For tests: a WebSocket server written byte by byte on a plain TCP socket, so a test controls exactly what
 * the client receives (frame sizes, fragmentation, pings, masking, a missing close, a refused upgrade) and
 * sees exactly what it sends. Independent of the client under test: frames are built and parsed here.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import * as net from "node:net";

export interface ClientFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

export interface UpgradeRequestHead {
  /** Request target, e.g. `/exec?command=sh`. */
  path: string;
  /** Lower-case names; repeated headers keep every value. */
  headers: Record<string, string[]>;
}

/** One accepted connection, after the client's upgrade request has arrived. */
export class RawPeer {
  readonly socket: net.Socket;
  readonly request: UpgradeRequestHead;
  #buffer: Buffer;
  #waiters: (() => void)[] = [];
  #ended = false;

  constructor(socket: net.Socket, request: UpgradeRequestHead, rest: Buffer) {
    this.socket = socket;
    this.request = request;
    this.#buffer = rest;
    socket.on("data", (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  /** Answers 101 with the right accept key (or `accept` to test a wrong one) and `protocol`. */
  accept(protocol?: string, accept = acceptKey(this.request.headers["sec-websocket-key"]?.[0] ?? "")): void {
    const lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"];
    lines.push(`Sec-WebSocket-Accept: ${accept}`);
    if (protocol !== undefined) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
    this.socket.write(lines.join("\r\n") + "\r\n\r\n");
  }

  /** Answers with a plain HTTP response and closes. */
  refuse(status: number, statusText: string, body: string, headers: Record<string, string> = {}): void {
    const bytes = Buffer.from(body);
    const lines = [
      `HTTP/1.1 ${status} ${statusText}`,
      `Content-Length: ${bytes.length}`,
      "Connection: close",
    ];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    this.socket.end(Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n"), bytes]));
  }

  /** Writes one server frame; returns what socket.write returned (false: the client is not keeping up). */
  send(opcode: number, payload: Uint8Array, options: { fin?: boolean; mask?: boolean } = {}): boolean {
    return this.socket.write(serverFrame(opcode, payload, options.fin ?? true, options.mask ?? false));
  }

  /** The next frame the client sent, unmasked; undefined once the connection is gone. */
  async nextFrame(): Promise<ClientFrame | undefined> {
    for (;;) {
      const frame = this.#parse();
      if (frame) return frame;
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** The next data or close frame (pongs skipped). */
  async nextMessage(): Promise<ClientFrame | undefined> {
    for (;;) {
      const frame = await this.nextFrame();
      if (!frame || frame.opcode !== 0xa) return frame;
    }
  }

  #parse(): ClientFrame | undefined {
    const b = this.#buffer;
    if (b.length < 2) return undefined;
    let length = b[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return undefined;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return undefined;
      length = Number(b.readBigUInt64BE(2));
      offset = 10;
    }
    const masked = (b[1] & 0x80) !== 0;
    const maskBytes = masked ? 4 : 0;
    if (b.length < offset + maskBytes + length) return undefined;
    const mask = b.subarray(offset, offset + maskBytes);
    const payload = Uint8Array.from(b.subarray(offset + maskBytes, offset + maskBytes + length));
    if (masked) { for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3]; }
    this.#buffer = b.subarray(offset + maskBytes + length);
    return { fin: (b[0] & 0x80) !== 0, opcode: b[0] & 0x0f, masked, payload };
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

export interface RawServer {
  port: number;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

/** Listens on loopback; `handle` gets each connection once its upgrade request has been read. */
export async function startRawServer(handle: (peer: RawPeer) => void | Promise<void>): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      const peer = new RawPeer(
        socket,
        parseRequest(head.subarray(0, end).toString("latin1")),
        head.subarray(end + 4),
      );
      void Promise.resolve(handle(peer)).catch(() => socket.destroy());
    };
    socket.on("data", onData);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP connection to `port`, once connected. */
export function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
    socket.once("error", reject);
  });
}

export function acceptKey(key: string): string {
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
}

export function serverFrame(opcode: number, payload: Uint8Array, fin = true, mask = false): Buffer {
  const length = payload.length;
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + extra + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (mask ? 0x80 : 0) | (extra === 0 ? length : extra === 2 ? 126 : 127);
  if (extra === 2) head.writeUInt16BE(length, 2);
  if (extra === 8) head.writeBigUInt64BE(BigInt(length), 2);
  const body = Buffer.from(payload);
  if (mask) {
    const key = head.subarray(2 + extra);
    key.set([1, 2, 3, 4]);
    for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  }
  return Buffer.concat([head, body]);
}

function parseRequest(text: string): UpgradeRequestHead {
  const [requestLine, ...lines] = text.split("\r\n");
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    (headers[line.slice(0, colon).trim().toLowerCase()] ??= []).push(line.slice(colon + 1).trim());
  }
  return { path: requestLine.split(" ")[1] ?? "", headers };
}
