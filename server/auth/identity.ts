/** Who is calling: the user and groups the hub impersonates on the target cluster. */
export type Identity = { user: string; groups: string[] };

/** Every verified caller is in this group, as Kubernetes does for its own authenticators. */
export const AUTHENTICATED_GROUP = "system:authenticated";

/**
 * Prefix for IdP groups, so that an IdP group named e.g. `system:masters` cannot map onto a privileged
 * Kubernetes group.
 */
export const OIDC_GROUP_PREFIX = "oidc:";

/**
 * Maps verified token claims to an Identity: user = `sub`, groups = `system:authenticated` plus each string
 * entry of the optional `groups` claim with the `oidc:` prefix. Non-string and empty entries are ignored,
 * duplicates removed. Throws when `sub` is missing or not a non-empty string.
 */
export function identityFromClaims(claims: Record<string, unknown>): Identity {
  const user = claims.sub;
  if (typeof user !== "string" || user === "") {
    throw new Error(`token has no usable "sub" claim (got ${JSON.stringify(user) ?? "undefined"})`);
  }
  const groups = new Set([AUTHENTICATED_GROUP]);
  if (Array.isArray(claims.groups)) {
    for (const group of claims.groups) {
      if (typeof group === "string" && group !== "") groups.add(OIDC_GROUP_PREFIX + group);
    }
  }
  return { user, groups: [...groups] };
}
