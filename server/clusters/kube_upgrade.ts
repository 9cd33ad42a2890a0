/**
 * Streaming upgrades to a cluster's apiserver (exec, port-forward), as the calling user: a new tunnel
 * stream per connection, the same impersonation headers as every other request, and every failure to
 * open already a ConnectError from the one error table (a refused upgrade carries the apiserver's Status).
 *
 * WebSocket comes first; where it is refused (an apiserver or kubelet without it, a proxy that strips it),
 * the same request goes again over SPDY/3.1 on a fresh stream, presented as the same channel messages
 * (spdy_channels.ts), so sessions never know which transport they have.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { httpStatusError, isKubeStatus, kubeStatusError, toConnectError } from "../../shared/errors.ts";
import type { Identity } from "../auth/identity.ts";
import type { ClusterRegistry } from "./registry.ts";
import { openSpdyChannels, spdyPlanFor } from "./spdy_channels.ts";
import { UpgradeRefusedError } from "./upgrade_answer.ts";
import { connectWebSocket, type WebSocketClient, WebSocketError } from "./websocket.ts";

/**
 * A connection carrying channel-framed messages (first byte the channel, as in channel_protocol.ts): a
 * WebSocket, or SPDY streams presented as such messages.
 */
export interface ChannelTransport {
  /** The stream protocol the cluster chose. */
  readonly protocol: string;
  /** Bytes of received messages not read yet. */
  readonly bufferedBytes: number;
  /** The next message; null once the server has ended cleanly; rejects when the connection failed. */
  read(): Promise<Uint8Array | null>;
  /** Sends one message made of `parts`; resolves once the transport has taken it. */
  send(parts: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /** Ends the connection politely and resolves once it is closed. */
  close(): Promise<unknown>;
  /** Drops the connection at once; reads fail with `error` (if given). */
  destroy(error?: Error): void;
}

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
  try {
    return await dialWebSocket(clusters, request);
  } catch (error) {
    throw upgradeError(error, request);
  }
}

/**
 * Opens the exec, attach or port-forward at `request.path` over WebSocket, or over SPDY/3.1 when the
 * WebSocket upgrade is refused for a reason SPDY may not share; throws the ConnectError that says why
 * neither could be opened (the SPDY attempt's, when there was one).
 */
export async function openClusterChannels(
  clusters: OpenStream,
  request: UpgradeRequest,
): Promise<ChannelTransport> {
  try {
    return await dialWebSocket(clusters, request);
  } catch (error) {
    const plan = spdyPlanFor(request.path);
    if (!plan || !refusedWebSocketOnly(error)) throw upgradeError(error, request);
  }
  const plan = spdyPlanFor(request.path)!;
  const stream = clusters.openStream(request.cluster);
  try {
    return await openSpdyChannels(stream, {
      path: request.path,
      host: request.cluster,
      headers: impersonation(request.identity),
      signal: request.signal,
      timeoutMs: request.timeoutMs,
    }, plan);
  } catch (error) {
    stream.destroy();
    throw upgradeError(error, request);
  }
}

/**
 * Whether a WebSocket refusal may be about WebSocket itself, so SPDY is worth trying: any answer but 101,
 * except the apiserver's own verdicts on the caller or the object (unauthenticated, forbidden, not found,
 * too many requests), which SPDY would get as well.
 */
export function refusedWebSocketOnly(error: unknown): boolean {
  if (!(error instanceof UpgradeRefusedError)) return false;
  if (![401, 403, 404, 429].includes(error.status)) return true;
  try {
    return !isKubeStatus(JSON.parse(new TextDecoder().decode(error.body)));
  } catch {
    return true;
  }
}

async function dialWebSocket(clusters: OpenStream, request: UpgradeRequest): Promise<WebSocketClient> {
  // Throws unavailable at once when the cluster has no live tunnel.
  const stream = clusters.openStream(request.cluster);
  try {
    return await connectWebSocket(stream, {
      path: request.path,
      host: request.cluster,
      protocols: request.protocols,
      headers: impersonation(request.identity),
      signal: request.signal,
      timeoutMs: request.timeoutMs,
    });
  } catch (error) {
    stream.destroy();
    throw error;
  }
}

function impersonation(identity: Identity): [string, string][] {
  const headers: [string, string][] = [["Impersonate-User", identity.user]];
  for (const group of identity.groups) headers.push(["Impersonate-Group", group]);
  return headers;
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
