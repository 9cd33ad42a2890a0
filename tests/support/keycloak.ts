/**
 * The test bed's Keycloak for tests that need only the identity provider:
 * the same code and places as `deno task testbed up`.
 */
import { join } from "node:path";
import { type KeycloakInfo, startKeycloak } from "../testbed/keycloak/keycloak.ts";
import { passwordGrant } from "../testbed/keycloak/password_grant.ts";
import { keycloakPort } from "../testbed/ports.ts";
import { repoRoot } from "./repo.ts";

export function ensureKeycloak(): Promise<KeycloakInfo> {
  return startKeycloak({
    cacheDir: join(repoRoot, ".cache/testbed/keycloak"),
    runDir: join(repoRoot, ".testbed/keycloak"),
    port: keycloakPort,
    log: (line) => console.error(line),
  }).catch((error) => {
    throw new Error(
      `the test bed's Keycloak could not start (needs mvn, unzip and a JDK >= 21): ${error.message}`,
    );
  });
}

/** A fresh access token for one of the realm's users. */
export async function accessToken(info: KeycloakInfo, username: string): Promise<string> {
  const user = info.users.find((u) => u.username === username);
  if (!user) throw new Error(`the test realm has no user ${username}`);
  return (await passwordGrant(info, user.username, user.password)).access_token;
}
