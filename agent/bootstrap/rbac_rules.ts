/**
 * The RBAC rules that applying a set of objects by server-side apply needs, derived from the objects
 * themselves, so the agent's ServiceAccount can install exactly the bootstrap bundle and no more
 * (the reference's hand-written list missed e.g. ResourceQuota, its bug B15).
 *
 * What the apiserver checks for an apply (PATCH) of object `name`: `patch` on that name, and `create`
 * when the object does not exist yet; `create` cannot be limited to names, because a create request
 * carries none in its URL. Roles and ClusterRoles need `escalate` on their name, because the agent does
 * not hold the permissions they grant; bindings need `bind` on the role they refer to. `get` on the
 * names lets the agent read back what it applied (CRDs until they are Established).
 */
import { groupOf, isCrd, type KubeObject } from "./bundle.ts";

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const rbacGroup = "rbac.authorization.k8s.io";

export function rulesToApply(objects: readonly KubeObject[]): PolicyRule[] {
  const plurals = crdPlurals(objects);
  const named = new NameSets();
  const escalate = new NameSets();
  const bind = new NameSets();
  for (const object of objects) {
    const group = groupOf(object.apiVersion);
    const resource = plurals.get(`${group}/${object.kind}`) ?? guessResource(object.kind);
    named.add(group, resource, object.metadata.name);
    if (group === rbacGroup && (object.kind === "ClusterRole" || object.kind === "Role")) {
      escalate.add(group, resource, object.metadata.name);
    }
    if (group === rbacGroup && (object.kind === "ClusterRoleBinding" || object.kind === "RoleBinding")) {
      const roleRef = object.roleRef as { kind?: string; name?: string } | undefined;
      if (!roleRef?.name || (roleRef.kind !== "ClusterRole" && roleRef.kind !== "Role")) {
        throw new Error(`${object.kind} ${object.metadata.name} has no ClusterRole or Role roleRef`);
      }
      bind.add(rbacGroup, guessResource(roleRef.kind), roleRef.name);
    }
  }
  const rules: PolicyRule[] = [];
  for (const [group, resources] of named.groups()) {
    rules.push({ apiGroups: [group], resources: [...resources.keys()], verbs: ["create"] });
    for (const [resource, names] of resources) {
      rules.push({
        apiGroups: [group],
        resources: [resource],
        verbs: ["get", "patch"],
        resourceNames: names,
      });
    }
  }
  for (const [verb, sets] of [["escalate", escalate], ["bind", bind]] as const) {
    for (const [group, resources] of sets.groups()) {
      for (const [resource, names] of resources) {
        rules.push({ apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: names });
      }
    }
  }
  return rules;
}

/**
 * Kubernetes' own fallback for a kind's resource name (lowercase plural), used where discovery is not
 * at hand. Exact for every built-in kind the bundle holds; custom kinds use their CRD's plural.
 */
export function guessResource(kind: string): string {
  const singular = kind.toLowerCase();
  if (singular.endsWith("s")) return `${singular}es`;
  if (/[^aeiou]y$/.test(singular)) return `${singular.slice(0, -1)}ies`;
  return `${singular}s`;
}

/** `group/Kind` → plural, for the custom kinds that the objects' own CRDs define. */
function crdPlurals(objects: readonly KubeObject[]): Map<string, string> {
  const plurals = new Map<string, string>();
  for (const object of objects) {
    if (!isCrd(object)) continue;
    const spec = object.spec as { group?: string; names?: { kind?: string; plural?: string } } | undefined;
    if (spec?.group && spec.names?.kind && spec.names.plural) {
      plurals.set(`${spec.group}/${spec.names.kind}`, spec.names.plural);
    }
  }
  return plurals;
}

/** group → resource → sorted unique names, in a stable order for a stable manifest. */
class NameSets {
  #sets = new Map<string, Map<string, Set<string>>>();

  add(group: string, resource: string, name: string): void {
    let resources = this.#sets.get(group);
    if (!resources) this.#sets.set(group, resources = new Map());
    let names = resources.get(resource);
    if (!names) resources.set(resource, names = new Set());
    names.add(name);
  }

  groups(): [string, Map<string, string[]>][] {
    return [...this.#sets.keys()].sort().map((group) => {
      const resources = this.#sets.get(group)!;
      const sorted = new Map(
        [...resources.keys()].sort().map((resource) => [resource, [...resources.get(resource)!].sort()]),
      );
      return [group, sorted];
    });
  }
}
