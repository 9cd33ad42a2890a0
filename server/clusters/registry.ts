/**
 * The clusters whose agents are connected right now: name → live tunnel.
 * In memory; agents reconnect (and re-enrol if they must) after a hub restart.
 * A cluster that reconnects replaces its old tunnel, which is then closed.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { YamuxSession } from "../../shared/tunnel/session.ts";
import type { YamuxStream } from "../../shared/tunnel/stream.ts";

export interface ConnectedCluster {
  name: string;
  agentId: string;
  agentVersion: string;
  connectedSince: Date;
  /** Last time a stream was opened or the tunnel attached. */
  lastSeen: Date;
  tunnel: YamuxSession;
}

export interface TunnelTotals {
  /** Tunnels attached since start, replacements and reconnects included. */
  attached: number;
  /** Attaches for a name that had been connected before. */
  reconnects: number;
  /** Bytes of tunnels already closed; live ones add their own. */
  closedBytesIn: number;
  closedBytesOut: number;
}

export class ClusterRegistry {
  #clusters = new Map<string, ConnectedCluster>();
  /** Versions agents reported when enrolling, by cluster and agent id. */
  #versions = new Map<string, string>();
  #everConnected = new Set<string>();
  readonly totals: TunnelTotals = { attached: 0, reconnects: 0, closedBytesIn: 0, closedBytesOut: 0 };

  /** Connected clusters sorted by name (byte order, as the reference). */
  list(): ConnectedCluster[] {
    return [...this.#clusters.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): ConnectedCluster | undefined {
    return this.#clusters.get(name);
  }

  /** Enrolment tells the registry which version an agent runs, before it dials. */
  noteAgentVersion(cluster: string, agentId: string, version: string): void {
    this.#versions.set(`${cluster}/${agentId}`, version);
  }

  /** Makes `tunnel` the cluster's live tunnel; an older one is closed. Returns the replaced entry, if any. */
  attach(name: string, agentId: string, tunnel: YamuxSession): ConnectedCluster | undefined {
    const previous = this.#clusters.get(name);
    const now = new Date();
    this.#clusters.set(name, {
      name,
      agentId,
      agentVersion: this.#versions.get(`${name}/${agentId}`) ?? "",
      connectedSince: now,
      lastSeen: now,
      tunnel,
    });
    this.totals.attached++;
    if (this.#everConnected.has(name)) this.totals.reconnects++;
    this.#everConnected.add(name);
    tunnel.closed.then(() => this.#detach(name, tunnel));
    if (previous) {
      previous.tunnel.goAway();
      void previous.tunnel.close(new Error(`replaced by a new tunnel from agent ${agentId}`));
    }
    return previous;
  }

  /**
   * The cluster's live entry. A cluster that is not connected is `unavailable`
   * at once: callers never wait for an agent that may not come.
   */
  connected(name: string): ConnectedCluster {
    const cluster = this.#clusters.get(name);
    if (!cluster || cluster.tunnel.isClosed) {
      throw new ConnectError(`cluster "${name}" is not connected`, Code.Unavailable);
    }
    return cluster;
  }

  /** A new stream to the cluster's agent (`unavailable` when not connected). */
  openStream(name: string): YamuxStream {
    const cluster = this.connected(name);
    cluster.lastSeen = new Date();
    return cluster.tunnel.openStream();
  }

  /** Closes every tunnel (hub shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#clusters.values()].map((c) => c.tunnel.close()));
  }

  #detach(name: string, tunnel: YamuxSession): void {
    const { bytesIn, bytesOut } = tunnel.stats();
    this.totals.closedBytesIn += bytesIn;
    this.totals.closedBytesOut += bytesOut;
    if (this.#clusters.get(name)?.tunnel === tunnel) this.#clusters.delete(name);
  }
}
