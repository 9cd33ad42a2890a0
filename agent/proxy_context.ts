/**
 * What the request path (proxy.ts) and the upgrade path (proxy_upgrade.ts) of the agent's reverse proxy
 * share: their state, the refusal decision and what a log line says about a request.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../shared/log.ts";
import { checkImpersonation } from "./impersonation_policy.ts";
import type { KubeTarget } from "./kube_target.ts";
import type { Upstream } from "./upstream.ts";

export interface KubeProxyStats {
  /** Connections handed to `serve` so far. */
  connections: number;
  /** Requests received (upgrades included), refused ones included. */
  requests: number;
  upgrades: number;
  /** Requests the agent refused itself (policy, malformed). */
  refused: number;
  /** Requests that failed because the apiserver could not be reached or broke off. */
  upstreamErrors: number;
  activeRequests: number;
  activeUpgrades: number;
}

/** Shared by the request and upgrade paths. */
export interface ProxyContext {
  target: KubeTarget;
  upstream: Upstream;
  log: Logger;
  counters: KubeProxyStats;
  /** Sockets of upgraded exchanges (both ends), so close() can end them. */
  upgraded: Set<Duplex>;
}

export interface Refusal {
  code: number;
  reason: string;
  message: string;
}

/** Why the agent will not forward this request, if it will not. Shared with the upgrade path. */
export function refusalFor(request: http.IncomingMessage): Refusal | undefined {
  // Absolute-form targets (proxy requests) and `*` are not paths on the apiserver.
  if (!request.url?.startsWith("/")) {
    return { code: 400, reason: "BadRequest", message: `the agent only forwards paths, not ${request.url}` };
  }
  const verdict = checkImpersonation(request.rawHeaders);
  if (!verdict.allowed) return { code: 403, reason: "Forbidden", message: verdict.reason };
  return undefined;
}

export function impersonatedUser(request: http.IncomingMessage): string | undefined {
  const value = request.headers["impersonate-user"];
  return Array.isArray(value) ? value[0] : value;
}

/** The path without the query: queries may hold exec commands or selectors that do not belong in logs. */
export function pathOf(url: string | undefined): string {
  return (url ?? "").split("?", 1)[0];
}

/**
 * What a caller is told about a failed apiserver connection: the error code, not the message, which names
 * internal addresses (the agent's log has the whole error).
 */
export function upstreamFailureMessage(error: Error, beforeConnecting: boolean): string {
  const code = (error as Error & { code?: unknown }).code;
  const what = typeof code === "string" ? code : error.name;
  return beforeConnecting
    ? `the agent cannot reach the kube-apiserver (${what})`
    : `the kube-apiserver connection failed (${what})`;
}
