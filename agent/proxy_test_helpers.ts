// Helpers for the proxy tests: a client that talks HTTP to the proxy over in-memory duplex pairs (as the
// hub does over tunnel streams), admin calls to the test bed's apiserver, and a small WebSocket reader.
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { type Duplex, duplexPair } from "node:stream";
import type { KubeTarget } from "./kube_target.ts";
import type { KubeProxy } from "./proxy.ts";

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export type RequestHeaders = Record<string, string | string[]>;

/** The hub's side: node:http requests whose connections are duplex pairs served by the proxy. */
export class ProxyClient {
  connectionsMade = 0;
  readonly agent: http.Agent;

  constructor(private readonly proxy: KubeProxy) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    Object.assign(this.agent, { createConnection: () => this.connect() });
  }

  /** A new connection to the proxy; the returned end is the client's. */
  connect(): Duplex {
    const [client, server] = duplexPair();
    this.connectionsMade++;
    // A tunnel stream's close reaches the other end; a duplex pair's does not by itself.
    client.once("close", () => server.destroy());
    server.once("close", () => client.destroy());
    this.proxy.serve(server);
    // node:http's client calls these on its socket; a duplex pair has no socket options or handle.
    const self = () => client;
    return Object.assign(client, {
      setTimeout: self,
      setNoDelay: self,
      setKeepAlive: self,
      ref: self,
      unref: self,
    });
  }

  request(method: string, path: string, headers: RequestHeaders = {}, body?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const request = http.request(
        { agent: this.agent, host: "cluster.tunnel", method, path, headers },
        (response) => {
          const chunks: Uint8Array[] = [];
          response.on("data", (chunk: Uint8Array) => chunks.push(chunk));
          response.on("end", () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              text: Buffer.concat(chunks).toString("utf8"),
            }));
          response.on("error", reject);
        },
      );
      request.on("error", reject);
      request.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Requests as the bed's cluster admin (client certificate), straight to the apiserver. */
export class AdminClient {
  readonly #agent = new https.Agent({ keepAlive: false });

  constructor(private readonly target: KubeTarget) {}

  request(method: string, path: string, body?: unknown): Promise<Reply> {
    const { url, tls } = this.target;
    return new Promise((resolve, reject) => {
      const request = https.request({
        agent: this.#agent,
        hostname: url.hostname,
        port: url.port,
        method,
        path,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
      }, (response) => {
        const chunks: Uint8Array[] = [];
        response.on("data", (chunk: Uint8Array) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            text: Buffer.concat(chunks).toString("utf8"),
          }));
      });
      request.on("error", reject);
      request.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** Fails unless the apiserver answered with one of `expected`. */
  async expect(expected: number[], method: string, path: string, body?: unknown): Promise<Reply> {
    const reply = await this.request(method, path, body);
    if (!expected.includes(reply.status)) {
      throw new Error(
        `admin ${method} ${path}: expected ${expected.join("/")}, got ${reply.status}: ${reply.text}`,
      );
    }
    return reply;
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** Bytes arriving on a raw connection, readable piece by piece. */
export class ByteReader {
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  ended = false;

  constructor(stream: Duplex) {
    stream.on("data", (chunk: Uint8Array) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake();
    });
    const end = () => {
      this.ended = true;
      this.#wake();
    };
    stream.on("end", end);
    stream.on("close", end);
    stream.on("error", end);
  }

  /** Waits until `enough(buffer)` returns a length to take; resolves with those bytes. */
  async take(
    enough: (buffer: Buffer) => number | undefined,
    what: string,
    timeoutMs = 10_000,
  ): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const length = enough(this.#buffer);
      if (length !== undefined) {
        const taken = this.#buffer.subarray(0, length);
        this.#buffer = this.#buffer.subarray(length);
        return taken;
      }
      if (this.ended) throw new Error(`connection ended while waiting for ${what}; have ${this.#buffer}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; have ${this.#buffer}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** An HTTP response head (through the blank line), as text. */
  async head(): Promise<string> {
    const bytes = await this.take((buffer) => {
      const end = buffer.indexOf("\r\n\r\n");
      return end < 0 ? undefined : end + 4;
    }, "a response head");
    return bytes.toString("latin1");
  }

  /** Everything up to the end of the connection. */
  async rest(): Promise<Buffer> {
    return await this.take((buffer) => (this.ended ? buffer.length : undefined), "the end of the connection");
  }

  /** One WebSocket frame from a server (servers do not mask). */
  async frame(): Promise<{ opcode: number; payload: Buffer }> {
    const bytes = await this.take(frameLength, "a WebSocket frame");
    const { headerLength } = frameHeader(bytes)!;
    return { opcode: bytes[0] & 0x0f, payload: bytes.subarray(headerLength) };
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

function frameHeader(buffer: Buffer): { headerLength: number; payloadLength: number } | undefined {
  if (buffer.length < 2) return undefined;
  const short = buffer[1] & 0x7f;
  if (short < 126) return { headerLength: 2, payloadLength: short };
  if (short === 126) {
    return buffer.length < 4 ? undefined : { headerLength: 4, payloadLength: buffer.readUInt16BE(2) };
  }
  return buffer.length < 10
    ? undefined
    : { headerLength: 10, payloadLength: Number(buffer.readBigUInt64BE(2)) };
}

function frameLength(buffer: Buffer): number | undefined {
  const header = frameHeader(buffer);
  if (!header) return undefined;
  const total = header.headerLength + header.payloadLength;
  return buffer.length >= total ? total : undefined;
}

/** A WebSocket upgrade request's head, and the Sec-WebSocket-Accept a correct server answers with. */
export function webSocketRequest(path: string, protocol: string, headers: [string, string][]) {
  const key = randomBytes(16).toString("base64");
  const lines = [
    `GET ${path} HTTP/1.1`,
    "Host: cluster.tunnel",
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    `Sec-WebSocket-Key: ${key}`,
    `Sec-WebSocket-Protocol: ${protocol}`,
    ...headers.map(([name, value]) => `${name}: ${value}`),
    "",
    "",
  ];
  const accept = createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
  return { bytes: Buffer.from(lines.join("\r\n"), "latin1"), accept };
}

/** A raw request head, for upgrade requests other than WebSocket and for malformed requests. */
export function rawRequest(method: string, path: string, headers: [string, string][]): Buffer {
  const lines = [
    `${method} ${path} HTTP/1.1`,
    "Host: cluster.tunnel",
    ...headers.map(([n, v]) => `${n}: ${v}`),
  ];
  return Buffer.from([...lines, "", ""].join("\r\n"), "latin1");
}

/** Header lookup in a raw response head. */
export function headerIn(head: string, name: string): string | undefined {
  const line = head.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(line.indexOf(":") + 1).trim();
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
