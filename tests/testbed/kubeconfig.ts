// kubeconfig files with the CA and credentials embedded, so each file works on its own.
import { readFile, writeFile } from "node:fs/promises";
import { stringify } from "yaml";

export type KubeCredentials = { certFile: string; keyFile: string } | { token: string };

export interface KubeconfigSpec {
  clusterName: string;
  userName: string;
  server: string;
  caFile: string;
  credentials: KubeCredentials;
}

export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<void> {
  const user: Record<string, string> = "token" in spec.credentials ? { token: spec.credentials.token } : {
    "client-certificate-data": await base64File(spec.credentials.certFile),
    "client-key-data": await base64File(spec.credentials.keyFile),
  };
  const context = `${spec.userName}@${spec.clusterName}`;
  const doc = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: spec.clusterName,
      cluster: { server: spec.server, "certificate-authority-data": await base64File(spec.caFile) },
    }],
    users: [{ name: spec.userName, user }],
    contexts: [{ name: context, context: { cluster: spec.clusterName, user: spec.userName } }],
    "current-context": context,
  };
  await writeFile(path, stringify(doc), { mode: 0o600 });
}

async function base64File(path: string): Promise<string> {
  return btoa(await readFile(path, "latin1"));
}
