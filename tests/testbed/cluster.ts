// One cluster of the bed: its files, its processes (etcd, control plane, kwok, the port-forward
// target) and how to bring them up, check them and stop them. Components that already run are kept.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Binaries, Log } from "./build.ts";
import { type ClusterPki, ensureClusterPki } from "./certs.ts";
import { bootstrapCluster, type DemoTarget, echoGreeting, podLogFile } from "./bootstrap.ts";
import { KubeApi } from "./kube_api.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { writeKwokConfig } from "./kwok.ts";
import type { TestbedPaths } from "./paths.ts";
import { type ClusterPorts, clusterPorts, portIsFree } from "./ports.ts";
import { groupResidentBytes, isRunning, readPid, startDetached, stopProcess, tailLog } from "./processes.ts";
import { GiveUp, waitFor } from "./wait.ts";

export interface ClusterLayout {
  name: string;
  index: number;
  dir: string;
  ports: ClusterPorts;
  server: string;
  /** First address of the service range: the `kubernetes` Service, named in the serving cert. */
  serviceIp: string;
  serviceCidr: string;
  adminKubeconfig: string;
  agentKubeconfig: string;
  agentTokenFile: string;
  podLogsFile: string;
  execDir: string;
}

/** What the state file tells tests about a running cluster. */
export interface ClusterInfo {
  name: string;
  server: string;
  /** Admin identity (O=system:masters); absolute path. */
  kubeconfig: string;
  /** The agent's ServiceAccount token; absolute path. */
  agentKubeconfig: string;
  agentTokenFile: string;
  caFile: string;
  nodes: string[];
  demo: DemoTarget;
  ports: ClusterPorts;
}

interface Component {
  name: string;
  command: string;
  args: string[];
  /** Files it reads at start; a change to them means the running process is stale. */
  configFiles?: string[];
  /** Ports it binds; must be free before it starts. */
  ports: number[];
  /** Resolves once the component serves; only awaited for components the later ones depend on. */
  ready?: () => Promise<void>;
}

const COMPONENT_ORDER = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
  "echo",
];

export function clusterLayout(paths: TestbedPaths, name: string, index: number): ClusterLayout {
  const dir = join(paths.runDir, name);
  const ports = clusterPorts(index);
  return {
    name,
    index,
    dir,
    ports,
    server: `https://127.0.0.1:${ports.apiserver}`,
    serviceIp: `10.${96 + index}.0.1`,
    serviceCidr: `10.${96 + index}.0.0/16`,
    adminKubeconfig: join(dir, "admin.kubeconfig"),
    agentKubeconfig: join(dir, "agent.kubeconfig"),
    agentTokenFile: join(dir, "agent.token"),
    podLogsFile: join(dir, "pod-logs", "app.log"),
    execDir: join(dir, "exec"),
  };
}

export async function upCluster(layout: ClusterLayout, bins: Binaries, log: Log): Promise<ClusterInfo> {
  const say = (line: string) => log(`${layout.name}: ${line}`);
  const pki = await ensureClusterPki(join(layout.dir, "pki"), layout.name, layout.serviceIp);
  await writeClusterFiles(layout, pki, bins);

  using api = await KubeApi.connect(layout.server, pki.caCert, pki.adminCert, pki.adminKey);
  for (const component of components(layout, pki, bins, api)) {
    const pid = pidFile(layout, component.name);
    const fingerprint = await fingerprintOf(component, pki.caCert);
    if (await isRunning(pid, component.command)) {
      if ((await readText(fingerprintFile(layout, component.name))) === fingerprint) continue;
      // Started by an older bed (other version, flags or config): replace it rather than test against it.
      say(`restarting ${component.name}: its binary, flags or configuration changed`);
      await stopProcess(pid);
    }
    const busy = component.ports.filter((port) => !portIsFree(port));
    if (busy.length > 0) {
      throw new Error(
        `testbed: cannot start ${layout.name}/${component.name}: port ${busy.join(", ")} on 127.0.0.1 is ` +
          `taken by another process (not one this bed started); stop it or free the port`,
      );
    }
    say(`starting ${component.name}`);
    await startDetached({
      name: `${layout.name}/${component.name}`,
      command: component.command,
      args: component.args,
      pidFile: pid,
      logFile: logFile(layout, component.name),
      cwd: layout.dir,
    });
    await writeFile(fingerprintFile(layout, component.name), fingerprint);
    if (component.ready) await waitReady(layout, component);
  }
  const demo = await bootstrapCluster(api, layout, pki.caCert, say);
  await assertAllRunning(layout, bins);
  return {
    name: layout.name,
    server: layout.server,
    kubeconfig: layout.adminKubeconfig,
    agentKubeconfig: layout.agentKubeconfig,
    agentTokenFile: layout.agentTokenFile,
    caFile: pki.caCert,
    nodes: demo.nodes,
    demo: demo.target,
    ports: layout.ports,
  };
}

