/**
 * WebSocket upgrades to a cluster's apiserver (exec, port-forward), as the calling user: a new tunnel
 * stream per connection, the same impersonation headers as every other request, and every failure to
 * open already a ConnectError from the one error table (a refused upgrade carries the apiserver's Status).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { httpStatusError, isKubeStatus, kubeStatusError, toConnectError } from "../../shared/errors.ts";
import type { Identity } from "../auth/identity.ts";
import type { ClusterRegistry } from "./registry.ts";
import { connectWebSocket, UpgradeRefusedError, type WebSocketClient, WebSocketError } from "./websocket.ts";

export interface UpgradeRequest {
  cluster: string;
  identity: Identity;
  /** Path and query on the apiserver. */
  path: string;
  protocols: readonly string[];
  /** What is being opened, for error messages (e.g. `exec in pod demo/app on cluster "alpha"`). */
  action: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export type OpenStream = Pick<ClusterRegistry, "openStream">;

/** Opens the WebSocket, or throws the ConnectError that says why it could not be opened. */
export async function openClusterWebSocket(
  clusters: OpenStream,
  request: UpgradeRequest,
): Promise<WebSocketClient> {
  // Throws unavailable at once when the cluster has no live tunnel.
  const stream = clusters.openStream(request.cluster);
  const headers: [string, string][] = [["Impersonate-User", request.identity.user]];
  for (const group of request.identity.groups) headers.push(["Impersonate-Group", group]);
  try {
    return await connectWebSocket(stream, {
      path: request.path,
      host: request.cluster,
      protocols: request.protocols,
      headers,
      signal: request.signal,
      timeoutMs: request.timeoutMs,
    });
  } catch (error) {
    stream.destroy();
    throw upgradeError(error, request);
  }
}

/** A failed upgrade as a ConnectError: the apiserver's Status when it answered, else the transport's failure. */
export function upgradeError(
  error: unknown,
  request: Pick<UpgradeRequest, "action" | "signal">,
): ConnectError {
  if (error instanceof UpgradeRefusedError) {
    const text = new TextDecoder().decode(error.body);
    try {
      const body = JSON.parse(text);
      if (isKubeStatus(body)) return kubeStatusError(body, error.status);
    } catch {
      // Not JSON: a proxy's or the mux's plain-text answer.
    }
    return httpStatusError(error.status, text);
  }
  if (error instanceof WebSocketError) {
    return new ConnectError(`${request.action}: ${error.message}`, Code.Unavailable);
  }
  return toConnectError(error, { action: request.action, signal: request.signal });
}
