import assert from "node:assert/strict";
import { discoverProvider, discoveryUrl } from "./oidc_discovery.ts";
import { TestIssuer, unusedPort } from "./test_issuer.ts";

const fetchOptions = { fetch, timeoutMs: 2_000 };

Deno.test("discoveryUrl appends the well-known path once, with or without a trailing slash", () => {
  assert.equal(discoveryUrl("https://idp/realms/a"), "https://idp/realms/a/.well-known/openid-configuration");
  assert.equal(
    discoveryUrl("https://idp/realms/a/"),
    "https://idp/realms/a/.well-known/openid-configuration",
  );
});

Deno.test("discoverProvider returns the issuer and jwks_uri of a matching document", async () => {
  await using issuer = new TestIssuer();
  const metadata = await discoverProvider(issuer.url, fetchOptions);
  assert.deepEqual(metadata, { issuer: issuer.url, jwksUri: issuer.jwksUri });
  assert.equal(issuer.discoveryRequests, 1);
});

Deno.test("discoverProvider rejects an issuer that differs, even by a trailing slash", async () => {
  await using issuer = new TestIssuer();
  await assert.rejects(discoverProvider(`${issuer.url}/`, fetchOptions), /names issuer .* expected exactly/);
  issuer.discoveryOverrides = { issuer: "https://evil.example/realms/test" };
  await assert.rejects(discoverProvider(issuer.url, fetchOptions), /evil\.example/);
});

Deno.test("discoverProvider rejects a document without a usable jwks_uri", async () => {
  await using issuer = new TestIssuer();
  for (const jwksUri of [undefined, 42, "not a url", "file:///etc/keys.json"]) {
    issuer.discoveryOverrides = { jwks_uri: jwksUri };
    await assert.rejects(discoverProvider(issuer.url, fetchOptions), /jwks_uri/, `jwks_uri ${jwksUri}`);
  }
});

Deno.test("discoverProvider reports HTTP errors and unreachable hosts with the URL", async () => {
  await using issuer = new TestIssuer();
  const wrongRealm = issuer.url.replace("/realms/test", "/realms/other");
  await assert.rejects(discoverProvider(wrongRealm, fetchOptions), /realms\/other\/\.well-known.*HTTP 404/);
  const port = unusedPort();
  await assert.rejects(
    discoverProvider(`http://127.0.0.1:${port}/realms/x`, fetchOptions),
    new RegExp(`${port}`),
  );
});

Deno.test("discoverProvider gives up after the request timeout", async () => {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    await released;
    return new Response("{}");
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/realms/slow`;
    const started = performance.now();
    await assert.rejects(discoverProvider(url, { fetch, timeoutMs: 100 }), /timed out after 100 ms/);
    // The message proves the 100 ms timeout fired; the clock only that nothing else was waited for.
    assert.ok(performance.now() - started < 10_000);
  } finally {
    release();
    await server.shutdown();
  }
});
