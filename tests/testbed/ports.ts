// Fixed loopback ports per cluster, so a bed can be found again (and reused) without a registry.
// Cluster i uses 16400 + 100*i + the last two digits of the usual port, e.g. alpha's apiserver is
// 16443 and beta's 16543. TESTBED_PORT_OFFSET moves every port of a bed (Keycloak's too), so a second
// checkout can run its own bed beside the first.

/** Added to every port of this bed; from TESTBED_PORT_OFFSET, default 0. */
export const portOffset = readPortOffset();

function readPortOffset(): number {
  const text = Deno.env.get("TESTBED_PORT_OFFSET") ?? "0";
  const offset = Number(text);
  if (!Number.isInteger(offset) || offset < 0 || offset > 40_000) {
    throw new Error(`TESTBED_PORT_OFFSET must be a whole number from 0 to 40000, got "${text}"`);
  }
  return offset;
}

/** Keycloak of this bed. */
export const keycloakPort = 18080 + portOffset;

export interface ClusterPorts {
  apiserver: number;
  etcdClient: number;
  etcdPeer: number;
  controllerManager: number;
  scheduler: number;
  /** kwok's kubelet-like server: logs, exec and port-forward of every fake node. */
  kwok: number;
  /** The local listener the demo pod's port-forward reaches. */
  echo: number;
}

export const CLUSTER_NAMES = ["alpha", "beta", "gamma", "delta"];

export function clusterPorts(index: number): ClusterPorts {
  if (index < 0 || index >= CLUSTER_NAMES.length) {
    throw new Error(`testbed: cluster index ${index} is out of range 0..${CLUSTER_NAMES.length - 1}`);
  }
  const base = 16400 + portOffset + 100 * index;
  return {
    apiserver: base + 43,
    etcdClient: base + 79,
    etcdPeer: base + 80,
    controllerManager: base + 57,
    scheduler: base + 59,
    kwok: base + 47,
    echo: base + 88,
  };
}

/** True when nothing listens on 127.0.0.1:port (so a component of ours can bind it). */
export function portIsFree(port: number): boolean {
  try {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
}
