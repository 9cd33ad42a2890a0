/**
 * The agent's life: register with the hub (enrol with the token, or renew
 * with the current certificate), dial the tunnel, serve every stream the hub
 * opens, renew the certificate at two thirds of its life without dropping
 * the tunnel, and reconnect with backoff and jitter whenever the tunnel ends.
 */
import type { Duplex } from "node:stream";
import { backoffDelayMs, type BackoffPolicy } from "../shared/backoff.ts";
import type { Logger } from "../shared/log.ts";
import { YamuxSession } from "../shared/tunnel/session.ts";
import {
  tunnelKeepAliveIntervalMs,
  tunnelKeepAliveTimeoutMs,
  tunnelStreamWindow,
} from "../shared/tunnel/tunnel_settings.ts";
import type { AgentCredentials, EnrolmentClient } from "./enrol.ts";
import { dialTunnel } from "./tunnel_dial.ts";

export interface AgentOptions {
  tunnelUrl: URL;
  enrolment: EnrolmentClient;
  enrolmentToken: string;
  /** Every stream the hub opens (each carries HTTP/1.1 for the kube proxy). */
  serveStream: (stream: Duplex) => void;
  log: Logger;
  signal: AbortSignal;
  backoff?: BackoffPolicy;
  /** Keepalive ping interval, for tests; a silent tunnel is given up after 2.5 × this. */
  keepAliveIntervalMs?: number;
  /** Called after every successful registration (self-update checks the hub's version here). */
  onRegistered?: (credentials: AgentCredentials) => void;
  /** Called each time the tunnel is up (bootstrap starts in the background on the first). */
  onTunnelUp?: () => void;
}

/** A tunnel that stayed up this long counts as healthy: the next failure starts the backoff afresh. */
const healthyTunnelMs = 10_000;

export async function runAgent(options: AgentOptions): Promise<void> {
  const backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
  const keepAliveIntervalMs = options.keepAliveIntervalMs ?? tunnelKeepAliveIntervalMs;
  let credentials: AgentCredentials | undefined;
  let failures = 0;

  while (!options.signal.aborted) {
    const started = Date.now();
    try {
      credentials = await register(options, credentials);
      const socket = await dialTunnel(options.tunnelUrl, credentials);
      const tunnel = new YamuxSession(socket, {
        role: "server",
        onStream: options.serveStream,
        keepAliveIntervalMs,
        keepAliveTimeoutMs: Math.round(
          (tunnelKeepAliveTimeoutMs / tunnelKeepAliveIntervalMs) * keepAliveIntervalMs,
        ),
        streamWindow: tunnelStreamWindow,
      });
      options.log.info("tunnel up", { endpoint: options.tunnelUrl.host, expires: credentials.expiresAt });
      options.onTunnelUp?.();
      credentials = await keepRenewing(options, tunnel, credentials);
      if (options.signal.aborted) break;
      const reason = await tunnel.closed;
      options.log.warn("tunnel down", { reason: reason?.message ?? "closed by the hub" });
    } catch (error) {
      if (options.signal.aborted) break;
      options.log.warn("cannot reach the hub", { error: (error as Error).message });
    }
    failures = Date.now() - started > healthyTunnelMs ? 0 : failures + 1;
    const delay = backoffDelayMs(failures, backoff);
    options.log.info("reconnecting", { in_ms: Math.round(delay) });
    await sleep(delay, options.signal);
  }
}

/**
 * Renews with the current certificate while it is valid (that also proves
 * the hub still has the same CA); otherwise, or when the hub refuses the
 * renewal, enrols afresh with the token.
 */
async function register(
  options: AgentOptions,
  current: AgentCredentials | undefined,
): Promise<AgentCredentials> {
  let credentials: AgentCredentials | undefined;
  if (current && current.expiresAt.getTime() > Date.now()) {
    try {
      credentials = await options.enrolment.renew(current);
      options.log.info("certificate renewed", { expires: credentials.expiresAt });
    } catch (error) {
      options.log.warn("renewal refused; enrolling with the token", { error: (error as Error).message });
    }
  }
  if (!credentials) {
    if (!options.enrolmentToken) {
      throw new Error("no valid certificate and no enrolment token: set --enrolment-token");
    }
    credentials = await options.enrolment.enrol(options.enrolmentToken);
    options.log.info("enrolled", { expires: credentials.expiresAt, hub_version: credentials.serverVersion });
  }
  options.onRegistered?.(credentials);
  return credentials;
}

/**
 * Renews at two thirds of the certificate's life for as long as the tunnel
 * lives. The tunnel itself is not touched: TLS checked the certificate when
 * it was dialled; the renewed one is for the next dial. A failed renewal is
 * retried after a quarter of the time left (at least a second).
 */
function keepRenewing(
  options: AgentOptions,
  tunnel: YamuxSession,
  initial: AgentCredentials,
): Promise<AgentCredentials> {
  let latest = initial;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const renewIn = (ms: number) => {
    timer = setTimeout(async () => {
      try {
        latest = await options.enrolment.renew(latest);
        options.log.info("certificate renewed", { expires: latest.expiresAt });
        options.onRegistered?.(latest);
        if (!tunnel.isClosed) renewIn(renewalDelayMs(latest));
      } catch (error) {
        const retryMs = Math.max(1_000, (latest.expiresAt.getTime() - Date.now()) / 4);
        options.log.warn("certificate renewal failed", {
          error: (error as Error).message,
          retry_in_ms: retryMs,
        });
        if (!tunnel.isClosed) renewIn(retryMs);
      }
    }, ms);
  };
  renewIn(renewalDelayMs(latest));
  const closeTunnel = () => void tunnel.close();
  options.signal.addEventListener("abort", closeTunnel, { once: true });
  return tunnel.closed.then(() => {
    clearTimeout(timer);
    options.signal.removeEventListener("abort", closeTunnel);
    return latest;
  });
}

function renewalDelayMs(credentials: AgentCredentials): number {
  const lifetime = credentials.expiresAt.getTime() - credentials.issuedAt.getTime();
  return Math.max(1_000, credentials.issuedAt.getTime() + (2 * lifetime) / 3 - Date.now());
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
