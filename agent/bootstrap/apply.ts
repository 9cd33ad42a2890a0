/**
 * Server-side apply of one object, as field manager `otterscale-agent` with force: the agent owns the
 * fields it sets, takes them back from anyone who changed them, and re-applying is a no-op.
 */
import type { KubeObject } from "./bundle.ts";
import { type KubeClient, statusMessage } from "../kube_client.ts";
import type { ResourceMapper } from "./resource_mapper.ts";

export const fieldManager = "otterscale-agent";

export async function applyObject(
  client: KubeClient,
  mapper: ResourceMapper,
  object: KubeObject,
): Promise<void> {
  const { name, namespace } = object.metadata;
  const what = `${object.kind} ${namespace ? `${namespace}/` : ""}${name}`;
  const mapping = await mapper.resolve(object.apiVersion, object.kind);
  if (mapping.namespaced && !namespace) {
    throw new Error(`apply ${what}: a namespaced object without a namespace`);
  }
  const scope = mapping.namespaced ? `/namespaces/${encodeURIComponent(namespace!)}` : "";
  const path = `${mapping.groupVersionPath}${scope}/${mapping.resource}/${encodeURIComponent(name)}` +
    `?fieldManager=${fieldManager}&force=true`;
  // JSON is YAML, so the apply content type takes the object as it is.
  const response = await client.send("PATCH", path, object, "application/apply-patch+yaml");
  if (response.status !== 200 && response.status !== 201) {
    throw new Error(`apply ${what}: ${statusMessage(response)}`);
  }
}
