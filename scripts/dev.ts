/**
 * `deno task dev`: the product on one machine with nothing outside it — the
 * test bed's first cluster and Keycloak, a hub started like
 * `deno task server` on 127.0.0.1:8299 (tunnel on 8300), and an agent
 * started like `deno task agent` and enrolled into it — then a
 * ready-to-paste call with a fresh token for alice.
 * Ctrl-C stops hub and agent; `deno task testbed down` stops the test bed.
 */
import * as k8s from "@kubernetes/client-node";
import { startFleet } from "../tests/support/fleet.ts";

const cluster = "alpha";

async function main(): Promise<void> {
  console.error("starting the test bed, Keycloak, the hub and an agent (the first run builds Kubernetes)…");
  const fleet = await startFleet({
    clusters: [cluster],
    hubAddress: "127.0.0.1:8299",
    tunnelPort: 8300,
    caDir: ".otterscale/dev/ca",
    // The browser example (examples/browser/serve.ts) serves its page here.
    hubArgs: ["--allowed-origins=http://127.0.0.1:8400"],
    echo: true,
  });
  await letPlatformAdminsView(fleet.testbed.clusters.find((c) => c.name === cluster)!.kubeconfig);
  const token = await fleet.token("alice");
  console.log(`
OtterScale hub: ${fleet.hub.url}   tunnel: 127.0.0.1:${fleet.hub.tunnelPort}   cluster: ${cluster}
Identity provider: ${fleet.testbed.keycloak.realmUrl}
Users: ${
    fleet.testbed.users.map((u) => `${u.username}/${u.password} (${u.groups.join(",") || "no groups"})`).join(
      ", ",
    )
  }

List ${cluster}'s namespaces as alice (token valid for 15 minutes):

  node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\
    -H 'Authorization: Bearer ${token}' \\
    -d '{"cluster":"${cluster}","version":"v1","resource":"namespaces"}' \\
    ${fleet.hub.url}/otterscale.resource.v1.ResourceService/List

Press Ctrl-C to stop the hub and the agent.
`);
  const stop = async () => {
    await fleet.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await fleet.hub.exited;
}

/** alice is in platform-admins; in the dev cluster that group may read everything. */
async function letPlatformAdminsView(adminKubeconfig: string): Promise<void> {
  const config = new k8s.KubeConfig();
  config.loadFromFile(adminKubeconfig);
  const binding = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "otterscale-dev-platform-admins-view" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "oidc:platform-admins" }],
  };
  await k8s.KubernetesObjectApi.makeApiClient(config).patch(
    binding,
    undefined,
    undefined,
    "otterscale-dev",
    true,
    k8s.PatchStrategy.ServerSideApply,
  );
}

await main();
