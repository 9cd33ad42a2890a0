import assert from "node:assert/strict";
import { beginSignIn, claimsOf, codeChallenge, type OidcClient, returnedCode } from "./oidc.ts";

const client: OidcClient = {
  realmUrl: "http://127.0.0.1:18080/realms/otterscale",
  clientId: "otterscale-web",
  redirectUri: "http://127.0.0.1:8400/",
};

Deno.test("codeChallenge is RFC 7636's S256 (the RFC's own example)", async () => {
  assert.equal(
    await codeChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
  );
});

Deno.test("beginSignIn asks Keycloak for a code with PKCE and a fresh state", async () => {
  const first = await beginSignIn(client);
  const second = await beginSignIn(client);
  assert.equal(first.url.origin + first.url.pathname, `${client.realmUrl}/protocol/openid-connect/auth`);
  const params = first.url.searchParams;
  assert.equal(params.get("client_id"), "otterscale-web");
  assert.equal(params.get("redirect_uri"), client.redirectUri);
  assert.equal(params.get("response_type"), "code");
  assert.equal(params.get("code_challenge_method"), "S256");
  assert.equal(params.get("code_challenge"), await codeChallenge(first.pending.verifier));
  assert.equal(params.get("state"), first.pending.state);
  assert.notEqual(first.pending.state, second.pending.state);
  assert.notEqual(first.pending.verifier, second.pending.verifier);
  assert.ok(first.pending.verifier.length >= 43, "RFC 7636 wants at least 43 characters");
});

Deno.test("returnedCode accepts only the answer to this page's own sign-in", () => {
  const pending = { state: "s1", verifier: "v" };
  assert.equal(returnedCode(new URL("http://127.0.0.1:8400/"), pending), undefined);
  assert.equal(returnedCode(new URL("http://127.0.0.1:8400/?code=c1&state=s1"), pending), "c1");
  assert.throws(
    () => returnedCode(new URL("http://127.0.0.1:8400/?code=c1&state=other"), pending),
    /does not match/,
  );
  assert.throws(
    () => returnedCode(new URL("http://127.0.0.1:8400/?code=c1&state=s1"), undefined),
    /does not match/,
  );
  assert.throws(
    () => returnedCode(new URL("http://127.0.0.1:8400/?error=access_denied&state=s1"), pending),
    /refused the sign-in: access_denied/,
  );
});

Deno.test("claimsOf reads a token's payload, including non-ASCII text", () => {
  const payload = btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify({ name: "Zoë" }))))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  assert.deepEqual(claimsOf(`h.${payload}.s`), { name: "Zoë" });
});
