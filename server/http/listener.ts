/**
 * The hub's one public port. Every connection is routed by its first bytes:
 * the HTTP/2 connection preface (`PRI * HTTP/2.0`, h2c with prior knowledge)
 * goes to a node:http2 server, everything else to a node:http server. Both
 * call the same request handler.
 *
 * Why not Deno.serve: it speaks HTTP/1.1 and h2c well, but its responses carry
 * no HTTP trailers, so native gRPC (grpc-status is a trailer) cannot work on it
 * (deno-lab §1). node:http2 under Deno does send trailers, and routing by the
 * preface keeps Connect, gRPC-Web and gRPC on one port.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Duplex } from "node:stream";

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface ListenAddress {
  hostname: string;
  port: number;
}

export interface PublicListener {
  /** The bound address (the port is real even when 0 was asked for). */
  address: ListenAddress;
  /** Stops accepting connections; open ones stay until close(). */
  stopAccepting(): void;
  /**
   * Closes connections as they become idle (GOAWAY on HTTP/2, keep-alive
   * sockets after their response) so final frames and trailers still reach
   * clients; whatever remains after `timeoutMs` is destroyed.
   */
  close(timeoutMs: number): Promise<void>;
}

const http2Preface = "PRI ";
// Large JWTs and long group lists must fit (the reference's 8 KiB limit
// rejected them, its bug B24).
const maxHeaderBytes = 64 * 1024;

export async function listenPublic(address: ListenAddress, handler: RequestHandler): Promise<PublicListener> {
  const h1 = createHttp1Server(handler);
  const h2 = http2.createServer(
    { maxSessionMemory: 64, settings: { maxHeaderListSize: maxHeaderBytes } },
    handler,
  );
  const h2Sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    h2Sessions.add(session);
    session.once("close", () => h2Sessions.delete(session));
  });

  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    // Without this, small TLS-less responses can still sit ~40 ms in Nagle's
    // buffer waiting for a delayed ACK (landscape §2.3).
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    routeByPreface(socket, h1, h2);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;

  const closed = new Promise<void>((resolve) => server.once("close", () => resolve()));
  return {
    address: { hostname: bound.address, port: bound.port },
    stopAccepting: () => server.close(),
    async close(timeoutMs) {
      server.close();
      const deadline = Date.now() + timeoutMs;
      while (sockets.size > 0 && Date.now() < deadline) {
        h1.closeIdleConnections();
        for (const session of h2Sessions) session.close();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const session of h2Sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function createHttp1Server(handler: RequestHandler): http.Server {
  const server = http.createServer({ maxHeaderSize: maxHeaderBytes, requestTimeout: 0 }, handler);
  // Deno's node:http destroys keep-alive sockets after each response when the
  // server object itself is not listening (deno-lab §4); ours never listens
  // because the connections are handed to it.
  Object.defineProperty(server, "listening", { get: () => true });
  return server;
}

function routeByPreface(socket: net.Socket, h1: http.Server, h2: http2.Http2Server): void {
  socket.once("data", (first: Uint8Array) => {
    socket.pause();
    const isHttp2 = new TextDecoder().decode(first.subarray(0, http2Preface.length)) === http2Preface;
    (isHttp2 ? h2 : h1).emit("connection", socket as Duplex);
    // Replayed as an event rather than unshifted: Deno's HTTP servers can see
    // bytes that arrive later before an unshifted chunk, which split a request
    // whose body came in a second packet (measured: 400 Bad Request).
    socket.emit("data", first);
    socket.resume();
  });
  socket.once("error", () => socket.destroy());
}
