import assert from "node:assert/strict";
import { checkImpersonation } from "./impersonation_policy.ts";

function raw(...pairs: [string, string][]): string[] {
  return pairs.flat();
}

function reasonFor(rawHeaders: string[]): string {
  const verdict = checkImpersonation(rawHeaders);
  assert.equal(verdict.allowed, false, `expected a refusal for ${JSON.stringify(rawHeaders)}`);
  return (verdict as { reason: string }).reason;
}

Deno.test("impersonation policy: the hub's identities pass, with every group seen separately", () => {
  const verdict = checkImpersonation(raw(
    ["Accept", "application/json"],
    ["Impersonate-User", "alice"],
    ["Impersonate-Group", "system:authenticated"],
    ["impersonate-group", "oidc:platform-admins"],
    ["IMPERSONATE-GROUP", "oidc:/org/team"],
  ));
  assert.deepEqual(verdict, {
    allowed: true,
    user: "alice",
    groups: ["system:authenticated", "oidc:platform-admins", "oidc:/org/team"],
  });
  assert.deepEqual(checkImpersonation(raw(["Impersonate-User", "5f0c-subject-id"])), {
    allowed: true,
    user: "5f0c-subject-id",
    groups: [],
  });
});

Deno.test("impersonation policy: without a user, the request is refused", () => {
  assert.match(reasonFor([]), /only serves impersonated requests/);
  assert.match(reasonFor(raw(["Impersonate-Group", "oidc:x"])), /only serves impersonated requests/);
  assert.match(reasonFor(raw(["Impersonate-User", "  "])), /empty/);
});

Deno.test("impersonation policy: system users and two users are refused", () => {
  assert.match(reasonFor(raw(["Impersonate-User", "system:admin"])), /system users \(system:admin\)/);
  assert.match(
    reasonFor(raw(["Impersonate-User", "system:serviceaccount:kube-system:default"])),
    /system users/,
  );
  assert.match(reasonFor(raw(["Impersonate-User", "system:anonymous"])), /system users/);
  assert.match(reasonFor(raw(["Impersonate-User", "alice"], ["Impersonate-User", "bob"])), /more than one/);
});

Deno.test("impersonation policy: only system:authenticated and oidc: groups", () => {
  for (
    const group of ["system:masters", "system:nodes", "system:serviceaccounts", "admins", "oidc:", "OIDC:x"]
  ) {
    assert.match(
      reasonFor(
        raw(["Impersonate-User", "alice"], ["Impersonate-Group", "oidc:ok"], ["Impersonate-Group", group]),
      ),
      new RegExp(`not ${group}$`),
    );
  }
  // One header line holding a list stays one (strange) group to the apiserver, but is refused all the same.
  assert.match(
    reasonFor(raw(["Impersonate-User", "alice"], ["Impersonate-Group", "oidc:x, system:masters"])),
    /commas/,
  );
});

Deno.test("impersonation policy: uid and extra impersonation are refused", () => {
  assert.match(reasonFor(raw(["Impersonate-User", "alice"], ["Impersonate-Uid", "42"])), /Impersonate-Uid/);
  assert.match(
    reasonFor(raw(["Impersonate-User", "alice"], ["Impersonate-Extra-Scopes", "view"])),
    /Impersonate-Extra-Scopes/,
  );
  assert.match(
    reasonFor(raw(["impersonate-extra-", "x"], ["Impersonate-User", "alice"])),
    /impersonate-extra-/,
  );
});
