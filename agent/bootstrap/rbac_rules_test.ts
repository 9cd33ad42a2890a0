import assert from "node:assert/strict";
import { bootstrapBundle, groupOf, type KubeObject } from "./bundle.ts";
import { guessResource, type PolicyRule, rulesToApply } from "./rbac_rules.ts";

/** Kubernetes RBAC's decision for one request against a list of rules (no wildcards are expected). */
function allows(rules: PolicyRule[], verb: string, group: string, resource: string, name?: string): boolean {
  return rules.some((rule) =>
    rule.verbs.includes(verb) && rule.apiGroups.includes(group) && rule.resources.includes(resource) &&
    (!rule.resourceNames || (name !== undefined && rule.resourceNames.includes(name)))
  );
}

const plurals: Record<string, string> = {
  Namespace: "namespaces",
  ResourceQuota: "resourcequotas",
  CustomResourceDefinition: "customresourcedefinitions",
  ServiceAccount: "serviceaccounts",
  ClusterRole: "clusterroles",
  ClusterRoleBinding: "clusterrolebindings",
  Role: "roles",
  Service: "services",
  Deployment: "deployments",
  NetworkPolicy: "networkpolicies",
  Ingress: "ingresses",
  Gateway: "gateways",
};

Deno.test("guessResource names every kind of the bundle as the apiserver does", () => {
  for (const [kind, plural] of Object.entries(plurals)) assert.equal(guessResource(kind), plural, kind);
  for (const object of bootstrapBundle.objects) {
    assert.ok(plurals[object.kind], `add ${object.kind} to this table with the apiserver's plural`);
  }
});

Deno.test("the derived rules let the agent apply every bundled object, and nothing else by name", () => {
  const rules = rulesToApply(bootstrapBundle.objects);
  assert.ok(bootstrapBundle.objects.length > 0);
  for (const object of bootstrapBundle.objects) {
    const group = groupOf(object.apiVersion);
    const resource = guessResource(object.kind);
    for (const verb of ["get", "patch", "create"]) {
      assert.ok(
        allows(rules, verb, group, resource, object.metadata.name),
        `${verb} ${object.kind} ${object.metadata.name}`,
      );
    }
  }
  assert.ok(!allows(rules, "patch", "apps", "deployments", "coredns"));
  assert.ok(!allows(rules, "get", "", "secrets", "anything"));
  assert.ok(!allows(rules, "create", "", "secrets"));
  assert.ok(!allows(rules, "delete", "", "namespaces", "flux-system"));
  for (const rule of rules) {
    for (const field of [rule.verbs, rule.apiGroups, rule.resources]) assert.ok(!field.includes("*"));
  }
});

Deno.test("roles the agent does not hold need escalate, bindings need bind on their role", () => {
  const objects: KubeObject[] = [
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "big" }, rules: [] },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "b" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "rb", namespace: "x" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "local" },
    },
  ];
  const rules = rulesToApply(objects);
  const group = "rbac.authorization.k8s.io";
  assert.ok(allows(rules, "escalate", group, "clusterroles", "big"));
  assert.ok(!allows(rules, "escalate", group, "clusterroles", "cluster-admin"));
  assert.ok(allows(rules, "bind", group, "clusterroles", "cluster-admin"));
  assert.ok(allows(rules, "bind", group, "roles", "local"));
  assert.ok(!allows(rules, "bind", group, "clusterroles", "big"));
});

Deno.test("custom resources use their CRD's plural", () => {
  const objects: KubeObject[] = [
    {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "octopi.example.com" },
      spec: { group: "example.com", names: { kind: "Octopus", plural: "octopi" } },
    },
    { apiVersion: "example.com/v1", kind: "Octopus", metadata: { name: "o", namespace: "n" } },
  ];
  const rules = rulesToApply(objects);
  assert.ok(allows(rules, "patch", "example.com", "octopi", "o"));
  assert.ok(!allows(rules, "patch", "example.com", "octopuses", "o"));
});

Deno.test("a binding without a role reference is a broken bundle", () => {
  assert.throws(
    () =>
      rulesToApply([{
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "b" },
      }]),
    /roleRef/,
  );
});
