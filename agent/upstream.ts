/**
 * How the agent's proxy reaches the kube-apiserver: a keep-alive pool for most requests, and connections of
 * their own for upgrades (their sockets become the exec/attach/port-forward byte stream) and for requests
 * that must not be retried.
 */
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { KubeTarget } from "./kube_target.ts";
import type { HeaderMap } from "./proxy_headers.ts";

/** How long a new connection to the apiserver (TCP and TLS) may take before the request fails with 503. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface Upstream {
  /**
   * Starts a request to `path` (the client's path and query) with the agent's credentials added, on a pooled
   * keep-alive connection or on a fresh one that is closed afterwards.
   */
  request(
    method: string,
    path: string,
    headers: HeaderMap,
    connection: "pooled" | "fresh",
  ): http.ClientRequest;
  destroy(): void;
}

export function createUpstream(target: KubeTarget, connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Upstream {
  const secure = target.url.protocol === "https:";
  const transport = secure ? https : http;
  const agentOptions = { keepAlive: true, scheduling: "lifo" as const, maxFreeSockets: 16 };
  const pooled = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const fresh = secure ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
  // A server URL such as https://host/prefix puts every API path under /prefix.
  const basePath = target.url.pathname.replace(/\/+$/, "");
  return {
    request(method, path, headers, connection) {
      const authorization = target.authorization();
      const request = transport.request({
        protocol: target.url.protocol,
        hostname: target.url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: target.url.port || (secure ? 443 : 80),
        method,
        path: basePath + path,
        headers: authorization ? { ...headers, authorization: [authorization] } : headers,
        agent: connection === "pooled" ? pooled : fresh,
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
      pooled.destroy();
      fresh.destroy();
    },
  };
}

function tlsRequestOptions(target: KubeTarget): https.RequestOptions {
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
