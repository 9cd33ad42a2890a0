/**
 * The hub's one way to reach a cluster's kube-apiserver: HTTP/1.1 on a stream
 * of that cluster's tunnel, as the calling user (Impersonate-User and
 * Impersonate-Group). The agent at the other end adds its own credentials.
 *
 * Streams are kept alive and reused per tunnel (a new stream costs a round
 * trip; reuse measured ~2× faster in the Deno lab). Bodies are streams both
 * ways, never buffered here.
 */
import * as http from "node:http";
import type { Duplex } from "node:stream";
import type { Identity } from "../auth/identity.ts";
import type { ClusterRegistry } from "./registry.ts";
import type { YamuxSession } from "../../shared/tunnel/session.ts";

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
  // One keep-alive pool per tunnel: streams of a replaced tunnel die with it.
  readonly #pools = new WeakMap<YamuxSession, http.Agent>();

  constructor(clusters: ClusterRegistry) {
    this.#clusters = clusters;
  }

  /**
   * Sends `request` to the cluster as `identity` and resolves with the
   * response head; the body streams from the returned message. Throws
   * `unavailable` at once when the cluster is not connected.
   */
  async request(cluster: string, identity: Identity, request: KubeRequest): Promise<http.IncomingMessage> {
    const pool = this.#pool(cluster);
    return await new Promise((resolve, reject) => {
      const outgoing = http.request({
        // A request with a body gets a stream of its own: Deno's http client
        // re-sends a request whose pooled connection was closed, and a body
        // replay can stall (found in the agent's proxy).
        agent: request.body === undefined
          ? pool
          : new TunnelAgent(() => this.#clusters.openStream(cluster), false),
        method: request.method,
        path: request.path,
        // The host is a label for logs; the stream already leads to the cluster.
        host: cluster,
        headers: {
          ...request.headers,
          "impersonate-user": identity.user,
          "impersonate-group": identity.groups,
        },
        signal: request.signal,
      }, resolve);
      outgoing.on("error", reject);
      outgoing.end(request.body);
    });
  }

  #pool(cluster: string): http.Agent {
    // Fails with `unavailable` before any request object exists.
    const { tunnel } = this.#clusters.connected(cluster);
    let pool = this.#pools.get(tunnel);
    if (!pool) {
      pool = new TunnelAgent(() => this.#clusters.openStream(cluster));
      this.#pools.set(tunnel, pool);
    }
    return pool;
  }
}

/**
 * An http.Agent whose connections are tunnel streams instead of TCP sockets;
 * `keepAlive: false` makes a one-shot agent for a single request. (Deno's
 * http client ignores a `createConnection` request option, so even a single
 * stream goes through an agent.)
 */
class TunnelAgent extends http.Agent {
  readonly #open: () => Duplex;

  constructor(open: () => Duplex, keepAlive = true) {
    // No socket timeout: a quiet watch must stay open. Streams the agent
    // closes when idle leave the pool on their own; a GET that raced such a
    // close is re-sent by the client, and bodies never use the pool.
    super({ keepAlive, maxFreeSockets: 32, scheduling: "lifo" });
    this.#open = open;
  }

  override createConnection(): Duplex {
    return this.#open();
  }
}
