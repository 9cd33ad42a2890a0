import assert from "node:assert/strict";
import { envName, flagName } from "./names.ts";
import type { ProgramSchema } from "./schema.ts";

const server: ProgramSchema = { program: "p", section: "server", otherSections: [], keys: [] };

Deno.test("envName: OTTERSCALE_ + key path uppercased, dots to underscores", () => {
  assert.equal(envName("server.tunnel.ca_dir"), "OTTERSCALE_SERVER_TUNNEL_CA_DIR");
  assert.equal(envName("agent.bootstrap"), "OTTERSCALE_AGENT_BOOTSTRAP");
});

Deno.test("flagName: section dropped, dots and underscores to dashes", () => {
  assert.equal(flagName(server, "server.tunnel.ca_dir"), "tunnel-ca-dir");
  assert.equal(flagName(server, "server.keycloak.realm_url"), "keycloak-realm-url");
  assert.equal(flagName(server, "server.address"), "address");
  // Only the leading section goes: a key merely starting with the same letters keeps them.
  assert.equal(flagName(server, "serverx.address"), "serverx-address");
});
