// The little Kubernetes REST the bed needs for bootstrapping: server-side apply, get and wait.
// Plain fetch with a client certificate keeps `up` free of the large client library.
import { readFile } from "node:fs/promises";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** Kinds the bed creates: plural resource name and whether they live in a namespace. */
const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  Namespace: { plural: "namespaces", namespaced: false },
  Node: { plural: "nodes", namespaced: false },
  ClusterRole: { plural: "clusterroles", namespaced: false },
  ClusterRoleBinding: { plural: "clusterrolebindings", namespaced: false },
  Pod: { plural: "pods", namespaced: true },
  ServiceAccount: { plural: "serviceaccounts", namespaced: true },
  Secret: { plural: "secrets", namespaced: true },
};

export class KubeApi implements Disposable {
  #client: Deno.HttpClient;

  private constructor(readonly server: string, client: Deno.HttpClient) {
    this.#client = client;
  }

  static async connect(server: string, caFile: string, certFile: string, keyFile: string): Promise<KubeApi> {
    const [ca, cert, key] = await Promise.all([caFile, certFile, keyFile].map((f) => readFile(f, "utf8")));
    return new KubeApi(server, Deno.createHttpClient({ caCerts: [ca], cert, key }));
  }

  [Symbol.dispose](): void {
    this.#client.close();
  }

  /** Raw request; returns status and the parsed JSON body (or text when it is not JSON). */
  async request(method: string, path: string, body?: unknown, contentType = "application/json") {
    const response = await fetch(this.server + path, {
      method,
      client: this.#client,
      headers: body === undefined ? {} : { "content-type": contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      // Health endpoints answer plain text.
    }
    return { status: response.status, json, text };
  }

  /** Server-side apply (JSON is valid YAML for the apply-patch content type). */
  async apply(obj: KubeObject): Promise<KubeObject> {
    const path = objectPath(obj.apiVersion, obj.kind, obj.metadata.name, obj.metadata.namespace);
    const result = await this.request(
      "PATCH",
      `${path}?fieldManager=testbed&force=true`,
      obj,
      "application/apply-patch+yaml",
    );
    if (result.status >= 300) {
      throw new Error(
        `testbed: apply ${obj.kind} ${describe(obj)} failed: HTTP ${result.status} ${result.text}`,
      );
    }
    return result.json as KubeObject;
  }

  async get(path: string): Promise<Record<string, unknown> | undefined> {
    const result = await this.request("GET", path);
    if (result.status === 404) return undefined;
    if (result.status >= 300) {
      throw new Error(`testbed: GET ${path} failed: HTTP ${result.status} ${result.text}`);
    }
    return result.json as Record<string, unknown>;
  }
}

export function objectPath(apiVersion: string, kind: string, name: string, namespace?: string): string {
  const resource = RESOURCES[kind];
  if (!resource) throw new Error(`testbed: kind ${kind} is not known to kube_api.ts`);
  const prefix = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = resource.namespaced ? `/namespaces/${namespace ?? "default"}` : "";
  return `${prefix}${ns}/${resource.plural}/${name}`;
}

function describe(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}