/** Stops the cluster's processes, last started first. Returns the names of those that were running. */
export async function downCluster(layout: ClusterLayout): Promise<string[]> {
  const stopped: string[] = [];
  for (const name of [...COMPONENT_ORDER].reverse()) {
    if (await stopProcess(pidFile(layout, name))) stopped.push(name);
  }
  return stopped;
}

export interface ComponentStatus {
  name: string;
  pid?: number;
  running: boolean;
  rssBytes: number;
}

export async function clusterStatus(layout: ClusterLayout, bins: Binaries): Promise<ComponentStatus[]> {
  const result: ComponentStatus[] = [];
  for (const name of COMPONENT_ORDER) {
    const file = pidFile(layout, name);
    const running = await isRunning(file, commandOf(name, bins));
    result.push({
      name,
      pid: await readPid(file),
      running,
      rssBytes: running ? await groupResidentBytes(file) : 0,
    });
  }
  return result;
}

function components(layout: ClusterLayout, pki: ClusterPki, bins: Binaries, api: KubeApi): Component[] {
  const { ports, dir } = layout;
  const kubeconfigOf = (name: string) => join(dir, "kubeconfigs", `${name}.kubeconfig`);
  const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  return [
    {
      name: "etcd",
      command: bins.paths.etcd,
      ports: [ports.etcdClient, ports.etcdPeer],
      args: [
        `--name=${layout.name}`,
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${layout.name}=${peerUrl}`,
        // A throwaway test store: durability is not worth the disk syncs on a shared machine.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
      ],
      ready: async () => {
        const response = await fetch(`${etcdUrl}/health`);
        const body = await response.json();
        if (body.health !== "true") throw new Error(`etcd /health says ${JSON.stringify(body)}`);
      },
    },
    {
      name: "kube-apiserver",
      command: bins.paths["kube-apiserver"],
      ports: [ports.apiserver],
      args: [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${ports.apiserver}`,
        `--tls-cert-file=${pki.apiserverCert}`,
        `--tls-private-key-file=${pki.apiserverKey}`,
        `--client-ca-file=${pki.caCert}`,
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-cluster-ip-range=${layout.serviceCidr}`,
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        // Logs, exec and port-forward go to kwok's server, reached at each node's InternalIP.
        `--kubelet-client-certificate=${pki.kubeletClientCert}`,
        `--kubelet-client-key=${pki.kubeletClientKey}`,
        `--kubelet-certificate-authority=${pki.caCert}`,
        "--kubelet-preferred-address-types=InternalIP",
        // The `kubernetes` Service cannot point at a loopback address; nothing in a kwok cluster needs it.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
      ],
      ready: async () => {
        const result = await api.request("GET", "/readyz");
        if (result.status !== 200) {
          throw new Error(`/readyz: HTTP ${result.status} ${result.text.slice(-300)}`);
        }
      },
    },
    {
      name: "kube-controller-manager",
      command: bins.paths["kube-controller-manager"],
      ports: [ports.controllerManager],
      args: [
        `--kubeconfig=${kubeconfigOf("controller-manager")}`,
        `--authentication-kubeconfig=${kubeconfigOf("controller-manager")}`,
        `--authorization-kubeconfig=${kubeconfigOf("controller-manager")}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${ports.controllerManager}`,
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        `--cluster-name=${layout.name}`,
        `--service-cluster-ip-range=${layout.serviceCidr}`,
        "--profiling=false",
      ],
    },
    {
      name: "kube-scheduler",
      command: bins.paths["kube-scheduler"],
      ports: [ports.scheduler],
      args: [
        `--kubeconfig=${kubeconfigOf("scheduler")}`,
        `--authentication-kubeconfig=${kubeconfigOf("scheduler")}`,
        `--authorization-kubeconfig=${kubeconfigOf("scheduler")}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${ports.scheduler}`,
        "--leader-elect=false",
        "--profiling=false",
      ],
    },
    {
      name: "kwok",
      command: bins.paths.kwok,
      ports: [ports.kwok],
      configFiles: [join(dir, "kwok.yaml")],
      args: [
        `--kubeconfig=${kubeconfigOf("kwok")}`,
        `--config=${join(dir, "kwok.yaml")}`,
        "--manage-all-nodes=true",
        // Every fake node reports this address and port, so the apiserver reaches kwok's server.
        "--node-ip=127.0.0.1",
        `--node-port=${ports.kwok}`,
        `--server-address=127.0.0.1:${ports.kwok}`,
        `--tls-cert-file=${pki.kwokServingCert}`,
        `--tls-private-key-file=${pki.kwokServingKey}`,
        `--cidr=10.${layout.index}.0.1/16`,
        "--node-lease-duration-seconds=40",
      ],
    },
    {
      name: "echo",
      command: Deno.execPath(),
      ports: [ports.echo],
      args: ["run", "--allow-net=127.0.0.1", echoServerPath(), String(ports.echo), echoGreeting(layout.name)],
      ready: async () => {
        const response = await fetch(`http://127.0.0.1:${ports.echo}/`);
        const text = await response.text();
        if (!text.startsWith(echoGreeting(layout.name))) throw new Error(`echo server answered ${text}`);
      },
    },
  ];
}

