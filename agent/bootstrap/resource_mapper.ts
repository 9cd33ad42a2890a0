/**
 * Kind → REST resource, from the apiserver's discovery documents (`/api/v1`, `/apis/<group>/<version>`),
 * so that an object's URL uses the resource name and scope the cluster really serves. Successful
 * lookups are cached per group-version; a group-version that is not served yet (a CRD just created) is
 * asked again next time.
 */
import type { KubeClient } from "../kube_client.ts";
import { statusMessage } from "../kube_client.ts";

export interface ResourceMapping {
  /** e.g. `/apis/apps/v1` */
  groupVersionPath: string;
  resource: string;
  namespaced: boolean;
}

export interface ResourceMapper {
  resolve(apiVersion: string, kind: string): Promise<ResourceMapping>;
}

interface ApiResourceList {
  resources?: { name: string; kind: string; namespaced: boolean }[];
}

export function createResourceMapper(client: KubeClient): ResourceMapper {
  const cache = new Map<string, ApiResourceList>();
  return {
    async resolve(apiVersion, kind) {
      const groupVersionPath = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      let list = cache.get(groupVersionPath);
      if (!list) {
        const response = await client.send("GET", groupVersionPath);
        if (response.status !== 200) {
          throw new Error(`discovery of ${apiVersion} failed: ${statusMessage(response)}`);
        }
        list = response.body as ApiResourceList;
        cache.set(groupVersionPath, list);
      }
      // Subresources (pods/log, …) share their parent's kind; the top-level resource is the one wanted.
      const found = list.resources?.find((r) => r.kind === kind && !r.name.includes("/"));
      if (!found) throw new Error(`the cluster serves no ${kind} in ${apiVersion}`);
      return { groupVersionPath, resource: found.name, namespaced: found.namespaced };
    },
  };
}
