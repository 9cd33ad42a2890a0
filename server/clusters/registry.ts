/**
 * The clusters whose agents are connected right now: name → live tunnel.
 * In memory; agents re-register after a hub restart.
 */

export interface ConnectedCluster {
  name: string;
  agentId: string;
  agentVersion: string;
  connectedSince: Date;
  lastSeen: Date;
}

export class ClusterRegistry {
  #clusters = new Map<string, ConnectedCluster>();

  /** Connected clusters sorted by name (byte order, as the reference). */
  list(): ConnectedCluster[] {
    return [...this.#clusters.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): ConnectedCluster | undefined {
    return this.#clusters.get(name);
  }
}
