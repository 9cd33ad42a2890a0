/**
 * The agent's life in a cluster, on the test bed's cluster alpha with the real hub and agent programs:
 * a user asks the hub for the agent manifest, a real kubectl applies it from its download URL, and
 * what it created (ServiceAccount, RBAC, enrolment Secret) is a working agent: the agent program,
 * given only a token of that ServiceAccount and the Secret's enrolment token, enrols, serves requests
 * and bootstraps Flux; self-update then moves the applied Deployment to a newer release and refuses
 * everything else. On beta, an agent whose RBAC cannot install Flux logs, retries and keeps serving.
 *
 * The bed itself binds the same ServiceAccount to a ClusterRole of its own (impersonation, reading
 * namespaces). So that the manifest's roles are shown to be enough by themselves, a second
 * ServiceAccount bound to nothing but those roles runs the agent once more and re-applies the bundle.
 */
import assert from "node:assert/strict";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { ResourceService } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { AGENT_NAME, AGENT_NAMESPACE, ENROLMENT_SECRET_NAME } from "../../shared/agent_deployment.ts";
import { createLogger, type Logger } from "../../shared/log.ts";
import { VERSION } from "../../shared/version.ts";
import { bootstrapCluster } from "../../agent/bootstrap/bootstrap.ts";
import { bootstrapBundle, isCrd, type KubeObject } from "../../agent/bootstrap/bundle.ts";
import { createResourceMapper, type ResourceMapper } from "../../agent/bootstrap/resource_mapper.ts";
import { createKubeClient, type KubeClient } from "../../agent/kube_client.ts";
import { loadKubeTarget } from "../../agent/kube_target.ts";
import { createSelfUpdater } from "../../agent/self_update.ts";
import {
  agentManifestObjects,
  BOOTSTRAP_ROLE,
  IMPERSONATE_ROLE,
} from "../../server/manifest/agent_manifest.ts";
import { yamlDocuments } from "../../server/manifest/yaml_documents.ts";
import { writeKubeconfig } from "../testbed/kubeconfig.ts";
import { startAgentProcess } from "../support/agent_process.ts";
import { type Fleet, startFleet } from "../support/fleet.ts";
import { waitForAgentConnected } from "../support/hub_process.ts";
import type { RunningProcess } from "../support/process.ts";
import { repoRoot } from "../support/repo.ts";

const CLUSTER = "alpha";
const RUN = crypto.randomUUID().slice(0, 8);
const RBAC = "rbac.authorization.k8s.io";
const DEPLOYMENT_PATH = `/apis/apps/v1/namespaces/${AGENT_NAMESPACE}/deployments/${AGENT_NAME}`;
const PROBE = `lifecycle-probe-${RUN}`;

type Json = Record<string, unknown>;

