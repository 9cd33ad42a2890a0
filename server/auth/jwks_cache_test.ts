import assert from "node:assert/strict";
import { errors, type FlattenedJWSInput } from "jose";
import { JwksCache } from "./jwks_cache.ts";
import { generateTestKey, TestIssuer } from "./test_issuer.ts";

const NO_TOKEN: FlattenedJWSInput = { payload: "", signature: "" };
const rsa1 = await generateTestKey("RS256", "rsa-1");
const rsa2 = await generateTestKey("RS256", "rsa-2");

function setup(issuer: TestIssuer) {
  const clock = { ms: 1_700_000_000_000 };
  const cache = new JwksCache({
    jwksUri: issuer.jwksUri,
    now: () => clock.ms,
    refetchCooldownMs: 30_000,
    maxAgeMs: 600_000,
    timeoutMs: 2_000,
  });
  return { clock, cache };
}

Deno.test("JwksCache: concurrent refreshes share one fetch", async () => {
  await using issuer = new TestIssuer();
  issuer.published = [rsa1];
  const { cache } = setup(issuer);
  await Promise.all([cache.refresh(), cache.refresh(), cache.refresh()]);
  assert.equal(issuer.jwksRequests, 1);
  assert.equal(cache.fetchCount, 1);
  assert.ok(cache.loaded);
  assert.ok(await cache.getKey({ alg: "RS256", kid: "rsa-1" }, NO_TOKEN));
});

Deno.test("JwksCache: unknown kids refetch at most once per cooldown, shared by concurrent callers", async () => {
  await using issuer = new TestIssuer();
  issuer.published = [rsa1];
  const { clock, cache } = setup(issuer);
  await cache.refresh();

  // Within the cooldown of the initial load: no fetch at all.
  const early = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) => cache.getKey({ alg: "RS256", kid: `ghost-${i}` }, NO_TOKEN)),
  );
  assert.ok(early.every((r) => r.status === "rejected" && r.reason instanceof errors.JWKSNoMatchingKey));
  assert.equal(issuer.jwksRequests, 1);

  clock.ms += 30_000;
  const late = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) => cache.getKey({ alg: "RS256", kid: `ghost2-${i}` }, NO_TOKEN)),
  );
  assert.ok(late.every((r) => r.status === "rejected"));
  assert.equal(issuer.jwksRequests, 2, "one refetch for 50 concurrent unknown kids");

  // Right after that refetch, the cooldown applies again, also to a kid that now exists.
  issuer.published = [rsa1, rsa2];
  await assert.rejects(cache.getKey({ alg: "RS256", kid: "rsa-2" }, NO_TOKEN), errors.JWKSNoMatchingKey);
  assert.equal(issuer.jwksRequests, 2);
  clock.ms += 30_000;
  assert.ok(await cache.getKey({ alg: "RS256", kid: "rsa-2" }, NO_TOKEN));
  assert.equal(issuer.jwksRequests, 3);
});

Deno.test("JwksCache: a failing endpoint keeps the old keys and is still asked at most once per cooldown", async () => {
  await using issuer = new TestIssuer();
  issuer.published = [rsa1];
  const { clock, cache } = setup(issuer);
  await cache.refresh();
  issuer.jwksStatus = 503;

  clock.ms += 31_000;
  for (let i = 0; i < 20; i++) {
    await assert.rejects(
      cache.getKey({ alg: "RS256", kid: `ghost-${i}` }, NO_TOKEN),
      errors.JWKSNoMatchingKey,
    );
  }
  assert.equal(issuer.jwksRequests, 2, "one failed refetch, then cooling down");
  assert.ok(await cache.getKey({ alg: "RS256", kid: "rsa-1" }, NO_TOKEN), "old key still usable");

  clock.ms += 31_000;
  await assert.rejects(cache.getKey({ alg: "RS256", kid: "ghost-x" }, NO_TOKEN));
  assert.equal(issuer.jwksRequests, 3);
});

Deno.test("JwksCache: keys older than maxAge are refetched, so removed keys stop verifying", async () => {
  await using issuer = new TestIssuer();
  issuer.published = [rsa1];
  const { clock, cache } = setup(issuer);
  await cache.refresh();

  clock.ms += 599_000;
  assert.ok(await cache.getKey({ alg: "RS256", kid: "rsa-1" }, NO_TOKEN));
  assert.equal(issuer.jwksRequests, 1, "still fresh");

  issuer.published = [rsa2];
  clock.ms += 1_000;
  assert.ok(await cache.getKey({ alg: "RS256", kid: "rsa-2" }, NO_TOKEN));
  assert.equal(issuer.jwksRequests, 2, "one periodic refetch");
  await assert.rejects(cache.getKey({ alg: "RS256", kid: "rsa-1" }, NO_TOKEN), errors.JWKSNoMatchingKey);
  assert.equal(issuer.jwksRequests, 2, "the removed kid does not refetch within the cooldown");
});

Deno.test("JwksCache: symmetric keys in the JWKS are dropped", async () => {
  await using issuer = new TestIssuer();
  issuer.published = [rsa1];
  issuer.extraJwks = [{
    kty: "oct",
    kid: "hmac",
    alg: "HS256",
    k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA",
  }];
  const { cache } = setup(issuer);
  await cache.refresh();
  await assert.rejects(cache.getKey({ alg: "HS256", kid: "hmac" }, NO_TOKEN));

  issuer.published = [];
  await assert.rejects(cache.refresh(), /no asymmetric keys \(1 keys in total\)/);
});

Deno.test("JwksCache: a malformed or unreachable JWKS fails refresh with the URL", async () => {
  await using issuer = new TestIssuer();
  const { cache } = setup(issuer);
  for (const body of [{ keys: "rsa-1" }, [rsa1.publicJwk], null, { keys: [42, null] }]) {
    issuer.jwksBodyOverride = body;
    await assert.rejects(cache.refresh(), /has no "keys" array|no asymmetric keys/, JSON.stringify(body));
  }
  issuer.jwksBodyOverride = undefined;
  issuer.jwksStatus = 500;
  await assert.rejects(cache.refresh(), new RegExp(`GET ${issuer.jwksUri} failed: HTTP 500`));
  assert.equal(cache.loaded, false);
  await assert.rejects(cache.getKey({ alg: "RS256", kid: "rsa-1" }, NO_TOKEN), /no JWKS loaded/);
});
