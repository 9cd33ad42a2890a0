import assert from "node:assert/strict";
import { identityFromClaims } from "./identity.ts";

Deno.test("identityFromClaims maps sub to user and prefixes groups", () => {
  assert.deepEqual(identityFromClaims({ sub: "alice", groups: ["dev", "system:masters"] }), {
    user: "alice",
    groups: ["system:authenticated", "oidc:dev", "oidc:system:masters"],
  });
});

Deno.test("identityFromClaims without a groups claim yields only system:authenticated", () => {
  assert.deepEqual(identityFromClaims({ sub: "bob" }), { user: "bob", groups: ["system:authenticated"] });
  assert.deepEqual(identityFromClaims({ sub: "bob", groups: "dev" }).groups, ["system:authenticated"]);
  assert.deepEqual(identityFromClaims({ sub: "bob", groups: null }).groups, ["system:authenticated"]);
});

Deno.test("identityFromClaims ignores non-string and empty groups and removes duplicates", () => {
  const identity = identityFromClaims({
    sub: "carol",
    groups: ["dev", 7, null, { a: 1 }, "", "dev", "ops", ["x"]],
  });
  assert.deepEqual(identity.groups, ["system:authenticated", "oidc:dev", "oidc:ops"]);
});

Deno.test("identityFromClaims rejects a missing, empty or non-string sub", () => {
  for (const sub of [undefined, "", 42, null, ["alice"]]) {
    assert.throws(() => identityFromClaims({ sub, groups: ["dev"] }), /"sub"/, `sub ${JSON.stringify(sub)}`);
  }
});
