/**
 * Dials the hub's tunnel endpoint with the agent's client certificate,
 * trusting only the CA the hub gave at enrolment.
 *
 * node:tls, not Deno.connectTls: the latter leaves Nagle on and cannot set
 * TCP_NODELAY, which costs ~44 ms on every tunnelled request (deno-lab §3–4).
 */
import * as tls from "node:tls";
import type { AgentCredentials } from "./enrol.ts";

const connectTimeoutMs = 15_000;

export function dialTunnel(tunnelUrl: URL, credentials: AgentCredentials): Promise<tls.TLSSocket> {
  const port = Number(tunnelUrl.port || (tunnelUrl.protocol === "https:" ? 443 : 80));
  // URL keeps IPv6 literals in brackets; TLS wants them bare.
  const host = tunnelUrl.hostname.replace(/^\[(.*)\]$/, "$1");
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: isIpLiteral(host) ? undefined : host,
      ca: credentials.caPem,
      cert: credentials.certPem,
      key: credentials.key.keyPem,
      minVersion: "TLSv1.3",
    });
    socket.setNoDelay(true);
    const timer = setTimeout(
      () => socket.destroy(new Error(`tunnel dial to ${host}:${port} timed out`)),
      connectTimeoutMs,
    );
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`tunnel dial to ${host}:${port} failed: ${error.message}`));
    });
  });
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}
