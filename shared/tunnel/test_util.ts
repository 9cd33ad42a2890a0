// Helpers for the tunnel tests: loopback socket pairs, session pairs and byte helpers.
import net from "node:net";
import type { Duplex } from "node:stream";
import { type SessionOptions, YamuxSession } from "./session.ts";
import { concatBytes } from "../bytes.ts";

/** The tests' name for concatBytes. */
export { concatBytes as concat };

export interface SocketPair {
  client: net.Socket;
  server: net.Socket;
}

/** Two connected TCP sockets on loopback (TCP_NODELAY on both, as the tunnel does). */
export async function loopbackSocketPair(): Promise<SocketPair> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const { port } = listener.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => listener.once("connection", resolve));
  const client = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => client.once("connect", resolve).once("error", reject));
  const server = await accepted;
  // Stops listening now; its callback would wait for the accepted connection to close too.
  listener.close();
  client.setNoDelay(true);
  server.setNoDelay(true);
  return { client, server };
}

export interface SessionPair extends AsyncDisposable {
  client: YamuxSession;
  server: YamuxSession;
  sockets: SocketPair;
}

type SideOptions = Omit<SessionOptions, "role">;

export async function sessionPair(clientOptions: SideOptions = {}, serverOptions: SideOptions = {}) {
  const sockets = await loopbackSocketPair();
  const client = new YamuxSession(sockets.client, { role: "client", ...clientOptions });
  const server = new YamuxSession(sockets.server, { role: "server", ...serverOptions });
  const pair: SessionPair = {
    client,
    server,
    sockets,
    async [Symbol.asyncDispose]() {
      await Promise.all([client.close(), server.close()]);
    },
  };
  return pair;
}

/** Deterministic pseudo-random bytes (xorshift), so both ends can produce and check the same data. */
export function patternBytes(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads a stream to its end. Not `for await`: that destroys a Duplex whose writable side is still open.
 */
export function readAll(stream: Duplex): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    stream.once("end", () => resolve(concatBytes(chunks)));
    stream.once("error", reject);
  });
}

/** Writes bytes in slices, honouring backpressure, then ends the stream. */
export async function writeAll(stream: Duplex, bytes: Uint8Array, sliceSize = 64 * 1024): Promise<void> {
  for (let at = 0; at < bytes.length; at += sliceSize) {
    if (!stream.write(bytes.subarray(at, at + sliceSize))) {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        stream.once("error", onError);
        stream.once("drain", () => {
          stream.off("error", onError);
          resolve();
        });
      });
    }
  }
  await new Promise<void>((resolve) => stream.end(resolve));
}

/** Echoes everything back and half-closes when the peer does. */
export function echo(stream: Duplex): void {
  stream.on("error", () => {});
  stream.pipe(stream);
}

export function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) return resolve();
      if (performance.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 5);
    };
    check();
  });
}
