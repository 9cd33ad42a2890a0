/**
 * The hub's path to a cluster, with the hub in this process (so the test can
 * also open raw streams) and the real agent program for each test-bed
 * cluster: requests reach the right cluster as the caller and its RBAC
 * decides; the agent refuses anything not impersonated.
 */
import assert from "node:assert/strict";
import type { IncomingResponse } from "../../server/clusters/kube.ts";
import { Code, ConnectError } from "@connectrpc/connect";
import * as k8s from "@kubernetes/client-node";
import { silentLogger } from "../../shared/log.ts";
import { createCa } from "../../shared/pki/mod.ts";
import { startOidcVerifier } from "../../server/auth/oidc_verifier.ts";
import { generateTestKey, TestIssuer, waitUntilReady } from "../../server/auth/test_issuer.ts";
import { HealthState } from "../../server/http/health.ts";
import { startHub } from "../../server/hub.ts";
import { createEnrolmentTokenKey, mintEnrolmentToken } from "../../server/tunnel/enrolment_token.ts";
import { ensureTestbed } from "../testbed/testbed.ts";
import { startAgentProcess } from "../support/agent_process.ts";
import { until } from "../support/expect.ts";

async function bodyOf(response: IncomingResponse): Promise<string> {
  let text = "";
  for await (const chunk of response) text += new TextDecoder().decode(chunk);
  return text;
}

Deno.test({
  name: "the hub reaches each cluster through its agent, as the caller",
  // The in-process hub keeps keep-alive streams and timers between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const testbed = await ensureTestbed();
    const issuer = new TestIssuer();
    issuer.published = [await generateTestKey("ES256", "k")];
    const verifier = startOidcVerifier({ issuerUrl: issuer.url, clientId: "otterscale-server" });
    await waitUntilReady(verifier, 10_000);
    const ca = await createCa();
    const hub = await startHub({
      address: { hostname: "127.0.0.1", port: 0 },
      allowedOrigins: [],
      verifier,
      health: new HealthState(),
      log: silentLogger,
      tunnel: {
        address: { hostname: "127.0.0.1", port: 0 },
        ca,
        externalUrl: new URL("https://127.0.0.1:8300"),
        certificateLifetimeMs: 3600_000,
      },
    });
    const tokenKey = await createEnrolmentTokenKey(ca);
    const agents = await Promise.all(["alpha", "beta"].map(async (name) =>
      startAgentProcess({
        cluster: name,
        hubUrl: `http://127.0.0.1:${hub.address.port}`,
        tunnelPort: hub.tunnelAddress.port,
        kubeconfig: testbed.clusters.find((c) => c.name === name)!.agentKubeconfig,
        enrolmentToken: await mintEnrolmentToken(tokenKey, { cluster: name }),
      })
    ));
    // The agents' "tunnel up" can come before the hub's side of the TLS 1.3 handshake has finished.
    await until(
      "the hub to attach both agents",
      30_000,
      () => Promise.resolve(hub.clusters.get("alpha") && hub.clusters.get("beta") ? true : undefined),
    );
    const betaAdmin = new k8s.KubeConfig();
    betaAdmin.loadFromFile(testbed.clusters.find((c) => c.name === "beta")!.kubeconfig);
    const rbac = betaAdmin.makeApiClient(k8s.RbacAuthorizationV1Api);
    const core = betaAdmin.makeApiClient(k8s.CoreV1Api);
    const marker = `only-in-beta-${crypto.randomUUID().slice(0, 8)}`;
    const binding = `access-test-${marker}`;
    const mallory = { user: "mallory", groups: ["system:authenticated", "oidc:auditors"] };
    try {
      await t.step("the cluster's RBAC decides for the impersonated caller", async () => {
        const denied = await hub.access.request("beta", mallory, {
          method: "GET",
          path: "/api/v1/namespaces",
        });
        const deniedBody = await bodyOf(denied);
        assert.equal(denied.statusCode, 403, deniedBody);
        assert.match(deniedBody, /User \\"mallory\\" cannot list resource \\"namespaces\\"/);

        await core.createNamespace({ body: { metadata: { name: marker } } });
        await rbac.createClusterRoleBinding({
          body: {
            metadata: { name: binding },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
            subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "oidc:auditors" }],
          },
        });
        // The apiserver's RBAC authorizer sees a new binding a moment after it is created.
        const allowed = await until("the binding to take effect", 30_000, async () => {
          const response = await hub.access.request("beta", mallory, {
            method: "GET",
            path: "/api/v1/namespaces",
          });
          const body = await bodyOf(response);
          if (response.statusCode === 403) return undefined;
          return { status: response.statusCode, body };
        });
        assert.equal(allowed.status, 200, allowed.body);
        const names = JSON.parse(allowed.body).items.map((n: { metadata: { name: string } }) =>
          n.metadata.name
        );
        assert.ok(names.includes(marker), "beta's own namespace is listed through beta's agent");
      });

      await t.step("the request went to the named cluster and no other", async () => {
        const alpha = await hub.access.request("alpha", mallory, {
          method: "GET",
          path: `/api/v1/namespaces/${marker}`,
        });
        await bodyOf(alpha);
        // alpha has no binding for mallory, and no such namespace either.
        assert.ok(alpha.statusCode === 403 || alpha.statusCode === 404, `alpha answered ${alpha.statusCode}`);
      });

      await t.step("a cluster that is not connected fails unavailable at once", async () => {
        const started = performance.now();
        const error = await hub.access.request("nowhere", mallory, { method: "GET", path: "/api" })
          .then(() => undefined, (e) => ConnectError.from(e));
        assert.equal(error?.code, Code.Unavailable);
        assert.match(error?.message ?? "", /cluster "nowhere" is not connected/);
        assert.ok(performance.now() - started < 1_000);
      });

      await t.step("the agent refuses a request that does not impersonate a user", async () => {
        const stream = hub.clusters.openStream("alpha");
        stream.write("GET /api/v1/namespaces HTTP/1.1\r\nhost: alpha\r\nconnection: close\r\n\r\n");
        let reply = "";
        for await (const chunk of stream) reply += new TextDecoder().decode(chunk);
        assert.match(reply, /^HTTP\/1\.1 403 /);
        assert.match(reply, /"reason":"Forbidden"/);
      });

      await t.step("the agent refuses impersonating a privileged group", async () => {
        const admin = { user: "mallory", groups: ["system:authenticated", "system:masters"] };
        const response = await hub.access.request("alpha", admin, { method: "GET", path: "/api/v1/secrets" });
        const body = await bodyOf(response);
        assert.equal(response.statusCode, 403);
        assert.doesNotMatch(body, /"kind":"SecretList"/);
      });
    } finally {
      await rbac.deleteClusterRoleBinding({ name: binding }).catch(() => {});
      await core.deleteNamespace({ name: marker }).catch(() => {});
      await Promise.all(agents.map((a) => a.stop()));
      await hub.shutdown(1_000);
      await verifier.close();
      await issuer.close();
    }
  },
});
