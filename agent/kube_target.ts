/**
 * The agent's own way into its cluster's kube-apiserver: URL, TLS trust and credentials, read from a
 * kubeconfig or from the in-cluster ServiceAccount. The reverse proxy adds these to every forwarded request.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, KubeConfig, type User } from "@kubernetes/client-node";

/** Where the kubelet mounts the ServiceAccount token, CA and namespace in every pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The kubelet rotates the projected token well before it expires; re-reading each minute keeps up with it. */
export const TOKEN_FILE_MAX_AGE_MS = 60_000;

/** TLS options for node:https / node:tls towards the apiserver. */
export interface KubeTls {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface KubeTarget {
  /** The apiserver's base URL; its path (usually empty) prefixes every request path. */
  readonly url: URL;
  readonly tls: KubeTls;
  /** The Authorization header value for a token identity; undefined when the identity is the client cert. */
  authorization(): string | undefined;
  /** The apiserver answered 401: a token file is read again before the next request. */
  credentialsRejected(): void;
  /** Where the target came from, for logs (a file path or "in-cluster"); never a secret. */
  readonly source: string;
}

export interface LoadKubeTargetOptions {
  /** A kubeconfig file; otherwise KUBECONFIG, otherwise the in-cluster ServiceAccount. */
  kubeconfigPath?: string;
  env?: (name: string) => string | undefined;
  serviceAccountDir?: string;
  tokenMaxAgeMs?: number;
  now?: () => number;
}

export function loadKubeTarget(options: LoadKubeTargetOptions = {}): KubeTarget {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const kubeconfigPaths = options.kubeconfigPath
    ? [options.kubeconfigPath]
    : (env("KUBECONFIG") ?? "").split(":").filter((path) => path !== "");
  const config = kubeconfigPaths.length > 0
    ? loadKubeconfigFiles(kubeconfigPaths)
    : inClusterConfig(env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  const source = kubeconfigPaths.length > 0 ? kubeconfigPaths.join(":") : "in-cluster";
  try {
    return targetFromConfig(config, source, options);
  } catch (error) {
    throw new Error(`kube target from ${source}: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  }
}

function loadKubeconfigFiles(paths: string[]): KubeConfig {
  const [first, ...rest] = paths.map(loadKubeconfigFile);
  // As kubectl does: the first file's current context wins; later files add entries.
  for (const other of rest) first.mergeConfig(other, true);
  return first;
}

function loadKubeconfigFile(path: string): KubeConfig {
  const config = new KubeConfig();
  try {
    config.loadFromFile(path);
  } catch (error) {
    throw new Error(`reading kubeconfig ${path}: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  }
  return config;
}

/**
 * Same outcome as KubeConfig.loadFromCluster, but with the environment and mount point passed in, and a
 * clear error outside a pod instead of a server URL of `https://undefined:undefined`.
 */
function inClusterConfig(env: (name: string) => string | undefined, serviceAccountDir: string): KubeConfig {
  const host = env("KUBERNETES_SERVICE_HOST");
  const port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw new Error(
      "no kubeconfig given, KUBECONFIG is unset and KUBERNETES_SERVICE_HOST/PORT are unset: " +
        "not running in a pod, so there is no apiserver to reach",
    );
  }
  const config = new KubeConfig();
  const hostInUrl = host.includes(":") ? `[${host}]` : host;
  config.loadFromClusterAndUser(
    {
      name: "in-cluster",
      server: `https://${hostInUrl}:${port}`,
      caFile: join(serviceAccountDir, "ca.crt"),
      skipTLSVerify: false,
    },
    {
      name: "in-cluster",
      authProvider: { name: "tokenFile", config: { tokenFile: join(serviceAccountDir, "token") } },
    },
  );
  return config;
}

function targetFromConfig(config: KubeConfig, source: string, options: LoadKubeTargetOptions): KubeTarget {
  const cluster = config.getCurrentCluster();
  const user = config.getCurrentUser();
  if (!cluster) throw new Error(`the current context (${config.getCurrentContext()}) names no cluster`);
  if (!user) throw new Error(`the current context (${config.getCurrentContext()}) names no user`);
  const url = serverUrl(cluster);
  const tls = tlsOptions(cluster, user);
  const credential = tokenCredential(user, options);
  if (!credential && !(tls.cert && tls.key)) {
    throw new Error(`user ${user.name} has neither a token nor a client certificate and key`);
  }
  return {
    url,
    tls,
    source,
    authorization: () => credential?.authorization(),
    credentialsRejected: () => credential?.rejected(),
  };
}

function serverUrl(cluster: Cluster): URL {
  if (cluster.proxyUrl) throw new Error(`cluster ${cluster.name}: proxy-url is not supported`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new Error(`cluster ${cluster.name}: server ${cluster.server} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error(`cluster ${cluster.name}: server ${cluster.server} is neither https nor http`);
  }
  return url;
}

function tlsOptions(cluster: Cluster, user: User): KubeTls {
  return {
    ca: pemOf(cluster.caFile, cluster.caData),
    cert: pemOf(user.certFile, user.certData),
    key: pemOf(user.keyFile, user.keyData),
    rejectUnauthorized: !cluster.skipTLSVerify,
    servername: cluster.tlsServerName || undefined,
  };
}

/** Kubeconfig's `*-data` fields are base64 of the PEM; the plain fields are file paths. */
function pemOf(file: string | undefined, base64Data: string | undefined): string | undefined {
  if (file) return readFileSync(file, "utf8");
  if (base64Data) return new TextDecoder().decode(Uint8Array.from(atob(base64Data), (c) => c.charCodeAt(0)));
  return undefined;
}

interface TokenCredential {
  authorization(): string;
  rejected(): void;
}

function tokenCredential(user: User, options: LoadKubeTargetOptions): TokenCredential | undefined {
  if (user.exec) throw new Error(`user ${user.name}: exec credential plugins are not supported`);
  if (user.username || user.password) throw new Error(`user ${user.name}: basic auth is not supported`);
  if (user.impersonateUser) {
    throw new Error(`user ${user.name}: "as" (impersonation) in the kubeconfig would clash with the hub's`);
  }
  const tokenFile = user.authProvider?.config?.tokenFile;
  if (typeof tokenFile === "string" && tokenFile !== "") {
    return tokenFileCredential(
      tokenFile,
      options.tokenMaxAgeMs ?? TOKEN_FILE_MAX_AGE_MS,
      options.now ?? Date.now,
    );
  }
  if (user.authProvider) {
    throw new Error(`user ${user.name}: auth-provider ${user.authProvider.name} is not supported`);
  }
  if (user.token) {
    const header = `Bearer ${user.token.trim()}`;
    return { authorization: () => header, rejected: () => {} };
  }
  return undefined;
}

/**
 * A token the kubelet rotates in place: read at start, again once it is older than `maxAgeMs`, and again
 * right after the apiserver rejected it. A failed re-read keeps the last good token (the kubelet swaps the
 * file atomically, so this only bridges a hiccup); a failed first read is an error.
 */
export function tokenFileCredential(path: string, maxAgeMs: number, now: () => number): TokenCredential {
  let token = readToken(path);
  let readAt = now();
  return {
    authorization() {
      if (now() - readAt >= maxAgeMs) {
        try {
          token = readToken(path);
          readAt = now();
        } catch {
          // keep the previous token; the next request tries again
        }
      }
      return `Bearer ${token}`;
    },
    rejected() {
      readAt = -Infinity;
    },
  };
}

function readToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch (error) {
    throw new Error(`reading token file ${path}: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  }
  if (text === "") throw new Error(`token file ${path} is empty`);
  return text;
}
