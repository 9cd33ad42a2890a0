/**
 * The tunnel endpoint: a mutual-TLS listener that only agents with a client
 * certificate from the hub's CA get through. Each connection becomes one yamux
 * session on which only the hub opens streams; the certificate says which
 * cluster it serves.
 *
 * node:tls, not Deno.listenTls: Deno's own TLS listener cannot request or
 * verify client certificates (deno-lab §3).
 */
import * as tls from "node:tls";
import type { ListenAddress } from "../../shared/config/address.ts";
import type { Logger } from "../../shared/log.ts";
import { type Ca, clientIdentityFromPeerCert } from "../../shared/pki/mod.ts";
import { YamuxSession } from "../../shared/tunnel/session.ts";
import {
  tunnelKeepAliveIntervalMs,
  tunnelKeepAliveTimeoutMs,
  tunnelStreamWindow,
} from "../../shared/tunnel/tunnel_settings.ts";
import type { ClusterRegistry } from "../clusters/registry.ts";

export interface TunnelListenerOptions {
  address: ListenAddress;
  ca: Ca;
  serverCert: { certPem: string; keyPem: string };
  clusters: ClusterRegistry;
  log: Logger;
  /** Keepalive ping interval, for tests; a silent tunnel is closed after 2.5 × this. */
  keepAliveIntervalMs?: number;
}

export interface TunnelListener {
  address: ListenAddress;
  close(): Promise<void>;
}

const handshakeTimeoutMs = 10_000;

export async function listenTunnel(options: TunnelListenerOptions): Promise<TunnelListener> {
  const keepAliveIntervalMs = options.keepAliveIntervalMs ?? tunnelKeepAliveIntervalMs;
  const server = tls.createServer({
    key: options.serverCert.keyPem,
    cert: options.serverCert.certPem,
    ca: options.ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
    handshakeTimeout: handshakeTimeoutMs,
  });
  server.on("secureConnection", (socket) => acceptAgent(socket, options, keepAliveIntervalMs));
  server.on("tlsClientError", (error, socket) => {
    options.log.warn("tunnel handshake refused", { error: error.message, remote: socket.remoteAddress });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.address.port, options.address.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as { address: string; port: number };
  options.log.info("tunnel listening", { address: `${bound.address}:${bound.port}` });

  return {
    address: { hostname: bound.address, port: bound.port },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await options.clusters.closeAll();
      await closed;
    },
  };
}

function acceptAgent(
  socket: tls.TLSSocket,
  options: TunnelListenerOptions,
  keepAliveIntervalMs: number,
): void {
  socket.setNoDelay(true);
  let identity;
  try {
    // TLS already checked the chain; this checks it is an agent certificate
    // (EKU clientAuth, one agent identity), which rustls does not enforce.
    identity = clientIdentityFromPeerCert(socket.getPeerCertificate());
  } catch (error) {
    options.log.warn("tunnel refused: not an agent certificate", { error: (error as Error).message });
    socket.destroy();
    return;
  }
  const tunnel = new YamuxSession(socket, {
    role: "client",
    keepAliveIntervalMs,
    keepAliveTimeoutMs: Math.round(
      (tunnelKeepAliveTimeoutMs / tunnelKeepAliveIntervalMs) * keepAliveIntervalMs,
    ),
    streamWindow: tunnelStreamWindow,
  });
  const replaced = options.clusters.attach(identity.cluster, identity.agentId, tunnel);
  const log = options.log.with({ cluster: identity.cluster, agent_id: identity.agentId });
  log.info("agent connected", { replaced_agent: replaced?.agentId, remote: socket.remoteAddress });
  tunnel.closed.then((reason) => log.info("agent disconnected", { reason: reason?.message ?? "closed" }));
}
