/**
 * How the agent is deployed in a cluster, shared by the hub (which renders the agent manifest) and the
 * agent (which patches its own Deployment to update itself). Changing a name here changes both sides.
 */

export const AGENT_NAMESPACE = "otterscale-system";
/** The ServiceAccount, the Deployment and its one container, and the RBAC objects all use this name. */
export const AGENT_NAME = "otterscale-agent";
/** The container image repository of the agent; the tag is the release version (shared/version.ts). */
export const AGENT_IMAGE_REPOSITORY = "ghcr.io/otterscale/otterscale-agent";
/** The Secret that holds the agent's enrolment token, under the key `token`. */
export const ENROLMENT_SECRET_NAME = "otterscale-agent-enrolment";

export function agentImage(version: string): string {
  return `${AGENT_IMAGE_REPOSITORY}:${version}`;
}
