/**
 * What happens to every HTTP request on the public port before the Connect
 * router sees it: a request id, CORS, and the few plain-HTTP routes.
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CHANNEL_CHUNK_BYTES } from "../clusters/channel_protocol.ts";
import { LOG_CHUNK_BYTES } from "../clusters/pod_log.ts";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { Registry } from "prom-client";
import { type CorsPolicy, isPreflight, preflightHeaders, responseHeaders } from "./cors.ts";
import { requestIdKey } from "./context.ts";
import type { RequestHandler } from "./listener.ts";
import { requestIdFrom } from "./request_id.ts";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** A plain-HTTP route; answers true when it handled the request. */
export type PlainRoute = (req: NodeRequest, res: NodeResponse) => boolean | Promise<boolean>;

export interface RequestHandlerOptions {
  cors: CorsPolicy;
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  metrics: { registry: Registry; bearerToken?: string };
  plainRoutes?: PlainRoute[];
  /** Aborted last, when the process is about to exit; ends every call. */
  shutdownSignal: AbortSignal;
}

const requestIds = new WeakMap<NodeRequest, string>();

export function createRequestHandler(options: RequestHandlerOptions): RequestHandler {
  const connect = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.interceptors,
    shutdownSignal: options.shutdownSignal,
    // Streamed chunks (terminal output, forwarded bytes, logs: at most 32 KiB each) go out as they come:
    // gzip on each cost the hub a quarter of its CPU in port-forward and halved throughput. Large unary
    // answers (lists, schemas) still compress when the client asks for it.
    compressMinBytes: Math.max(CHANNEL_CHUNK_BYTES, LOG_CHUNK_BYTES) + 1,
    contextValues: (req) =>
      createContextValues().set(requestIdKey, requestIds.get(req) ?? crypto.randomUUID()),
  });
  const plainRoutes = [metricsRoute(options.metrics), ...(options.plainRoutes ?? [])];

  return async (req, res) => {
    const requestId = requestIdFrom(req.headers["x-request-id"]);
    requestIds.set(req, requestId);
    res.setHeader("x-request-id", requestId);

    const origin = typeof req.headers.origin === "string" ? req.headers.origin : undefined;
    if (isPreflight(req.method, req.headers)) {
      // A refused origin gets an answer without grant headers; the browser
      // then blocks the real request.
      respond(res, 204, preflightHeaders(options.cors, origin) ?? {});
      return;
    }
    for (const [name, value] of Object.entries(responseHeaders(options.cors, origin))) {
      res.setHeader(name, value);
    }

    for (const route of plainRoutes) {
      if (await route(req, res)) return;
    }
    connect(req, res);
  };
}

function metricsRoute(metrics: RequestHandlerOptions["metrics"]): PlainRoute {
  return async (req, res) => {
    if (req.url !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) return false;
    if (metrics.bearerToken && !bearerMatches(req.headers.authorization, metrics.bearerToken)) {
      respond(
        res,
        401,
        { "content-type": "text/plain; charset=utf-8", "www-authenticate": "Bearer" },
        "metrics need a bearer token\n",
      );
      return true;
    }
    const body = await metrics.registry.metrics();
    respond(
      res,
      200,
      { "content-type": metrics.registry.contentType },
      req.method === "HEAD" ? undefined : body,
    );
    return true;
  };
}

/**
 * Writes a whole small response. Through statusCode and setHeader, which the
 * HTTP/1.1 and HTTP/2 response types share (their writeHead overloads differ).
 */
function respond(res: NodeResponse, status: number, headers: Record<string, string>, body?: string): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body === undefined) res.end();
  else res.end(body);
}

/** Constant-time comparison, so the token cannot be guessed byte by byte. */
function bearerMatches(header: string | undefined, expected: string): boolean {
  const given = new TextEncoder().encode(header ?? "");
  const wanted = new TextEncoder().encode(`Bearer ${expected}`);
  let diff = given.length ^ wanted.length;
  for (let i = 0; i < wanted.length; i++) diff |= (given[i] ?? 0) ^ wanted[i];
  return diff === 0;
}
