/**
 * How the agent's proxy reaches the kube-apiserver: bodiless requests (nearly all: gets, lists, watches,
 * logs) go through our own HTTP/1.1 client on kept-alive connections; requests with a body and upgrades
 * use node:https on connections of their own (an upgrade's socket becomes the exec/attach/port-forward byte
 * stream, and a body must never be sent twice).
 */
import http from "node:http";
import https from "node:https";
import net, { type Socket } from "node:net";
import tls, { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import { type HttpResponse, KeepAliveHttpClient } from "../shared/http1/client.ts";
import type { KubeTarget } from "./kube_target.ts";
import type { HeaderMap } from "./proxy_headers.ts";

/** How long a new connection to the apiserver (TCP and TLS) may take before the request fails with 503. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface Upstream {
  /**
   * A request without a body, on a kept-alive connection, with the agent's credentials added: resolves
   * with the answer's head, its body streaming from it. A failure before any answer tells by
   * `failedBeforeConnecting` whether a connection to the apiserver was ever made.
   */
  send(method: string, path: string, headers: HeaderMap, signal: AbortSignal): Promise<HttpResponse>;
  /**
   * Starts a request to `path` (the client's path and query) with the agent's credentials added, on a
   * connection of its own that is closed afterwards (an upgrade's socket stays with the caller).
   */
  request(method: string, path: string, headers: HeaderMap): http.ClientRequest;
  destroy(): void;
}

export function createUpstream(target: KubeTarget, connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Upstream {
  const secure = target.url.protocol === "https:";
  const transport = secure ? https : http;
  const fresh = secure ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
  const pooled = new KeepAliveHttpClient(() => openConnection(target, connectTimeoutMs), target.url.host);
  // A server URL such as https://host/prefix puts every API path under /prefix.
  const basePath = target.url.pathname.replace(/\/+$/, "");
  return {
    send(method, path, headers, signal) {
      const authorization = target.authorization();
      return pooled.request({
        method,
        path: basePath + path,
        headers: authorization ? { ...headers, authorization: [authorization] } : headers,
        signal,
      });
    },
    request(method, path, headers) {
      const authorization = target.authorization();
      const request = transport.request({
        protocol: target.url.protocol,
        hostname: target.url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: target.url.port || (secure ? 443 : 80),
        method,
        path: basePath + path,
        headers: authorization ? { ...headers, authorization: [authorization] } : headers,
        agent: fresh,
        ...(secure ? tlsRequestOptions(target) : {}),
      });
      request.on("socket", (socket) => {
        // Nagle would hold back small watch events and exec frames by up to ~40 ms each.
        socket.setNoDelay(true);
        trackConnection(request, socket, connectTimeoutMs);
      });
      return request;
    },
    destroy() {
      pooled.close();
      fresh.destroy();
    },
  };
}

function tlsRequestOptions(target: KubeTarget): tls.ConnectionOptions {
  const { ca, cert, key, rejectUnauthorized, servername } = target.tls;
  return {
    ca,
    cert,
    key,
    rejectUnauthorized,
    // No ALPN offer, so the apiserver speaks HTTP/1.1, the only version with upgrades (exec, port-forward).
    ...(servername ? { servername } : {}),
  };
}

/** A connection error raised before the apiserver answered anything; the proxy maps it to 503. */
export class ConnectError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectError";
  }
}

/**
 * A new connection to the apiserver for the kept-alive client: TLS as the target says, Nagle off, and
 * destroyed with a ConnectError if it is not up within `timeoutMs`. Errors before it is up are noted, so
 * that the proxy can tell an unreachable apiserver (503) from a failing one (502).
 */
function openConnection(target: KubeTarget, timeoutMs: number): Duplex {
  const host = target.url.hostname.replace(/^\[(.*)\]$/, "$1");
  const secure = target.url.protocol === "https:";
  const port = Number(target.url.port || (secure ? 443 : 80));
  const socket = secure
    ? tls.connect({ host, port, ...tlsRequestOptions(target) })
    : net.connect({ host, port });
  socket.setNoDelay(true);
  let up = false;
  const timer = setTimeout(() => {
    socket.destroy(new ConnectError(`no connection to the apiserver within ${timeoutMs} ms`));
  }, timeoutMs);
  socket.once(secure ? "secureConnect" : "connect", () => {
    up = true;
    clearTimeout(timer);
  });
  socket.once("close", () => clearTimeout(timer));
  // Registered before the client's own listener, so the mark is there when the client sees the error.
  socket.on("error", (error) => {
    if (!up) beforeConnecting.add(error);
  });
  return socket;
}

const beforeConnecting = new WeakSet<Error>();

/** For `send`: true when `error` came before a connection to the apiserver was made. */
export function failedBeforeConnecting(error: Error): boolean {
  return error instanceof ConnectError || beforeConnecting.has(error);
}

const connected = new WeakSet<http.ClientRequest>();

/**
 * True when the request failed before it had a connection to the apiserver (refused, unreachable, TLS
 * handshake rejected, timed out): the apiserver is unavailable, rather than misbehaving.
 */
export function failedToConnect(request: http.ClientRequest): boolean {
  return !connected.has(request);
}

/** Notes when the connection is up, and fails the request if that takes longer than `timeoutMs`. */
function trackConnection(request: http.ClientRequest, socket: Socket, timeoutMs: number): void {
  if (request.reusedSocket || !socket.connecting) {
    connected.add(request);
    return;
  }
  const connectedEvent = socket instanceof TLSSocket ? "secureConnect" : "connect";
  const timer = setTimeout(() => {
    request.destroy(new ConnectError(`no connection to the apiserver within ${timeoutMs} ms`));
  }, timeoutMs);
  socket.once(connectedEvent, () => {
    connected.add(request);
    clearTimeout(timer);
  });
  socket.once("close", () => clearTimeout(timer));
}
