// Fixed loopback ports per cluster, so a bed can be found again (and reused) without a registry.
// Cluster i uses 16400 + 100*i + the last two digits of the usual port, e.g. alpha's apiserver is
// 16443 and beta's 16543.

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
  const base = 16400 + 100 * index;
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
