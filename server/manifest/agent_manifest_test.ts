import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { bootstrapBundle } from "../../agent/bootstrap/bundle.ts";
import { agentManifestObjects, type AgentManifestParams, renderAgentManifest } from "./agent_manifest.ts";

const params: AgentManifestParams = {
  cluster: "edge-1",
  serverUrl: "https://hub.example.com",
  tunnelUrl: "https://tunnel.example.com:8300",
  image: "ghcr.io/otterscale/otterscale-agent:1.2.3",
  enrolmentToken: "ost1.payload.mac",
};

type Json = Record<string, unknown>;

function parsed(manifest: string): Json[] {
  return parseAllDocuments(manifest).map((document) => {
    assert.deepEqual(document.errors, []);
    return document.toJS() as Json;
  });
}

function find(objects: Json[], kind: string): Json {
  const found = objects.find((o) => o.kind === kind);
  assert.ok(found, `no ${kind}`);
  return found;
}

function byName(objects: Json[], name: string): Json {
  const found = objects.find((o) => (o.metadata as Json).name === name);
  assert.ok(found, `no ${name}`);
  return found;
}

Deno.test("the manifest is the agent's objects, in apply order, and reads back as them", () => {
  const manifest = renderAgentManifest(params);
  const objects = parsed(manifest);
  assert.deepEqual(objects, JSON.parse(JSON.stringify(agentManifestObjects(params))));
  assert.deepEqual(objects.map((o) => `${o.kind}/${(o.metadata as Json).name}`), [
    "Namespace/otterscale-system",
    "ServiceAccount/otterscale-agent",
    "ClusterRole/otterscale-agent-impersonate",
    "ClusterRole/otterscale-agent-bootstrap",
    "ClusterRoleBinding/otterscale-agent-impersonate",
    "ClusterRoleBinding/otterscale-agent-bootstrap",
    "Role/otterscale-agent",
    "RoleBinding/otterscale-agent",
    "Secret/otterscale-agent-enrolment",
    "Deployment/otterscale-agent",
  ]);
  for (const object of objects.slice(1)) {
    assert.equal((object.metadata as Json).namespace ?? "otterscale-system", "otterscale-system");
  }
});

Deno.test("nothing is granted to any user or group: every binding's only subject is the agent", () => {
  const objects = parsed(renderAgentManifest(params));
  const bindings = objects.filter((o) => String(o.kind).endsWith("Binding"));
  assert.equal(bindings.length, 3);
  for (const binding of bindings) {
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "otterscale-agent", namespace: "otterscale-system" },
    ]);
    // Each binding grants the manifest's role of the same name.
    assert.equal((binding.roleRef as Json).name, (binding.metadata as Json).name);
  }
  assert.doesNotMatch(JSON.stringify(objects), /"kind":"(User|Group)"/);
});

Deno.test("the agent may impersonate users and groups only, and update its own Deployment only", () => {
  const objects = parsed(renderAgentManifest(params));
  const impersonationRules = [{ apiGroups: [""], resources: ["users", "groups"], verbs: ["impersonate"] }];
  assert.deepEqual(byName(objects, "otterscale-agent-impersonate").rules, impersonationRules);
  const rules = objects.filter((o) => o.kind === "ClusterRole").flatMap((o) => o.rules as Json[]);
  assert.deepEqual(rules.filter((r) => (r.verbs as string[]).includes("impersonate")), impersonationRules);
  for (const rule of rules) {
    assert.ok(!(rule.verbs as string[]).includes("*"), JSON.stringify(rule));
    assert.ok(!(rule.resources as string[]).includes("*"), JSON.stringify(rule));
    assert.ok(!(rule.apiGroups as string[]).includes("*"), JSON.stringify(rule));
  }
  assert.deepEqual(find(objects, "Role").rules, [{
    apiGroups: ["apps"],
    resources: ["deployments"],
    resourceNames: ["otterscale-agent"],
    verbs: ["get", "patch"],
  }]);
});

Deno.test("the bootstrap ClusterRole covers every kind of the bootstrap bundle (B15)", () => {
  const rules = byName(parsed(renderAgentManifest(params)), "otterscale-agent-bootstrap").rules as Json[];
  const patchable = new Set(
    rules.filter((r) => (r.verbs as string[]).includes("patch")).flatMap((r) => r.resources as string[]),
  );
  for (const plural of ["resourcequotas", "customresourcedefinitions", "namespaces", "networkpolicies"]) {
    assert.ok(patchable.has(plural), `${plural} missing`);
  }
  assert.ok(
    bootstrapBundle.objects.some((o) => o.kind === "ResourceQuota"),
    "the bundle has a ResourceQuota",
  );
});

Deno.test("the Deployment: one Recreate replica, the image, env from the Secret and the downward API, locked down", () => {
  const deployment = find(parsed(renderAgentManifest(params)), "Deployment");
  const spec = deployment.spec as Json;
  assert.equal(spec.replicas, 1);
  assert.deepEqual(spec.strategy, { type: "Recreate" });
  const pod = (spec.template as Json).spec as Json;
  assert.equal(pod.serviceAccountName, "otterscale-agent");
  assert.equal((pod.securityContext as Json).runAsNonRoot, true);
  const [container] = pod.containers as Json[];
  assert.equal(container.name, "otterscale-agent");
  assert.equal(container.image, params.image);
  assert.deepEqual(container.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
  });
  assert.ok((container.resources as Json).limits);
  const env = Object.fromEntries((container.env as Json[]).map((e) => [e.name, e.value ?? e.valueFrom]));
  assert.deepEqual(env, {
    OTTERSCALE_AGENT_SERVER_URL: params.serverUrl,
    OTTERSCALE_AGENT_TUNNEL_SERVER_URL: params.tunnelUrl,
    OTTERSCALE_AGENT_CLUSTER: params.cluster,
    OTTERSCALE_AGENT_ENROLMENT_TOKEN: { secretKeyRef: { name: "otterscale-agent-enrolment", key: "token" } },
    POD_NAME: { fieldRef: { fieldPath: "metadata.name" } },
    POD_NAMESPACE: { fieldRef: { fieldPath: "metadata.namespace" } },
  });
  const secret = find(parsed(renderAgentManifest(params)), "Secret");
  assert.deepEqual(secret.stringData, { token: params.enrolmentToken });
});

Deno.test("an invalid cluster name is refused before anything is rendered", () => {
  for (const cluster of ["", "Edge", "a_b", "-a", "a-", "x".repeat(64), 'a"\nkind: ClusterRoleBinding']) {
    assert.throws(() => renderAgentManifest({ ...params, cluster }), RangeError, cluster);
  }
});

Deno.test("hostile URLs stay inside their quoted values", () => {
  const serverUrl = 'https://hub.example.com/"\n---\nkind: ClusterRoleBinding\n#';
  const objects = parsed(renderAgentManifest({ ...params, serverUrl }));
  assert.equal(objects.length, 10);
  const pod = ((find(objects, "Deployment").spec as Json).template as Json).spec as { containers: Json[] };
  const env = pod.containers[0].env as Json[];
  assert.equal(env[0].value, serverUrl);
});
