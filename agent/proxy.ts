/**
 * The agent's reverse proxy: plain HTTP/1.1 arriving on tunnel streams goes to the cluster's kube-apiserver
 * with the agent's credentials, but only for impersonated OIDC users (see impersonation_policy.ts).
 * Responses stream back chunk by chunk (watches, follow-logs); upgrades (exec, attach, port-forward over
 * WebSocket or SPDY) become a spliced byte stream (proxy_upgrade.ts).
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../shared/log.ts";
import type { KubeTarget } from "./kube_target.ts";
import {
  impersonatedUser,
  type KubeProxyStats,
  pathOf,
  type ProxyContext,
  type Refusal,
  refusalFor,
  upstreamFailureMessage,
} from "./proxy_context.ts";
import {
  downstreamResponseHeaders,
  type HeaderMap,
  kubeStatusBody,
  upstreamRequestHeaders,
} from "./proxy_headers.ts";
import { forwardUpgrade } from "./proxy_upgrade.ts";
import { createUpstream, failedBeforeConnecting, failedToConnect } from "./upstream.ts";
import type { IncomingResponse } from "../shared/http1/client.ts";

export type { KubeProxyStats } from "./proxy_context.ts";

/**
 * How long a kept-alive tunnel stream may sit idle before the agent closes it (node's default is 5 s). Streams
 * cost next to nothing; a hub that drops idle pooled streams sooner than this never reuses one the agent is
 * closing at that moment.
 */
export const IDLE_KEEP_ALIVE_MS = 120_000;

export interface KubeProxyOptions {
  target: KubeTarget;
  log: Logger;
  /** How long a new apiserver connection (TCP and TLS) may take; default DEFAULT_CONNECT_TIMEOUT_MS. */
  connectTimeoutMs?: number;
}

export interface KubeProxy {
  /** Serves HTTP/1.1 on one connection (a tunnel stream), keep-alive included. */
  serve(connection: Duplex): void;
  /** Drops every connection and upgraded stream, and the pooled apiserver connections. */
  close(): Promise<void>;
  stats(): KubeProxyStats;
}

