import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { cacheVerifiedTokens } from "./verified_token_cache.ts";
import type { Identity } from "./identity.ts";

function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (v: unknown) =>
    btoa(JSON.stringify(v)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  return `${part({ alg: "ES256" })}.${part(claims)}.sig`;
}

function countingVerifier(valid: Set<string>) {
  const counter = {
    calls: 0,
    verify(token: string): Promise<Identity> {
      counter.calls++;
      if (!valid.has(token)) {
        return Promise.reject(new ConnectError("invalid bearer token", Code.Unauthenticated));
      }
      return Promise.resolve({ user: "alice", groups: ["system:authenticated"] });
    },
  };
  return counter;
}

Deno.test("a verified token is verified once until its expiry or the maximum age", async () => {
  let clock = 1_000_000_000;
  const token = unsignedJwt({ sub: "alice", exp: clock / 1000 + 30 });
  const inner = countingVerifier(new Set([token]));
  const cached = cacheVerifiedTokens(inner, { maxAgeMs: 60_000, now: () => clock });
  for (let i = 0; i < 5; i++) assert.equal((await cached.verify(token)).user, "alice");
  assert.equal(inner.calls, 1);
  clock += 31_000; // past the token's own exp (30 s), before maxAge (60 s)
  await cached.verify(token);
  assert.equal(inner.calls, 2, "an expired token is verified again (and the verifier decides)");
});

Deno.test("entries older than the maximum age are verified again", async () => {
  let clock = 1_000_000_000;
  const token = unsignedJwt({ sub: "alice", exp: clock / 1000 + 3600 });
  const inner = countingVerifier(new Set([token]));
  const cached = cacheVerifiedTokens(inner, { maxAgeMs: 60_000, now: () => clock });
  await cached.verify(token);
  clock += 61_000;
  await cached.verify(token);
  assert.equal(inner.calls, 2);
});

Deno.test("failures are never cached", async () => {
  const inner = countingVerifier(new Set());
  const cached = cacheVerifiedTokens(inner);
  const token = unsignedJwt({ sub: "mallory", exp: Date.now() / 1000 + 3600 });
  for (let i = 0; i < 3; i++) await assert.rejects(cached.verify(token), /invalid bearer token/);
  assert.equal(inner.calls, 3);
});

Deno.test("the cache is bounded and evicts the least recently used token", async () => {
  const exp = Date.now() / 1000 + 3600;
  const tokens = ["a", "b", "c"].map((sub) => unsignedJwt({ sub, exp }));
  const inner = countingVerifier(new Set(tokens));
  const cached = cacheVerifiedTokens(inner, { maxEntries: 2 });
  await cached.verify(tokens[0]);
  await cached.verify(tokens[1]);
  await cached.verify(tokens[0]); // a is now the most recent
  await cached.verify(tokens[2]); // evicts b
  assert.equal(inner.calls, 3);
  await cached.verify(tokens[0]);
  assert.equal(inner.calls, 3, "a stayed cached");
  await cached.verify(tokens[1]);
  assert.equal(inner.calls, 4, "b was evicted");
});