async function writeClusterFiles(layout: ClusterLayout, pki: ClusterPki, bins: Binaries): Promise<void> {
  const kubeconfigs = join(layout.dir, "kubeconfigs");
  await mkdir(kubeconfigs, { recursive: true });
  await mkdir(layout.execDir, { recursive: true });
  await mkdir(dirname(layout.podLogsFile), { recursive: true });
  const base = { clusterName: layout.name, server: layout.server, caFile: pki.caCert };
  await writeKubeconfig(layout.adminKubeconfig, {
    ...base,
    userName: "testbed-admin",
    credentials: { certFile: pki.adminCert, keyFile: pki.adminKey },
  });
  const identities: [string, string, string][] = [
    ["controller-manager", pki.controllerManagerCert, pki.controllerManagerKey],
    ["scheduler", pki.schedulerCert, pki.schedulerKey],
    ["kwok", pki.kwokClientCert, pki.kwokClientKey],
  ];
  for (const [name, certFile, keyFile] of identities) {
    await writeKubeconfig(join(kubeconfigs, `${name}.kubeconfig`), {
      ...base,
      userName: name,
      credentials: { certFile, keyFile },
    });
  }
  await writeKwokConfig(join(layout.dir, "kwok.yaml"), bins.kwokStagesDir, {
    logsFile: layout.podLogsFile,
    execWorkDir: layout.execDir,
    forwardTarget: { address: "127.0.0.1", port: layout.ports.echo },
  });
  await writeFile(layout.podLogsFile, podLogFile(layout.name));
}

async function waitReady(layout: ClusterLayout, component: Component): Promise<void> {
  const pid = pidFile(layout, component.name);
  await waitFor(`${layout.name}/${component.name} to serve`, 90_000, async () => {
    if (!(await isRunning(pid, component.command))) {
      const tail = await tailLog(logFile(layout, component.name));
      throw new GiveUp(`${layout.name}/${component.name} exited; last log lines:\n${tail}`);
    }
    await component.ready!();
    return true;
  }).catch((error) => {
    if (error instanceof GiveUp) throw error;
    throw new Error(`${error.message}\n(log: ${logFile(layout, component.name)})`);
  });
}

async function assertAllRunning(layout: ClusterLayout, bins: Binaries): Promise<void> {
  for (const name of COMPONENT_ORDER) {
    if (!(await isRunning(pidFile(layout, name), commandOf(name, bins)))) {
      const tail = await tailLog(logFile(layout, name));
      throw new Error(`testbed: ${layout.name}/${name} is not running; last log lines:\n${tail}`);
    }
  }
}

function commandOf(name: string, bins: Binaries): string {
  return name === "echo" ? Deno.execPath() : bins.paths[name as keyof Binaries["paths"]];
}

/**
 * Identifies what a component was started with: binary path (which names the version), flags, and the
 * content of its config files and of the cluster CA (new certificates mean a new cluster).
 */
async function fingerprintOf(component: Component, caFile: string): Promise<string> {
  const files = await Promise.all([caFile, ...(component.configFiles ?? [])].map(readText));
  const text = JSON.stringify([component.command, component.args, files]);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return "";
  }
}

function fingerprintFile(layout: ClusterLayout, name: string): string {
  return join(layout.dir, "pids", `${name}.fingerprint`);
}

function pidFile(layout: ClusterLayout, name: string): string {
  return join(layout.dir, "pids", `${name}.pid`);
}

function logFile(layout: ClusterLayout, name: string): string {
  return join(layout.dir, "logs", `${name}.log`);
}

function echoServerPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "echo_server.ts");
}
