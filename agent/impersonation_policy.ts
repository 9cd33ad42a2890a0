/**
 * Which impersonated identities the agent forwards. The agent's ServiceAccount may impersonate anyone, so this
 * check is what keeps a request arriving through the tunnel from becoming cluster-admin: only an OIDC user,
 * with the groups the hub derives from the token, ever reaches the apiserver.
 */

/** The one group name outside the `oidc:` namespace that the hub sends. */
export const AUTHENTICATED_GROUP = "system:authenticated";
export const OIDC_GROUP_PREFIX = "oidc:";

export type ImpersonationVerdict =
  | { allowed: true; user: string; groups: string[] }
  | { allowed: false; reason: string };

/**
 * Decides from the request's raw headers (`[name, value, name, value, …]`, as node:http keeps them) so that
 * repeated headers are seen one by one rather than joined with commas.
 */
export function checkImpersonation(rawHeaders: readonly string[]): ImpersonationVerdict {
  const users: string[] = [];
  const groups: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const value = rawHeaders[i + 1];
    if (name === "impersonate-user") users.push(value);
    else if (name === "impersonate-group") groups.push(value);
    else if (name === "impersonate-uid" || name.startsWith("impersonate-extra-")) {
      return refuse(`the agent does not forward the ${rawHeaders[i]} header`);
    }
  }
  if (users.length === 0) return refuse("the agent only serves impersonated requests (no Impersonate-User)");
  if (users.length > 1) return refuse("the request names more than one Impersonate-User");
  const user = users[0].trim();
  if (user === "") return refuse("Impersonate-User is empty");
  if (user.startsWith("system:")) return refuse(`the agent does not impersonate system users (${user})`);
  for (const group of groups) {
    const problem = groupProblem(group);
    if (problem) return refuse(problem);
  }
  return { allowed: true, user, groups };
}

function groupProblem(group: string): string | undefined {
  if (group === AUTHENTICATED_GROUP) return undefined;
  if (!group.startsWith(OIDC_GROUP_PREFIX) || group.length === OIDC_GROUP_PREFIX.length) {
    return `the agent only impersonates ${AUTHENTICATED_GROUP} and ${OIDC_GROUP_PREFIX}* groups, not ${group}`;
  }
  // The apiserver reads each header line as one group, but a comma invites any other hop to split it.
  if (group.includes(",")) return `group names with commas are refused (${group})`;
  return undefined;
}

function refuse(reason: string): ImpersonationVerdict {
  return { allowed: false, reason };
}
