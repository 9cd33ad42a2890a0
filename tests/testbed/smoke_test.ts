// Acceptance checks of the test bed itself: the Kubernetes features OtterScale relies on work against the
// bed's real processes. The first test starts the bed when it is not running (that takes minutes cold).
import * as k8s from "@kubernetes/client-node";
import { createRemoteJWKSet, jwtVerify } from "jose";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { PassThrough, Writable } from "node:stream";
import { passwordGrant } from "./keycloak/keycloak.ts";
import { ensureTestbed, type TestbedState } from "./testbed.ts";
import { waitFor } from "./wait.ts";

const FIELD_MANAGER = "testbed-smoke";

let bed: Promise<TestbedState> | undefined;
function testbed(): Promise<TestbedState> {
  bed ??= ensureTestbed();
  return bed;
}

async function kubeConfig(which: "kubeconfig" | "agentKubeconfig" = "kubeconfig", index = 0) {
  const state = await testbed();
  const cluster = state.clusters[index];
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster[which]);
  return { kc, cluster, state };
}

/** Collects what a client-node stream API writes. */
function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

Deno.test("bed is up: every cluster serves, with its own kwok nodes Ready", async () => {
  const state = await testbed();
  assert(state.clusters.length >= 1, "state.json lists no cluster");
  const nodeNames = new Set<string>();
  for (const [index, cluster] of state.clusters.entries()) {
    assert(cluster.kubeconfig.startsWith("/"), `kubeconfig path is not absolute: ${cluster.kubeconfig}`);
    const { kc } = await kubeConfig("kubeconfig", index);
    const nodes = await kc.makeApiClient(k8s.CoreV1Api).listNode({ labelSelector: "type=kwok" });
    const ready = nodes.items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
    );
    assert.deepEqual(ready.map((n) => n.metadata!.name).sort(), [...cluster.nodes].sort());
    for (const node of cluster.nodes) nodeNames.add(node);
  }
  // Independent clusters: no node appears in two of them.
  assert.deepEqual(nodeNames.size, state.clusters.reduce((n, c) => n + c.nodes.length, 0));
});

Deno.test("server-side apply creates a Namespace and ConfigMap; list by label selector finds them", async () => {
  const { kc } = await kubeConfig();
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const namespace = "smoke-apply";
  await objects.patch(
    { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { suite: "smoke" } } },
    undefined,
    undefined,
    FIELD_MANAGER,
    true,
    k8s.PatchStrategy.ServerSideApply,
  );
  for (const [name, tier] of [["cm-front", "front"], ["cm-back", "back"]]) {
    const applied = await objects.patch(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, namespace, labels: { suite: "smoke", tier } },
        data: { tier },
      } as k8s.KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      k8s.PatchStrategy.ServerSideApply,
    );
    assert.deepEqual(applied.metadata?.managedFields?.[0]?.manager, FIELD_MANAGER);
  }
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const front = await core.listNamespacedConfigMap({ namespace, labelSelector: "suite=smoke,tier=front" });
  assert.deepEqual(front.items.map((cm) => cm.metadata!.name), ["cm-front"]);
  const all = await core.listNamespacedConfigMap({ namespace, labelSelector: "suite=smoke" });
  assert.deepEqual(all.items.map((cm) => cm.metadata!.name).sort(), ["cm-back", "cm-front"]);
});

