/**
 * Upgrade requests (exec, attach, port-forward over WebSocket or SPDY/3.1): after the same policy check as
 * any request, the agent asks the apiserver for the upgrade with its own credentials, relays the apiserver's
 * 101 and then splices the two connections byte for byte, with backpressure.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import {
  impersonatedUser,
  pathOf,
  type ProxyContext,
  refusalFor,
  upstreamFailureMessage,
} from "./proxy_context.ts";
import {
  downstreamResponseHeaders,
  kubeStatusBody,
  rawResponse,
  rawResponseHead,
  rawSwitchingProtocolsHead,
  upstreamRequestHeaders,
} from "./proxy_headers.ts";
import { failedToConnect } from "./upstream.ts";

/** How long the agent waits for the hub to close a connection the agent has ended before dropping it. */
const LINGER_MS = 10_000;

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

export function forwardUpgrade(
  context: ProxyContext,
  request: http.IncomingMessage,
  client: Duplex,
  clientHead: Uint8Array,
): void {
  // node:http has let go of the socket; hold the client's bytes until the apiserver has switched protocols.
  client.pause();
  // Errors end in "close", which is handled; this listener only keeps them from being thrown.
  client.on("error", () => {});
  closeSoonAfterEnding(client);
  const started = performance.now();
  const counters = context.counters;
  counters.requests++;
  counters.upgrades++;
  const summary = {
    method: request.method,
    path: pathOf(request.url),
    user: impersonatedUser(request),
    upgrade: request.headers.upgrade,
  };
  const refusal = refusalFor(request);
  if (refusal) {
    counters.refused++;
    context.log.warn("refused upgrade", { ...summary, reason: refusal.message });
    client.end(statusResponse(refusal.code, refusal.reason, refusal.message));
    return;
  }

  counters.activeUpgrades++;
  let status = 0;
  const open = openSockets(() => {
    counters.activeUpgrades--;
    context.log.debug("proxied upgrade", { ...summary, status, ms: Math.round(performance.now() - started) });
  });
  open.track(client, context.upgraded);

  const headers = upstreamRequestHeaders(request.rawHeaders, true);
  const upstream = context.upstream.request(request.method ?? "GET", request.url ?? "/", headers);
  const abort = () => upstream.destroy();
  client.once("close", abort);

  upstream.on(
    "upgrade",
    (response: http.IncomingMessage, upstreamSocket: Duplex, upstreamHead: Uint8Array) => {
      status = 101;
      client.off("close", abort);
      open.track(upstreamSocket, context.upgraded);
      client.write(rawSwitchingProtocolsHead(response.statusMessage, response.rawHeaders));
      if (upstreamHead.length > 0) client.write(upstreamHead);
      if (clientHead.length > 0) upstreamSocket.write(clientHead);
      splice(client, upstreamSocket);
    },
  );

  upstream.on("response", (response: http.IncomingMessage) => {
    // The apiserver declined the upgrade (RBAC, a missing pod, a bad query). Relay its answer and close the
    // connection, so that it can never carry a second, unchecked request to the apiserver.
    status = response.statusCode ?? 0;
    if (status === 401) context.target.credentialsRejected();
    client.off("close", abort);
    client.once("close", () => response.destroy());
    client.write(
      rawResponseHead(status, response.statusMessage ?? "", downstreamResponseHeaders(response.rawHeaders)),
    );
    response.pipe(client);
  });

  upstream.on("error", (error) => {
    if (client.destroyed || status !== 0) {
      client.destroy();
      return;
    }
    counters.upstreamErrors++;
    const beforeConnecting = failedToConnect(upstream);
    context.log.warn("apiserver upgrade failed", { ...summary, connected: !beforeConnecting, error });
    status = beforeConnecting ? 503 : 502;
    const reason = beforeConnecting ? "ServiceUnavailable" : "InternalError";
    client.end(statusResponse(status, reason, upstreamFailureMessage(error, beforeConnecting)));
  });

  // An upgrade request carries no body; what follows its head belongs to the upgraded protocol.
  upstream.end();
}

/**
 * Pipes both ways. An end on one side ends the other's writing side (half-close) and an error tears both
 * down. Once the apiserver's side has closed, the client's is ended after its pending bytes are written;
 * once the client has gone, the apiserver's side is dropped.
 */
function splice(client: Duplex, upstream: Duplex): void {
  const teardown = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", teardown);
  upstream.on("error", teardown);
  // Nobody is left to read what the apiserver sends once the client is gone.
  client.once("close", () => upstream.destroy());
  upstream.once("close", () => client.end());
  client.pipe(upstream);
  upstream.pipe(client);
}

/** Once the agent has ended its side, the hub gets LINGER_MS to close the connection before it is dropped. */
function closeSoonAfterEnding(client: Duplex): void {
  client.once("finish", () => {
    const timer = setTimeout(() => client.destroy(), LINGER_MS);
    client.once("close", () => clearTimeout(timer));
  });
}

function statusResponse(code: number, reason: string, message: string): Uint8Array {
  return rawResponse(
    code,
    STATUS_TEXT[code] ?? "Error",
    "application/json",
    kubeStatusBody(code, reason, message),
  );
}

/**
 * The sockets of one upgrade, each also kept in `registry` (for the proxy's close) while open; `allClosed`
 * runs once the last one has closed. An upstream socket is only added while the client is open.
 */
function openSockets(allClosed: () => void) {
  const open = new Set<Duplex>();
  return {
    track(socket: Duplex, registry: Set<Duplex>) {
      open.add(socket);
      registry.add(socket);
      socket.once("close", () => {
        open.delete(socket);
        registry.delete(socket);
        if (open.size === 0) allClosed();
      });
    },
  };
}