Deno.test({
  name: "agent lifecycle: manifest URL, kubectl apply, a working agent, bootstrap, self-update",
  // Connect clients keep keep-alive sockets between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const hubPort = freePort();
    const fleet = await startFleet({
      clusters: [],
      hubAddress: `127.0.0.1:${hubPort}`,
      hubArgs: [`--external-url=http://127.0.0.1:${hubPort}`],
    });
    const bed = fleet.testbed.clusters.find((c) => c.name === CLUSTER)!;
    const admin = createKubeClient(loadKubeTarget({ kubeconfigPath: bed.kubeconfig }));
    const workDir = join(repoRoot, ".testbed", "lifecycle-test", RUN);
    await mkdir(workDir, { recursive: true });
    const agents: RunningProcess[] = [];
    const kubeClients: KubeClient[] = [];
    const aliceToken = await fleet.token("alice");
    const fleetClient = createClient(FleetService, transport(fleet));
    const resources = createClient(ResourceService, transport(fleet));
    // alice (group platform-admins) may read pods in demo, so a request as alice can succeed.
    const listDemoPodsAsAlice = () =>
      retryFor(
        30_000,
        () =>
          resources.list(
            { cluster: CLUSTER, version: "v1", resource: "pods", namespace: "demo" },
            auth(aliceToken),
          ),
      );
    /** A kubeconfig with a fresh token of `serviceAccount`, and the agent's client for it. */
    const agentCredentials = async (serviceAccount: string) => {
      const kubeconfig = join(workDir, `${serviceAccount}.kubeconfig`);
      await writeKubeconfig(kubeconfig, {
        clusterName: CLUSTER,
        userName: serviceAccount,
        server: bed.server,
        caFile: bed.caFile,
        credentials: { token: await serviceAccountToken(admin, serviceAccount) },
      });
      const client = createKubeClient(loadKubeTarget({ kubeconfigPath: kubeconfig }));
      kubeClients.push(client);
      return { kubeconfig, client };
    };
    const startAgent = async (kubeconfig: string, enrolmentToken: string, extraArgs: string[]) => {
      const fromLine = fleet.hub.lines.length;
      const agent = await startAgentProcess({
        cluster: CLUSTER,
        hubUrl: fleet.hub.url,
        tunnelPort: fleet.hub.tunnelPort,
        kubeconfig,
        enrolmentToken,
        extraArgs,
      });
      agents.push(agent);
      await waitForAgentConnected(fleet.hub, CLUSTER, fromLine);
      return agent;
    };

    try {
      await removeFlux(admin);
      await applyAsAdmin(admin, viewBinding());

      await t.step(
        "kubectl (Go's YAML) reads the manifest writer's quoted strings back unchanged",
        async () => {
          const hostile = [
            'a"\nkind: ClusterRoleBinding',
            "x\n---\napiVersion: v1\nkind: Secret",
            "tab\t, bell\u0007, del\u007f, c1\u0085\u009f",
            "line\u2028separator\u2029paragraph",
            "\ufeffbom",
            "yes",
            "# not a comment",
            "unicode ✓ 雪 😀",
          ];
          const data = Object.fromEntries(hostile.map((text, i) => [`k${i}`, text]));
          const configMap = {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "h", namespace: "default" },
            data,
          };
          const file = join(workDir, "hostile.yaml");
          await Deno.writeTextFile(file, yamlDocuments([configMap]));
          const result = await kubectl(bed.kubeconfig, [
            "create",
            "--dry-run=client",
            "-o",
            "json",
            "-f",
            file,
          ]);
          assert.equal(result.code, 0, result.stderr);
          assert.deepEqual(JSON.parse(result.stdout).data, data);
        },
      );

      let url = "";
      await t.step("GetAgentManifest answers a manifest and a download URL on the external URL", async () => {
        const response = await fleetClient.getAgentManifest({ cluster: CLUSTER }, auth(aliceToken));
        assert.match(response.url, new RegExp(`^http://127\\.0\\.0\\.1:${hubPort}/fleet/manifest/osm1\\.`));
        assert.match(response.manifest, /^---\napiVersion: "v1"\nkind: "Namespace"/);
        assert.ok(response.manifest.includes(`"ghcr.io/otterscale/otterscale-agent:${VERSION}"`));
        url = response.url;
      });

      await t.step("kubectl apply -f <url> creates the agent's objects", async () => {
        const result = await kubectl(bed.kubeconfig, ["apply", "-f", url]);
        assert.equal(result.code, 0, result.stderr);
        for (
          const line of [
            "namespace/otterscale-system",
            "serviceaccount/otterscale-agent",
            `clusterrole.rbac.authorization.k8s.io/${IMPERSONATE_ROLE}`,
            `clusterrole.rbac.authorization.k8s.io/${BOOTSTRAP_ROLE}`,
            `clusterrolebinding.rbac.authorization.k8s.io/${IMPERSONATE_ROLE}`,
            `clusterrolebinding.rbac.authorization.k8s.io/${BOOTSTRAP_ROLE}`,
            "role.rbac.authorization.k8s.io/otterscale-agent",
            "rolebinding.rbac.authorization.k8s.io/otterscale-agent",
            "secret/otterscale-agent-enrolment",
            "deployment.apps/otterscale-agent",
          ]
        ) assert.ok(result.stdout.includes(line), `${line} missing from:\n${result.stdout}`);

        const deployment = await getJson(admin, DEPLOYMENT_PATH);
        const spec = deployment.spec as Json;
        assert.deepEqual(spec.strategy, { type: "Recreate" });
        assert.equal(spec.replicas, 1);
        assert.equal(containerOf(deployment).image, `ghcr.io/otterscale/otterscale-agent:${VERSION}`);
        const role = await getJson(admin, `/apis/${RBAC}/v1/clusterroles/${IMPERSONATE_ROLE}`);
        assert.deepEqual(role.rules, [{
          apiGroups: [""],
          resources: ["users", "groups"],
          verbs: ["impersonate"],
        }]);
      });

      await t.step("an invalid or tampered download URL is refused with 401", async () => {
        const tampered = url.slice(0, -2) + (url.endsWith("AA") ? "BB" : "AA");
        const response = await fetch(tampered);
        assert.equal(response.status, 401);
        assert.equal(await response.text(), "invalid or expired token\n");
        const result = await kubectl(bed.kubeconfig, ["apply", "--dry-run=client", "-f", tampered]);
        assert.notEqual(result.code, 0);
        assert.match(result.stderr, /401/);
      });

      let enrolmentToken = "";
      await t.step(
        "the applied ServiceAccount and Secret run the real agent, which bootstraps Flux",
        async () => {
          const { kubeconfig } = await agentCredentials(AGENT_NAME);
          const secret = await getJson(
            admin,
            `/api/v1/namespaces/${AGENT_NAMESPACE}/secrets/${ENROLMENT_SECRET_NAME}`,
          );
          enrolmentToken = atob((secret.data as Record<string, string>).token);
          assert.match(enrolmentToken, /^ost1\./);

          const agent = await startAgent(kubeconfig, enrolmentToken, ["--bootstrap"]);
          const clusters = await fleetClient.listClusters({}, auth(aliceToken));
          assert.deepEqual(clusters.clusters.map((c) => [c.name, c.agentVersion]), [[CLUSTER, VERSION]]);
          const pods = await listDemoPodsAsAlice();
          assert.ok(JSON.stringify(pods.items).includes('"demo-app"'), "demo-app not listed");

          await agent.waitForLine((l) => l.includes('"msg":"bootstrap finished"'), 120_000);
          assert.ok(!agent.lines.some((l) => l.includes('"msg":"bootstrap failed')), agent.lines.join("\n"));
          await assertFluxInstalled(admin);
          await agent.stop();
        },
      );

      await t.step(
        "the manifest's roles alone carry an agent, and re-applying the bundle changes nothing",
        async () => {
          // A ServiceAccount bound to the manifest's two ClusterRoles and nothing else.
          const probe = probeObjects();
          for (const object of probe) await applyAsAdmin(admin, object);
          const { kubeconfig, client } = await agentCredentials(PROBE);

          await startAgent(kubeconfig, enrolmentToken, ["--no-bootstrap"]);
          const pods = await listDemoPodsAsAlice();
          assert.ok(JSON.stringify(pods.items).includes('"demo-app"'), "demo-app not listed");

          const before = await resourceVersions(admin);
          const lines: string[] = [];
          await bootstrapCluster({ client, bundle: bootstrapBundle, log: lineLogger(lines) });
          assert.ok(lines.some((l) => l.includes('"msg":"bootstrap finished"')), lines.join("\n"));
          assert.deepEqual(await resourceVersions(admin), before);
        },
      );

      await t.step("self-update patches the Deployment to a newer release only", async () => {
        const { client } = await agentCredentials(AGENT_NAME);
        const image = async () => containerOf(await getJson(admin, DEPLOYMENT_PATH)).image;
        await setAgentImage(admin, "ghcr.io/otterscale/otterscale-agent:0.0.9");
        const lines: string[] = [];
        const updater = createSelfUpdater({
          client,
          namespace: AGENT_NAMESPACE,
          agentVersion: "0.1.0",
          log: lineLogger(lines),
        });
        for (const refused of ["0.0.1", "0.1.0", "0.1.0-rc.1", "1.2.3+evil", "latest", "../x", "devel", ""]) {
          await updater.check(refused);
          assert.equal(
            await image(),
            "ghcr.io/otterscale/otterscale-agent:0.0.9",
            `updated for "${refused}"`,
          );
        }
        await updater.check("0.2.0");
        assert.equal(await image(), "ghcr.io/otterscale/otterscale-agent:0.2.0");
        assert.ok(!lines.some((l) => l.includes("self-update failed")), lines.join("\n"));
      });

      await t.step(
        "a bootstrap the RBAC forbids is logged and retried, and the tunnel stays up",
        async () => {
          // beta's agent runs with the bed's own RBAC, which cannot install anything.
          const beta = await fleet.startAgent("beta", ["--bootstrap"]);
          const failure = JSON.parse(
            await beta.waitForLine(
              (l) => l.includes('"msg":"bootstrap failed; the tunnel stays up"'),
              60_000,
            ),
          );
          assert.equal(failure.level, "error");
          assert.match(
            failure.error,
            /apply CustomResourceDefinition .*: 403: .*cannot (patch|create) resource "customresourcedefinitions"/,
          );
          assert.ok(failure.retry_in_ms >= 2_500, JSON.stringify(failure));
          const clusters = await fleetClient.listClusters({}, auth(aliceToken));
          assert.deepEqual(clusters.clusters.map((c) => c.name), ["alpha", "beta"]);
          // carol (no groups) may list pods nowhere: the refusal has to come from beta's apiserver.
          const denied = await resources.list(
            { cluster: "beta", version: "v1", resource: "pods" },
            auth(await fleet.token("carol")),
          ).then(() => undefined, (error) => ConnectError.from(error));
          assert.match(denied?.rawMessage ?? "", /cannot list resource "pods"/);
          await beta.waitForLine((l) => l.includes("bootstrap failed") && l.includes('"attempt":2'), 15_000);
          assert.ok(!beta.lines.some((l) => l.includes('"msg":"tunnel down"')), beta.lines.join("\n"));
        },
      );
    } finally {
      await Promise.all(agents.map((agent) => agent.stop()));
      for (const client of kubeClients) client.close();
      await cleanUp(admin);
      admin.close();
      await rm(workDir, { recursive: true, force: true });
      await fleet.close();
    }
  },
});