Deno.test("watch delivers ADDED, MODIFIED and a BOOKMARK", async () => {
  const { kc } = await kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const namespace = `smoke-watch-${Date.now()}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const seen: string[] = [];
  let finished!: (err: unknown) => void;
  const done = new Promise((resolve) => (finished = resolve));
  try {
    const list = await core.listNamespacedConfigMap({ namespace });
    // The apiserver sends a bookmark about 2s before the watch's own timeout.
    const controller = await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      { allowWatchBookmarks: true, resourceVersion: list.metadata!.resourceVersion, timeoutSeconds: 5 },
      (phase) => seen.push(phase),
      (err) => finished(err),
    );
    try {
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: "watched" }, data: { v: "1" } },
      });
      await core.replaceNamespacedConfigMap({
        name: "watched",
        namespace,
        body: { metadata: { name: "watched" }, data: { v: "2" } },
      });
      await waitFor(
        "ADDED, MODIFIED and BOOKMARK events",
        15_000,
        () =>
          Promise.resolve(
            ["ADDED", "MODIFIED", "BOOKMARK"].every((t) => seen.includes(t)) ? true : undefined,
          ),
        () => `seen ${seen.join(",")}`,
      );
    } finally {
      controller.abort();
      await done;
    }
  } finally {
    await core.deleteNamespace({ name: namespace });
  }
  assert.deepEqual(seen.slice(0, 2), ["ADDED", "MODIFIED"]);
});

Deno.test("logs of the kwok pod stream the bed's log file", async (t) => {
  for (const [index, { name }] of (await testbed()).clusters.entries()) {
    await t.step(name, async () => {
      const { kc, cluster } = await kubeConfig("kubeconfig", index);
      const { namespace, pod, container, logText, logsFile } = cluster.demo;
      const out = collector();
      await new k8s.Log(kc).log(namespace, pod, container, out.stream, { follow: false });
      await waitFor(
        "log text",
        10_000,
        () => Promise.resolve(out.text().includes(logText) ? true : undefined),
        out.text,
      );
      assert.equal(out.text(), logText);
      // The text comes from the bed's file (in CRI log format), not from anywhere else.
      const file = await readFile(logsFile, "utf8");
      for (const line of logText.trimEnd().split("\n")) assert.match(file, new RegExp(` stdout F ${line}\n`));
    });
  }
});

Deno.test("exec of `echo hi` in the kwok pod runs a real process", async (t) => {
  for (const [index, { name }] of (await testbed()).clusters.entries()) {
    await t.step(name, async () => {
      const { kc, cluster } = await kubeConfig("kubeconfig", index);
      const { namespace, pod, container } = cluster.demo;
      const stdout = collector();
      const stderr = collector();
      let status: k8s.V1Status | undefined;
      const ws = await new k8s.Exec(kc).exec(
        namespace,
        pod,
        container,
        ["echo", "hi"],
        stdout.stream,
        stderr.stream,
        null,
        false,
        (s) => (status = s),
      );
      try {
        await waitFor("exec status", 15_000, () => Promise.resolve(status), () => `stdout ${stdout.text()}`);
      } finally {
        ws.close();
      }
      assert.deepEqual(status?.status, "Success");
      assert.deepEqual(stdout.text(), "hi\n");
      assert.deepEqual(stderr.text(), "");
    });
  }
});

Deno.test("exec of an interactive `sh` reads stdin and reports a failing exit", async () => {
  const { kc, cluster } = await kubeConfig();
  const { namespace, pod, container } = cluster.demo;
  const stdout = collector();
  const stdin = new PassThrough();
  let status: k8s.V1Status | undefined;
  const ws = await new k8s.Exec(kc).exec(
    namespace,
    pod,
    container,
    ["sh"],
    stdout.stream,
    null,
    stdin,
    false,
    (s) => {
      status = s;
    },
  );
  try {
    // kwok runs the shell locally, in the bed's exec folder, with the environment from its ClusterExec rule.
    stdin.write('echo "exec via $TESTBED_EXEC"\n');
    stdin.write("exit 3\n");
    await waitFor(
      "shell exit status",
      15_000,
      () => Promise.resolve(status),
      () => `stdout ${stdout.text()}`,
    );
  } finally {
    stdin.end();
    ws.close();
  }
  assert.equal(stdout.text(), "exec via kwok\n");
  assert.equal(status?.status, "Failure");
  // kwok reports a non-zero exit as an internal error naming the status, not as a kubelet's ExitCode cause.
  assert.match(status?.message ?? "", /exit status 3/);
});

Deno.test("port-forward to the kwok pod reaches the bed's local listener", async (t) => {
  for (const [index, { name }] of (await testbed()).clusters.entries()) {
    await t.step(name, async () => {
      const { kc, cluster } = await kubeConfig("kubeconfig", index);
      const { namespace, pod, podPort, greeting } = cluster.demo;
      const output = collector();
      const input = new PassThrough();
      const ws = await new k8s.PortForward(kc).portForward(
        namespace,
        pod,
        [podPort],
        output.stream,
        null,
        input,
      );
      try {
        input.write("GET /through-port-forward HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n");
        await waitFor(
          "echo answer",
          15_000,
          () => Promise.resolve(output.text().includes(greeting) ? true : undefined),
          output.text,
        );
      } finally {
        input.end();
        (ws as { close(): void }).close();
      }
      assert.ok(output.text().includes("HTTP/1.1 200"), output.text());
      assert.ok(output.text().includes("GET /through-port-forward"), output.text());
    });
  }
});

Deno.test("impersonating bob (oidc:viewers) is denied until a RoleBinding allows it", async () => {
  const { kc: admin } = await kubeConfig();
  const { cluster } = await kubeConfig("agentKubeconfig");
  const token = (await readFile(cluster.agentTokenFile, "utf8")).trim();
  const client = Deno.createHttpClient({ caCerts: [await readFile(cluster.caFile, "utf8")] });
  const namespace = `smoke-rbac-${Date.now()}`;
  const core = admin.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  // The agent's own token, acting as the hub user: the path every hub request takes.
  const listPodsAsBob = async () => {
    const response = await fetch(`${cluster.server}/api/v1/namespaces/${namespace}/pods`, {
      client,
      headers: {
        authorization: `Bearer ${token}`,
        "impersonate-user": "bob",
        "impersonate-group": "oidc:viewers",
      },
    });
    return { status: response.status, body: await response.json() };
  };
  try {
    const denied = await listPodsAsBob();
    assert.deepEqual(denied.status, 403);
    assert.ok(denied.body.message.includes(`User "bob" cannot list resource "pods"`), denied.body.message);

    await admin.makeApiClient(k8s.RbacAuthorizationV1Api).createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: "viewers" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "oidc:viewers" }],
      },
    });
    const allowed = await waitFor("the RoleBinding to take effect", 10_000, async () => {
      const result = await listPodsAsBob();
      return result.status === 200 ? result : undefined;
    });
    assert.deepEqual(allowed.body.kind, "PodList");
  } finally {
    client.close();
    await core.deleteNamespace({ name: namespace });
  }
});

Deno.test("a Deployment scaled to 3 gets 3 Running pods on kwok nodes", async () => {
  const { kc, cluster } = await kubeConfig();
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const namespace = `smoke-deploy-${Date.now()}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  try {
    const labels = { app: "scaled" };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "scaled" },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: "app", image: "registry.invalid/testbed/app:1" }] },
          },
        },
      },
    });
    await apps.replaceNamespacedDeploymentScale({
      name: "scaled",
      namespace,
      body: { metadata: { name: "scaled", namespace }, spec: { replicas: 3 } },
    });
    let phases = "";
    const pods = await waitFor("3 Running pods", 60_000, async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: "app=scaled" });
      phases = list.items.map((p) => `${p.metadata?.name}:${p.status?.phase}`).join(" ");
      const running = list.items.filter((p) => p.status?.phase === "Running");
      return running.length === 3 && list.items.length === 3 ? running : undefined;
    }, () => phases);
    for (const pod of pods) {
      assert(cluster.nodes.includes(pod.spec!.nodeName!), `pod on ${pod.spec!.nodeName}`);
    }
    const replicaSets = await apps.listNamespacedReplicaSet({ namespace, labelSelector: "app=scaled" });
    assert.deepEqual(replicaSets.items.length, 1);
  } finally {
    await core.deleteNamespace({ name: namespace });
  }
});

Deno.test("Keycloak issues alice a token that verifies against the realm's JWKS", async () => {
  const state = await testbed();
  const alice = state.users.find((u) => u.username === "alice");
  assert(alice, "state.json has no user alice");
  const tokens = await passwordGrant(state.keycloak, alice.username, alice.password);
  const jwks = createRemoteJWKSet(new URL(`${state.keycloak.realmUrl}/protocol/openid-connect/certs`));
  const { payload } = await jwtVerify(tokens.access_token, jwks, {
    issuer: state.keycloak.realmUrl,
    audience: state.keycloak.clientId,
  });
  assert.deepEqual(payload.preferred_username, "alice");
  assert.deepEqual([...(payload.groups as string[])].sort(), [...alice.groups].sort());
  assert.notDeepEqual(alice.groups.length, 0);
});
