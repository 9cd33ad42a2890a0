/**
 * The manifest that installs an agent in a cluster (`kubectl apply -f`): its namespace and
 * ServiceAccount, the RBAC it needs, a Secret with an enrolment token bound to the cluster, and the
 * Deployment. Unlike the reference (its S6), it grants nothing to the person who asked for it.
 *
 * What the ServiceAccount may do, one role each, so that an operator can drop a part (e.g. the
 * bootstrap binding of an agent run with --no-bootstrap):
 * - ClusterRole otterscale-agent-impersonate: impersonate users and groups, the two identities the hub
 *   sends (no service accounts, UIDs or extras; the agent refuses those headers too);
 * - ClusterRole otterscale-agent-bootstrap: apply the bootstrap bundle, with rules derived from the
 *   bundled objects (agent/bootstrap/rbac_rules.ts). Installing Flux means creating a binding to
 *   cluster-admin for Flux's controllers, so this role can, by design, grant that much;
 * - Role otterscale-agent in its namespace: get and patch its own Deployment (self-update).
 */
import { bootstrapBundle, type KubeObject } from "../../agent/bootstrap/bundle.ts";
import { rulesToApply } from "../../agent/bootstrap/rbac_rules.ts";
import { AGENT_NAME, AGENT_NAMESPACE, ENROLMENT_SECRET_NAME } from "../../shared/agent_deployment.ts";
import { clusterNameProblem } from "../tunnel/enrolment_token.ts";
import { yamlDocuments } from "./yaml_documents.ts";

export interface AgentManifestParams {
  cluster: string;
  /** Where the agent enrols (the hub's external URL). */
  serverUrl: string;
  /** Where the agent dials the tunnel. */
  tunnelUrl: string;
  image: string;
  enrolmentToken: string;
}

export const IMPERSONATE_ROLE = `${AGENT_NAME}-impersonate`;
export const BOOTSTRAP_ROLE = `${AGENT_NAME}-bootstrap`;

const rbacApiGroup = "rbac.authorization.k8s.io";
const selector = { "app.kubernetes.io/name": AGENT_NAME };
const labels = { ...selector, "app.kubernetes.io/part-of": "otterscale" };

/** Computed once: the bundle is fixed at build time. */
const bootstrapRules = rulesToApply(bootstrapBundle.objects);

export function renderAgentManifest(params: AgentManifestParams): string {
  return yamlDocuments(agentManifestObjects(params));
}

export function agentManifestObjects(params: AgentManifestParams): KubeObject[] {
  const problem = clusterNameProblem(params.cluster);
  if (problem) throw new RangeError(`invalid cluster ${JSON.stringify(params.cluster)}: ${problem}`);
  const subject = { kind: "ServiceAccount", name: AGENT_NAME, namespace: AGENT_NAMESPACE };
  return [
    object("v1", "Namespace", { name: AGENT_NAMESPACE, labels }),
    object("v1", "ServiceAccount", { name: AGENT_NAME, namespace: AGENT_NAMESPACE, labels }),
    {
      ...object(`${rbacApiGroup}/v1`, "ClusterRole", { name: IMPERSONATE_ROLE, labels }),
      rules: [{ apiGroups: [""], resources: ["users", "groups"], verbs: ["impersonate"] }],
    },
    {
      ...object(`${rbacApiGroup}/v1`, "ClusterRole", { name: BOOTSTRAP_ROLE, labels }),
      rules: bootstrapRules,
    },
    ...[IMPERSONATE_ROLE, BOOTSTRAP_ROLE].map((role) => ({
      ...object(`${rbacApiGroup}/v1`, "ClusterRoleBinding", { name: role, labels }),
      roleRef: { apiGroup: rbacApiGroup, kind: "ClusterRole", name: role },
      subjects: [subject],
    })),
    {
      ...object(`${rbacApiGroup}/v1`, "Role", { name: AGENT_NAME, namespace: AGENT_NAMESPACE, labels }),
      rules: [{
        apiGroups: ["apps"],
        resources: ["deployments"],
        resourceNames: [AGENT_NAME],
        verbs: ["get", "patch"],
      }],
    },
    {
      ...object(`${rbacApiGroup}/v1`, "RoleBinding", {
        name: AGENT_NAME,
        namespace: AGENT_NAMESPACE,
        labels,
      }),
      roleRef: { apiGroup: rbacApiGroup, kind: "Role", name: AGENT_NAME },
      subjects: [subject],
    },
    {
      ...object("v1", "Secret", { name: ENROLMENT_SECRET_NAME, namespace: AGENT_NAMESPACE, labels }),
      type: "Opaque",
      stringData: { token: params.enrolmentToken },
    },
    deployment(params),
  ];
}

function deployment(params: AgentManifestParams): KubeObject {
  const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  return {
    ...object("apps/v1", "Deployment", { name: AGENT_NAME, namespace: AGENT_NAMESPACE, labels }),
    spec: {
      replicas: 1,
      // Never two agents at once: they would take turns replacing each other's registration.
      strategy: { type: "Recreate" },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: AGENT_NAME,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            runAsGroup: 65532,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [{
            name: AGENT_NAME,
            image: params.image,
            imagePullPolicy: "IfNotPresent",
            env: [
              { name: "OTTERSCALE_AGENT_SERVER_URL", value: params.serverUrl },
              { name: "OTTERSCALE_AGENT_TUNNEL_SERVER_URL", value: params.tunnelUrl },
              { name: "OTTERSCALE_AGENT_CLUSTER", value: params.cluster },
              {
                name: "OTTERSCALE_AGENT_ENROLMENT_TOKEN",
                valueFrom: { secretKeyRef: { name: ENROLMENT_SECRET_NAME, key: "token" } },
              },
              // The pod name is the agent's id (its host name); the namespace tells self-update where
              // its Deployment is.
              fieldEnv("POD_NAME", "metadata.name"),
              fieldEnv("POD_NAMESPACE", "metadata.namespace"),
            ],
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ["ALL"] },
            },
            resources: {
              requests: { cpu: "50m", memory: "64Mi" },
              limits: { memory: "256Mi" },
            },
            volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
          }],
          volumes: [{ name: "tmp", emptyDir: {} }],
        },
      },
    },
  };
}

function object(
  apiVersion: string,
  kind: string,
  metadata: { name: string; namespace?: string; labels: Record<string, string> },
): KubeObject {
  return { apiVersion, kind, metadata };
}
