/**
 * Rolling restart the way `kubectl rollout restart` does it: a new value of the
 * `kubectl.kubernetes.io/restartedAt` annotation on the pod template makes the controller (Deployment,
 * StatefulSet, DaemonSet, or any kind with `spec.template`) roll every pod.
 */
import { invalidArgument } from "../../shared/errors.ts";
import { callJson, type ClusterCaller } from "./kube_call.ts";
import { asObject } from "./objects.ts";
import { resourcePath, type ResourceTarget, withQuery } from "./resource_paths.ts";

export const RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt";

export interface RestartTarget extends ResourceTarget {
  name: string;
}

/** The merge patch that stamps the pod template with `at` (UTC, whole seconds, as kubectl writes it). */
export function restartPatch(at: Date): string {
  const stamp = at.toISOString().replace(/\.\d{3}Z$/, "Z");
  return JSON.stringify({
    spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: stamp } } } },
  });
}

/**
 * Patches the template annotation, after checking the object has a pod template to patch: a merge patch
 * on another kind would fail with the whole object in its message, or (without strict field validation)
 * be silently ignored.
 */
export async function restartWorkload(
  caller: ClusterCaller,
  target: RestartTarget,
  fieldManager: string,
  at: Date,
  signal?: AbortSignal,
): Promise<void> {
  const where = target.namespace ? `${target.namespace}/` : "";
  const action = `restart ${target.resource} ${where}${target.name} on cluster "${caller.cluster}"`;
  const current = asObject(
    await callJson(caller, {
      method: "GET",
      path: resourcePath(target),
      headers: { accept: "application/json" },
      signal,
    }, { action, signal }),
  );
  if (!asObject(asObject(current?.spec)?.template)) {
    throw invalidArgument(
      `resource: ${target.resource} have no pod template (spec.template); Restart rolls the pods of ` +
        "Deployments, StatefulSets, DaemonSets and kinds like them",
    );
  }
  const body = new TextEncoder().encode(restartPatch(at));
  await callJson(caller, {
    method: "PATCH",
    path: withQuery(resourcePath(target), { fieldManager, fieldValidation: "Strict" }),
    headers: {
      "content-type": "application/merge-patch+json",
      "content-length": String(body.length),
      accept: "application/json",
    },
    body,
    signal,
  }, { action, signal });
}