async function retryFor<T>(ms: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  while (true) {
    try {
      return await attempt();
    } catch (error) {
      // e.g. the apiserver's RBAC cache sees a new binding a moment after it is created
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

function transport(fleet: Fleet) {
  return createConnectTransport({ baseUrl: fleet.hub.url, httpVersion: "1.1" });
}

function auth(token: string) {
  return { headers: { authorization: `Bearer ${token}` } };
}

function lineLogger(lines: string[]): Logger {
  return createLogger("info", {}, (line) => lines.push(line));
}

async function kubectl(
  kubeconfig: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command("kubectl", {
    args: [`--kubeconfig=${kubeconfig}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((error) => {
    throw new Error(`cannot run kubectl (Debian's kubectl package provides it): ${error.message}`);
  });
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

async function getJson(client: KubeClient, path: string): Promise<Json> {
  const response = await client.send("GET", path);
  assert.equal(response.status, 200, `GET ${path}: ${JSON.stringify(response.body)}`);
  return response.body as Json;
}

function containerOf(deployment: Json): Json {
  const pod = ((deployment.spec as Json).template as Json).spec as { containers: Json[] };
  const container = pod.containers.find((c) => c.name === AGENT_NAME);
  assert.ok(container, "no agent container");
  return container;
}

/** A short-lived token of a ServiceAccount (TokenRequest), as the kubelet would mount it. */
async function serviceAccountToken(admin: KubeClient, name: string): Promise<string> {
  const response = await admin.send(
    "POST",
    `/api/v1/namespaces/${AGENT_NAMESPACE}/serviceaccounts/${name}/token`,
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
  );
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return ((response.body as Json).status as { token: string }).token;
}

function viewBinding(): KubeObject {
  return {
    apiVersion: `${RBAC}/v1`,
    kind: "RoleBinding",
    metadata: { name: `lifecycle-test-${RUN}`, namespace: "demo" },
    roleRef: { apiGroup: RBAC, kind: "ClusterRole", name: "view" },
    subjects: [{ apiGroup: RBAC, kind: "Group", name: "oidc:platform-admins" }],
  };
}

/** The probe ServiceAccount and its bindings to exactly the manifest's ClusterRoles. */
function probeObjects(): KubeObject[] {
  const manifestRoles = agentManifestObjects({
    cluster: CLUSTER,
    serverUrl: "http://unused",
    tunnelUrl: "https://unused",
    image: "unused",
    enrolmentToken: "unused",
  }).filter((o) => o.kind === "ClusterRole").map((o) => o.metadata.name);
  assert.deepEqual(manifestRoles, [IMPERSONATE_ROLE, BOOTSTRAP_ROLE]);
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: PROBE, namespace: AGENT_NAMESPACE } },
    ...manifestRoles.map((role) => ({
      apiVersion: `${RBAC}/v1`,
      kind: "ClusterRoleBinding",
      metadata: { name: `${PROBE}-${role}` },
      roleRef: { apiGroup: RBAC, kind: "ClusterRole", name: role },
      subjects: [{ kind: "ServiceAccount", name: PROBE, namespace: AGENT_NAMESPACE }],
    })),
  ];
}

async function setAgentImage(admin: KubeClient, image: string): Promise<void> {
  const response = await admin.send(
    "PATCH",
    DEPLOYMENT_PATH,
    { spec: { template: { spec: { containers: [{ name: AGENT_NAME, image }] } } } },
    "application/strategic-merge-patch+json",
  );
  assert.equal(response.status, 200, JSON.stringify(response.body));
}

/** The REST path of an object, from the cluster's discovery. */
async function objectPath(mapper: ResourceMapper, object: KubeObject): Promise<string> {
  const mapping = await mapper.resolve(object.apiVersion, object.kind);
  const scope = mapping.namespaced ? `/namespaces/${object.metadata.namespace}` : "";
  return `${mapping.groupVersionPath}${scope}/${mapping.resource}/${object.metadata.name}`;
}

async function applyAsAdmin(admin: KubeClient, object: KubeObject): Promise<void> {
  const path = await objectPath(createResourceMapper(admin), object);
  const response = await admin.send(
    "PATCH",
    `${path}?fieldManager=e2e&force=true`,
    object,
    "application/apply-patch+yaml",
  );
  assert.ok(response.status === 200 || response.status === 201, JSON.stringify(response.body));
}

async function assertFluxInstalled(admin: KubeClient): Promise<void> {
  const mapper = createResourceMapper(admin);
  for (const crd of bootstrapBundle.objects.filter(isCrd)) {
    const found = await getJson(admin, await objectPath(mapper, crd));
    const conditions = (found.status as { conditions: { type: string; status: string }[] }).conditions;
    assert.ok(conditions.some((c) => c.type === "Established" && c.status === "True"), crd.metadata.name);
  }
  for (const kind of ["Namespace", "ResourceQuota", "ServiceAccount", "ClusterRoleBinding", "Deployment"]) {
    const objects = bootstrapBundle.objects.filter((o) => o.kind === kind);
    assert.ok(objects.length > 0, `the bundle has no ${kind}`);
    for (const object of objects) await getJson(admin, await objectPath(mapper, object));
  }
}

/** resourceVersion of every object of the bundle. */
async function resourceVersions(admin: KubeClient): Promise<Record<string, string>> {
  const mapper = createResourceMapper(admin);
  const versions: Record<string, string> = {};
  for (const object of bootstrapBundle.objects) {
    const found = await getJson(admin, await objectPath(mapper, object));
    versions[`${object.kind}/${object.metadata.name}`] = (found.metadata as Json).resourceVersion as string;
  }
  return versions;
}

/** Deletes objects and waits until they are gone; CRDs get their slow clean-up finalizer lifted. */
async function deleteAndWait(admin: KubeClient, objects: KubeObject[]): Promise<void> {
  const mapper = createResourceMapper(admin);
  const targets = await Promise.all(
    objects.map(async (object) => ({ path: await objectPath(mapper, object), crd: isCrd(object) })),
  );
  for (const { path } of targets) await admin.send("DELETE", path);
  const deadline = Date.now() + 120_000;
  for (const { path, crd } of targets) {
    const waitStarted = Date.now();
    let finalizerLifted = false;
    while ((await admin.send("GET", path)).status !== 404) {
      if (Date.now() > deadline) throw new Error(`${path} still exists after 120 s`);
      // The bundle makes no custom resources, so nothing is lost by not waiting for a CRD's clean-up,
      // which the apiserver may back off for minutes while a new CRD's storage is still initialising.
      if (crd && !finalizerLifted && Date.now() - waitStarted > 5_000) {
        await admin.send("PATCH", path, { metadata: { finalizers: null } }, "application/merge-patch+json");
        finalizerLifted = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The bundle's cluster-scoped objects; deleting its namespace takes everything in it along. */
function removeFlux(admin: KubeClient): Promise<void> {
  return deleteAndWait(admin, bootstrapBundle.objects.filter((o) => !o.metadata.namespace));
}

/**
 * Leaves the bed as it was: everything the manifest added except the namespace and ServiceAccount,
 * which the bed itself owns, and what the test added.
 */
async function cleanUp(admin: KubeClient): Promise<void> {
  const manifest = agentManifestObjects({
    cluster: CLUSTER,
    serverUrl: "http://unused",
    tunnelUrl: "https://unused",
    image: "unused",
    enrolmentToken: "unused",
  }).filter((o) => o.kind !== "Namespace" && o.kind !== "ServiceAccount");
  await deleteAndWait(admin, [...manifest, ...probeObjects(), viewBinding()]);
  await removeFlux(admin);
}
