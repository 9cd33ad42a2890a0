/**
 * The tunnel's stream multiplexer: yamux (hashicorp/yamux spec.md), written for this project and checked
 * against the Go reference implementation in both roles (interop_test.ts).
 *
 * ```ts
 * const session = new YamuxSession(tlsSocket, { role: "server", onStream: (stream) => http.emit("connection", stream) });
 * const stream = session.openStream(); // a node Duplex, usable as node:http's socket
 * ```
 *
 * Give the underlying socket `setNoDelay(true)`: without it every small exchange waits ~40 ms (Nagle).
 * Streams emit 'error' (code ECONNRESET) when reset, like sockets do: attach a listener.
 * A node:http server fed with `emit("connection", stream)` needs `listening` to read true on Deno, or it
 * closes keep-alive connections after each response (see http_test.ts).
 *
 * @module
 */
export {
  MAX_STREAM_WINDOW,
  type SessionOptions,
  type SessionRole,
  type SessionSocket,
  type SessionStats,
  type StreamOptions,
  YamuxSession,
} from "./session.ts";
export { StreamResetError, YamuxStream } from "./stream.ts";
export { GoAwayCode, INITIAL_STREAM_WINDOW, ProtocolError } from "./frame.ts";
