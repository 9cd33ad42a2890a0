/**
 * Self-update: after each registration the agent compares the hub's version with its own and, when the
 * hub runs a newer release, points its own Deployment's container at the image of that release; the
 * Deployment's Recreate strategy then replaces this pod. Never a downgrade, never a version that is not
 * a plain release (so `devel`, `latest`, `+build`, digests and paths are refused), never more than the
 * image field of the agent's own container. Failures are logged and never touch the tunnel.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT_NAME, agentImage } from "../shared/agent_deployment.ts";
import type { Logger } from "../shared/log.ts";
import { type KubeClient, statusMessage } from "./kube_client.ts";
import { SERVICE_ACCOUNT_DIR } from "./kube_target.ts";
import { compareReleaseVersions, parseReleaseVersion } from "./release_version.ts";

export type UpdateDecision = { update: true; image: string } | { update: false; reason: string };

export function decideSelfUpdate(agentVersion: string, serverVersion: string): UpdateDecision {
  if (serverVersion === "") return { update: false, reason: "the hub sent no version" };
  const server = parseReleaseVersion(serverVersion);
  if (!server) {
    return { update: false, reason: `the hub's version ${JSON.stringify(serverVersion)} is not a release` };
  }
  const agent = parseReleaseVersion(agentVersion);
  if (!agent) return { update: false, reason: `this agent (${agentVersion}) is not a release build` };
  const order = compareReleaseVersions(server, agent);
  if (order === 0) return { update: false, reason: "versions match" };
  if (order < 0) return { update: false, reason: "the hub is older than this agent; never downgrading" };
  return { update: true, image: agentImage(serverVersion) };
}

/**
 * The namespace of this agent's Deployment: POD_NAMESPACE (the manifest sets it from the downward API),
 * else the ServiceAccount's namespace file; undefined outside a pod.
 */
export function agentNamespace(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  serviceAccountDir = SERVICE_ACCOUNT_DIR,
): string | undefined {
  const fromEnv = env("POD_NAMESPACE")?.trim();
  if (fromEnv) return fromEnv;
  try {
    return readFileSync(join(serviceAccountDir, "namespace"), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface SelfUpdaterOptions {
  client: KubeClient;
  /** Undefined outside a pod: then there is no Deployment to update. */
  namespace: string | undefined;
  agentVersion: string;
  log: Logger;
}

export interface SelfUpdater {
  /** Never rejects; checks run one at a time. */
  check(serverVersion: string): Promise<void>;
}

export function createSelfUpdater(options: SelfUpdaterOptions): SelfUpdater {
  const { log } = options;
  let queue = Promise.resolve();
  let lastLogged = "";
  const once = (key: string, write: () => void) => {
    // Registration repeats with every renewal; the same verdict is worth one line, not one per renewal.
    if (key !== lastLogged) write();
    lastLogged = key;
  };

  const checkNow = async (serverVersion: string) => {
    const decision = decideSelfUpdate(options.agentVersion, serverVersion);
    const fields = { agent_version: options.agentVersion, server_version: serverVersion };
    if (!decision.update) {
      once(`skip ${serverVersion}`, () => log.info("no self-update", { ...fields, reason: decision.reason }));
      return;
    }
    if (!options.namespace) {
      once(
        `nons ${serverVersion}`,
        () => log.warn("a newer hub, but not running in a pod: not updating", fields),
      );
      return;
    }
    log.warn("version mismatch: updating the agent's Deployment", { ...fields, image: decision.image });
    await setImage(options.client, options.namespace, decision.image, log);
  };

  return {
    check(serverVersion) {
      queue = queue.then(() => checkNow(serverVersion)).catch((error) => {
        log.error("self-update failed", { server_version: serverVersion, error: (error as Error).message });
      });
      return queue;
    },
  };
}

/** Points the agent container of the agent Deployment at `image`, unless it already is. */
async function setImage(client: KubeClient, namespace: string, image: string, log: Logger): Promise<void> {
  const path = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${AGENT_NAME}`;
  const current = await client.send("GET", path);
  if (current.status !== 200) {
    throw new Error(`reading Deployment ${namespace}/${AGENT_NAME}: ${statusMessage(current)}`);
  }
  const containers =
    (current.body as { spec?: { template?: { spec?: { containers?: { name: string; image?: string }[] } } } })
      .spec?.template?.spec?.containers ?? [];
  const container = containers.find((c) => c.name === AGENT_NAME);
  // A strategic merge patch naming a container that is not there would add one: a second agent.
  if (!container) {
    throw new Error(`Deployment ${namespace}/${AGENT_NAME} has no container named ${AGENT_NAME}`);
  }
  if (container.image === image) {
    log.info("the agent's Deployment already has the new image; waiting for the rollout", { image });
    return;
  }
  const patch = { spec: { template: { spec: { containers: [{ name: AGENT_NAME, image }] } } } };
  const response = await client.send("PATCH", path, patch, "application/strategic-merge-patch+json");
  if (response.status !== 200) {
    throw new Error(`patching Deployment ${namespace}/${AGENT_NAME}: ${statusMessage(response)}`);
  }
  log.info("agent Deployment patched; Kubernetes will replace this agent", { from: container.image, image });
}
