/**
 * The hub's one way to reach a cluster's kube-apiserver: HTTP/1.1 on a stream
 * of that cluster's tunnel, as the calling user (Impersonate-User and
 * Impersonate-Group). The agent at the other end adds its own credentials.
 *
 * Streams are kept alive and reused per tunnel (a new stream costs a round
 * trip; reuse measured ~2× faster in the Deno lab). Bodies are streams both
 * ways, never buffered here. The HTTP/1.1 client is our own (shared/http1/client.ts).
 */
import type { Identity } from "../auth/identity.ts";
import type { ClusterRegistry } from "./registry.ts";
import type { YamuxSession } from "../../shared/tunnel/session.ts";
import { type IncomingResponse, KeepAliveHttpClient } from "../../shared/http1/client.ts";

export type { IncomingResponse } from "../../shared/http1/client.ts";

export interface KubeRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path and query, e.g. `/api/v1/namespaces?limit=10`. */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  signal?: AbortSignal;
}

export class ClusterAccess {
  readonly #clusters: ClusterRegistry;
  // One client (and so one pool of kept-alive streams) per tunnel: streams of a replaced tunnel die with it.
  readonly #clients = new WeakMap<YamuxSession, KeepAliveHttpClient>();

  constructor(clusters: ClusterRegistry) {
    this.#clusters = clusters;
  }

  /**
   * Sends `request` to the cluster as `identity` and resolves with the
   * response head; the body streams from the returned response. Throws
   * `unavailable` at once when the cluster is not connected.
   */
  async request(cluster: string, identity: Identity, request: KubeRequest): Promise<IncomingResponse> {
    return await this.#client(cluster).request({
      method: request.method,
      path: request.path,
      headers: {
        ...request.headers,
        "impersonate-user": identity.user,
        "impersonate-group": identity.groups,
      },
      body: request.body,
      signal: request.signal,
    });
  }

  #client(cluster: string): KeepAliveHttpClient {
    // Fails with `unavailable` before anything is sent.
    const { tunnel } = this.#clusters.connected(cluster);
    let client = this.#clients.get(tunnel);
    if (!client) {
      client = new KeepAliveHttpClient(
        () => this.#clusters.openStream(cluster),
        // A label for the agent's logs; the stream already leads to the cluster.
        cluster,
      );
      this.#clients.set(tunnel, client);
    }
    return client;
  }
}
