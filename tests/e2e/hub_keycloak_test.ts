/** The hub against the real identity provider: Keycloak tokens, with buf curl. */
import assert from "node:assert/strict";
import { passwordGrant } from "../testbed/keycloak/password_grant.ts";
import { bufCurl, protocolFlags } from "../support/buf_curl.ts";
import { startHubProcess } from "../support/hub_process.ts";
import { accessToken, ensureKeycloak } from "../support/keycloak.ts";
import { tamperedSignature } from "../support/tokens.ts";

Deno.test("the hub accepts real Keycloak tokens and refuses altered or foreign ones", async (t) => {
  const keycloak = await ensureKeycloak();
  const hub = await startHubProcess({ issuerUrl: keycloak.realmUrl });
  const listClusters = (protocol: keyof typeof protocolFlags, token: string) =>
    bufCurl([
      ...protocolFlags[protocol],
      "-H",
      `Authorization: Bearer ${token}`,
      "--data",
      "{}",
      `${hub.url}/otterscale.fleet.v1.FleetService/ListClusters`,
    ]);
  try {
    for (const user of ["alice", "bob", "carol"]) {
      await t.step(`${user}'s token works over every protocol`, async () => {
        const token = await accessToken(keycloak, user);
        for (const protocol of ["connect", "grpc", "grpcweb"] as const) {
          const result = await listClusters(protocol, token);
          assert.equal(result.code, 0, `${protocol}: ${result.stderr}`);
          assert.deepEqual(JSON.parse(result.stdout), {});
        }
      });
    }

    await t.step("a token whose audience is another client is refused", async () => {
      // admin-cli exists in every realm and has no audience mapper for us.
      const alice = keycloak.users.find((u) => u.username === "alice")!;
      const foreign = await passwordGrant(
        { realmUrl: keycloak.realmUrl, clientId: "admin-cli" },
        "alice",
        alice.password,
      );
      const payload = JSON.parse(
        atob(foreign.access_token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")),
      );
      assert.ok(
        ![payload.aud].flat().includes("otterscale-server"),
        "premise: admin-cli tokens lack our audience",
      );
      const result = await listClusters("connect", foreign.access_token);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /unauthenticated/);
    });

    await t.step("an altered Keycloak token is refused", async () => {
      const result = await listClusters("grpc", tamperedSignature(await accessToken(keycloak, "alice")));
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /unauthenticated/);
    });
  } finally {
    await hub.stop();
  }
});
