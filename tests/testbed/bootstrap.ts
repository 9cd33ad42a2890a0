// What every bed cluster holds once it is up: kwok nodes, the demo pod that logs/exec/port-forward
// target, and the agent's ServiceAccount with its RBAC, token file and kubeconfig.
import { writeFile } from "node:fs/promises";
import type { Log } from "./build.ts";
import type { ClusterLayout } from "./cluster.ts";
import type { KubeApi, KubeObject } from "./kube_api.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { waitFor } from "./wait.ts";

export const NODE_COUNT = 2;
export const AGENT_NAMESPACE = "otterscale-system";
export const AGENT_NAME = "otterscale-agent";

export interface DemoTarget {
  namespace: string;
  pod: string;
  container: string;
  /** Port to ask port-forward for; kwok sends every port to the bed's echo server. */
  podPort: number;
  /** First line the echo server answers with, through port-forward. */
  greeting: string;
  /** File the pod's logs stream from, and its initial content. */
  logsFile: string;
  logText: string;
}

type Json = Record<string, unknown>;

export async function bootstrapCluster(
  api: KubeApi,
  layout: ClusterLayout,
  caFile: string,
  log: Log,
): Promise<{ nodes: string[]; target: DemoTarget }> {
  const nodes = Array.from({ length: NODE_COUNT }, (_, i) => `kwok-${layout.name}-${i}`);
  for (const name of nodes) await api.apply(kwokNode(name));
  const target: DemoTarget = {
    namespace: "demo",
    pod: "demo-app",
    container: "app",
    podPort: 8080,
    greeting: echoGreeting(layout.name),
    logsFile: layout.podLogsFile,
    logText: podLogText(layout.name),
  };
  await api.apply(namespace(target.namespace));
  await api.apply(namespace(AGENT_NAMESPACE));
  for (const obj of agentObjects()) await api.apply(obj);

  // The ServiceAccount admission plugin rejects pods until the controller-manager made `default`.
  await waitFor(
    `${layout.name}: ServiceAccount ${target.namespace}/default`,
    60_000,
    () => api.get(`/api/v1/namespaces/${target.namespace}/serviceaccounts/default`),
  );
  await api.apply(demoPod(target));

  let lastNodes = "";
  await waitFor(`${layout.name}: ${NODE_COUNT} kwok nodes Ready`, 90_000, async () => {
    const list = await api.get("/api/v1/nodes?labelSelector=type%3Dkwok") as { items: Json[] };
    const ready = list.items.filter(isNodeReady).map(nameOf);
    lastNodes = `ready: [${ready.join(", ")}]`;
    return nodes.every((n) => ready.includes(n)) ? true : undefined;
  }, () => lastNodes);

  let lastPhase = "";
  await waitFor(`${layout.name}: pod demo/demo-app Running`, 90_000, async () => {
    const pod = await api.get(`/api/v1/namespaces/${target.namespace}/pods/${target.pod}`) as
      | Json
      | undefined;
    const status = (pod?.status ?? {}) as Json;
    lastPhase = `phase ${status.phase ?? "?"}, node ${(pod?.spec as Json)?.nodeName ?? "none"}`;
    return status.phase === "Running" ? true : undefined;
  }, () => lastPhase);

  const token = await waitFor(
    `${layout.name}: token of ServiceAccount ${AGENT_NAMESPACE}/${AGENT_NAME}`,
    60_000,
    async () => {
      const secret = await api.get(
        `/api/v1/namespaces/${AGENT_NAMESPACE}/secrets/${AGENT_NAME}-token`,
      ) as Json;
      const data = (secret?.data ?? {}) as Record<string, string>;
      return data.token ? atob(data.token) : undefined;
    },
  );
  await writeFile(layout.agentTokenFile, token, { mode: 0o600 });
  await writeKubeconfig(layout.agentKubeconfig, {
    clusterName: layout.name,
    userName: AGENT_NAME,
    server: layout.server,
    caFile,
    credentials: { token },
  });
  log(`ready: nodes ${nodes.join(", ")}, pod ${target.namespace}/${target.pod} Running`);
  return { nodes, target };
}

/** Known content of the demo pod's log, as the logs API returns it. */
export function podLogText(clusterName: string): string {
  return [1, 2, 3].map((i) => `demo-app ${clusterName} log line ${i}\n`).join("");
}

/** The log file kwok serves: the same lines in the CRI log format a kubelet reads ("<time> stdout F <line>"). */
export function podLogFile(clusterName: string, now = new Date()): string {
  return podLogText(clusterName).split("\n").filter((line) => line)
    .map((line) => `${now.toISOString()} stdout F ${line}\n`).join("");
}

/** What the port-forward target answers first. */
export function echoGreeting(clusterName: string): string {
  return `hello from testbed ${clusterName}`;
}

function kwokNode(name: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      // kwok only plays nodes that say they are fake.
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        type: "kwok",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
      },
    },
  };
}

function namespace(name: string): KubeObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name } };
}

function demoPod(target: DemoTarget): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: target.pod, namespace: target.namespace, labels: { app: target.pod } },
    spec: {
      // Nothing is pulled: kwok only plays the container.
      containers: [{
        name: target.container,
        image: "registry.invalid/testbed/app:1",
        ports: [{ containerPort: target.podPort }],
      }],
      nodeSelector: { type: "kwok" },
    },
  };
}

/**
 * The agent talks to the apiserver with its own token and acts as each hub user through
 * impersonation; it reads namespaces to find the cluster's identity (kube-system's UID).
 */
function agentObjects(): KubeObject[] {
  const ns = AGENT_NAMESPACE;
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: AGENT_NAME, namespace: ns } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: AGENT_NAME },
      rules: [
        { apiGroups: [""], resources: ["users", "groups", "serviceaccounts"], verbs: ["impersonate"] },
        { apiGroups: ["authentication.k8s.io"], resources: ["userextras/*", "uids"], verbs: ["impersonate"] },
        { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] },
        { nonResourceURLs: ["/version", "/healthz", "/readyz", "/livez"], verbs: ["get"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: AGENT_NAME },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: AGENT_NAME },
      subjects: [{ kind: "ServiceAccount", name: AGENT_NAME, namespace: ns }],
    },
    {
      // A long-lived token the controller-manager fills in; it stays valid across bed restarts.
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/service-account-token",
      metadata: {
        name: `${AGENT_NAME}-token`,
        namespace: ns,
        annotations: { "kubernetes.io/service-account.name": AGENT_NAME },
      },
    },
  ];
}

function isNodeReady(node: Json): boolean {
  const conditions = ((node.status as Json)?.conditions ?? []) as Json[];
  return conditions.some((c) => c.type === "Ready" && c.status === "True");
}

function nameOf(obj: Json): string {
  return (obj.metadata as Json).name as string;
}