export function createKubeProxy(options: KubeProxyOptions): KubeProxy {
  const context: ProxyContext = {
    target: options.target,
    upstream: createUpstream(options.target, options.connectTimeoutMs),
    log: options.log,
    counters: {
      connections: 0,
      requests: 0,
      upgrades: 0,
      refused: 0,
      upstreamErrors: 0,
      activeRequests: 0,
      activeUpgrades: 0,
    },
    upgraded: new Set(),
  };
  const connections = new Set<Duplex>();
  const server = http.createServer((request, response) => handleRequest(context, request, response));
  server.keepAliveTimeout = IDLE_KEEP_ALIVE_MS;
  // Deno's node:http destroys a kept-alive socket after each response unless the server is listening, and
  // this one never listens: connections are handed in.
  Object.defineProperty(server, "listening", { get: () => true });
  server.on("upgrade", (request: http.IncomingMessage, socket: Duplex, head: Uint8Array) => {
    forwardUpgrade(context, request, socket, head);
  });
  let closed = false;
  return {
    serve(connection) {
      if (closed) {
        connection.destroy();
        return;
      }
      context.counters.connections++;
      connections.add(connection);
      connection.once("close", () => connections.delete(connection));
      server.emit("connection", asSocket(connection));
    },
    async close() {
      closed = true;
      for (const connection of [...connections, ...context.upgraded]) connection.destroy();
      context.upstream.destroy();
      // Let the destroyed sockets emit their close events before the caller checks for leaks.
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
    stats: () => ({ ...context.counters }),
  };
}

function handleRequest(
  context: ProxyContext,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): void {
  const started = performance.now();
  context.counters.requests++;
  context.counters.activeRequests++;
  const user = impersonatedUser(request);
  response.once("close", () => {
    context.counters.activeRequests--;
    context.log.debug("proxied request", {
      method: request.method,
      path: pathOf(request.url),
      user,
      status: response.statusCode,
      complete: response.writableFinished,
      ms: Math.round(performance.now() - started),
    });
  });
  const refusal = refusalFor(request);
  if (refusal) {
    refuse(context, request, response, refusal);
    return;
  }
  forward(context, request, response);
}

function refuse(
  context: ProxyContext,
  request: http.IncomingMessage,
  response: http.ServerResponse,
  refusal: Refusal,
): void {
  context.counters.refused++;
  context.log.warn("refused request", {
    method: request.method,
    path: pathOf(request.url),
    user: impersonatedUser(request),
    reason: refusal.message,
  });
  // The body may be large or never end; the answer does not depend on it.
  request.resume();
  sendStatus(response, refusal.code, refusal.reason, refusal.message);
}

function sendStatus(response: http.ServerResponse, code: number, reason: string, message: string): void {
  const body = kubeStatusBody(code, reason, message);
  response.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  response.end(body);
}

function hasBody(request: http.IncomingMessage): boolean {
  const length = request.headers["content-length"];
  return request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

function forward(context: ProxyContext, request: http.IncomingMessage, response: http.ServerResponse): void {
  const headers = upstreamRequestHeaders(request.rawHeaders, false);
  if (hasBody(request)) forwardWithBody(context, request, response, headers);
  else forwardBodiless(context, request, response, headers);
}

/** Gets, lists, watches, logs: on a kept-alive apiserver connection, through our own HTTP/1.1 client. */
function forwardBodiless(
  context: ProxyContext,
  request: http.IncomingMessage,
  response: http.ServerResponse,
  headers: HeaderMap,
): void {
  const abort = new AbortController();
  response.once("close", () => {
    if (!response.writableFinished) abort.abort(new Error("the hub closed the stream"));
  });
  // Reading the (empty) request lets node:http reuse the connection.
  request.resume();
  context.upstream.send(request.method ?? "GET", request.url ?? "/", headers, abort.signal).then(
    (upstreamResponse) => relayResponse(context, response, upstreamResponse),
    (error: Error) => {
      // The hub went away first: nobody to answer.
      if (abort.signal.aborted) return;
      reportUpstreamError(context, request, response, error, failedBeforeConnecting(error));
    },
  );
}

/**
 * A request with a body must never be sent twice, so it gets a connection of its own, which is never
 * retried (node:https, which streams the body as it arrives).
 */
function forwardWithBody(
  context: ProxyContext,
  request: http.IncomingMessage,
  response: http.ServerResponse,
  headers: HeaderMap,
): void {
  const upstream = context.upstream.request(request.method ?? "GET", request.url ?? "/", headers);
  let clientGone = false;
  response.once("close", () => {
    if (response.writableFinished) return;
    clientGone = true;
    upstream.destroy();
  });
  upstream.on("response", (upstreamResponse) => relayResponse(context, response, upstreamResponse));
  upstream.on("error", (error) => {
    // The hub went away first: nobody to answer.
    if (clientGone) return;
    if (response.headersSent) {
      response.destroy();
      return;
    }
    reportUpstreamError(context, request, response, error, failedToConnect(upstream));
  });
  request.pipe(upstream);
}

/** The apiserver's answer, streamed back as it comes. */
function relayResponse(
  context: ProxyContext,
  response: http.ServerResponse,
  upstreamResponse: IncomingResponse,
) {
  if (upstreamResponse.statusCode === 401) context.target.credentialsRejected();
  response.writeHead(
    upstreamResponse.statusCode ?? 502,
    upstreamResponse.statusMessage,
    downstreamResponseHeaders(upstreamResponse.rawHeaders),
  );
  // A watch may send its first event minutes later; the client must see the status and headers now.
  // A body of known length comes at once, and the headers then go out with its first bytes.
  if (upstreamResponse.headers["content-length"] === undefined) response.flushHeaders();
  upstreamResponse.pipe(response);
  // A response cut off upstream must not look complete downstream.
  upstreamResponse.once("error", () => response.destroy());
  upstreamResponse.once("close", () => {
    if (!upstreamResponse.complete) response.destroy();
  });
}

function reportUpstreamError(
  context: ProxyContext,
  request: http.IncomingMessage,
  response: http.ServerResponse,
  error: Error,
  beforeConnecting: boolean,
): void {
  context.counters.upstreamErrors++;
  context.log.warn("apiserver request failed", {
    method: request.method,
    path: pathOf(request.url),
    apiserver: context.target.url.origin,
    connected: !beforeConnecting,
    error,
  });
  const message = upstreamFailureMessage(error, beforeConnecting);
  if (beforeConnecting) sendStatus(response, 503, "ServiceUnavailable", message);
  else sendStatus(response, 502, "InternalError", message);
}

/**
 * node:http's server calls a few net.Socket methods on every connection. Tunnel streams provide them; a
 * plain Duplex gets no-op stand-ins (no idle timer, no Nagle to turn off).
 */
function asSocket(connection: Duplex): Duplex {
  const socket = connection as Duplex & Record<string, unknown>;
  for (const method of ["setTimeout", "setNoDelay", "setKeepAlive", "ref", "unref"]) {
    if (typeof socket[method] !== "function") socket[method] = () => socket;
  }
  return socket;
}
