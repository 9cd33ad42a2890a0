// Exercises the real Keycloak of the test bed: tokens from the password grant must satisfy what the hub's
// OIDC verification relies on (issuer, audience, signature from the discovered JWKS, `sub`, `groups`).

import assert from "node:assert/strict";
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from "jose";
import { keycloakPort } from "../ports.ts";
import {
  type KeycloakInfo,
  passwordGrant,
  SERVER_CLIENT_ID,
  startKeycloak,
  WEB_CLIENT_ID,
} from "./keycloak.ts";

const root = new URL("../../../", import.meta.url).pathname;

async function startTestbedKeycloak(): Promise<KeycloakInfo> {
  return await startKeycloak({
    cacheDir: `${root}.cache/testbed/keycloak`,
    runDir: `${root}.testbed/keycloak`,
    port: keycloakPort,
  });
}

function userOf(info: KeycloakInfo, username: string) {
  const user = info.users.find((u) => u.username === username);
  if (!user) throw new Error(`test realm has no user '${username}'`);
  return user;
}

async function verifiedClaims(info: KeycloakInfo, token: string): Promise<JWTPayload> {
  const response = await fetch(`${info.realmUrl}/.well-known/openid-configuration`);
  const discovery = await response.json() as { issuer: string; jwks_uri: string };
  assert.equal(discovery.issuer, info.realmUrl);
  const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
  const { payload } = await jwtVerify(token, jwks, { issuer: info.realmUrl, audience: SERVER_CLIENT_ID });
  return payload;
}

function audiences(claims: JWTPayload): string[] {
  return claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
}

Deno.test("keycloak test bed issues verifiable tokens with sub, audience and groups", async (t) => {
  const info = await startTestbedKeycloak();
  assert.equal(info.realmUrl, `http://127.0.0.1:${keycloakPort}/realms/otterscale`);
  assert.equal(info.clientId, SERVER_CLIENT_ID);

  await t.step("alice: verified, aud has the server client, groups = [platform-admins]", async () => {
    const alice = userOf(info, "alice");
    const tokens = await passwordGrant(info, alice.username, alice.password);
    const claims = await verifiedClaims(info, tokens.access_token);
    assert.equal(claims.iss, info.realmUrl);
    assert.ok(audiences(claims).includes(SERVER_CLIENT_ID), `aud ${JSON.stringify(claims.aud)}`);
    assert.ok(typeof claims.sub === "string" && claims.sub.length > 0, `sub ${JSON.stringify(claims.sub)}`);
    assert.deepEqual(claims.groups, ["platform-admins"]);
    assert.deepEqual(alice.groups, ["platform-admins"]);
  });

  await t.step("bob: groups = [viewers]", async () => {
    const bob = userOf(info, "bob");
    const claims = await verifiedClaims(
      info,
      (await passwordGrant(info, bob.username, bob.password)).access_token,
    );
    assert.deepEqual(claims.groups, ["viewers"]);
    assert.ok(typeof claims.sub === "string" && claims.sub.length > 0);
  });

  await t.step("carol: no groups", async () => {
    const carol = userOf(info, "carol");
    const claims = await verifiedClaims(
      info,
      (await passwordGrant(info, carol.username, carol.password)).access_token,
    );
    assert.ok(claims.groups === undefined || (Array.isArray(claims.groups) && claims.groups.length === 0));
    assert.ok(typeof claims.sub === "string" && claims.sub.length > 0);
  });

  await t.step("each user has a distinct sub", async () => {
    const subs = new Set<string>();
    for (const user of info.users) {
      const claims = await verifiedClaims(
        info,
        (await passwordGrant(info, user.username, user.password)).access_token,
      );
      subs.add(String(claims.sub));
    }
    assert.equal(subs.size, info.users.length);
  });

  await t.step("a wrong password is refused", async () => {
    await assert.rejects(() => passwordGrant(info, "alice", "not-alices-password"), /invalid_grant/);
  });

  await t.step("the public web client gets the same audience and groups", async () => {
    const alice = userOf(info, "alice");
    const tokens = await passwordGrant(
      { realmUrl: info.realmUrl, clientId: WEB_CLIENT_ID },
      "alice",
      alice.password,
    );
    const claims = await verifiedClaims(info, tokens.access_token);
    assert.ok(audiences(claims).includes(SERVER_CLIENT_ID), `aud ${JSON.stringify(claims.aud)}`);
    assert.deepEqual(claims.groups, ["platform-admins"]);
    assert.equal(claims.azp, WEB_CLIENT_ID);
  });

  await t.step("a second start reuses the running server", async () => {
    const lines: string[] = [];
    const again = await startKeycloak({
      cacheDir: `${root}.cache/testbed/keycloak`,
      runDir: `${root}.testbed/keycloak`,
      port: keycloakPort,
      log: (line) => lines.push(line),
    });
    assert.deepEqual(again, info);
    assert.ok(lines.some((line) => line.includes("reusing")), lines.join("\n"));
  });
});
