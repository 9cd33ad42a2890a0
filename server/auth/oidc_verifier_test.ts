import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { base64url, exportSPKI, type JWTPayload, SignJWT } from "jose";
import type { Identity } from "./identity.ts";
import type { LogLevel } from "./logger.ts";
import {
  type OidcVerifier,
  type OidcVerifierOptions,
  type Readiness,
  startOidcVerifier,
} from "./oidc_verifier.ts";
import { generateTestKey, TestIssuer, type TestKey, unusedPort, waitUntilReady } from "./test_issuer.ts";
import { until } from "../../tests/support/expect.ts";

const CLIENT_ID = "otterscale-server";
const keys = {
  rsa: await generateTestKey("RS256", "rsa-1"),
  ec: await generateTestKey("ES256", "ec-1"),
  ps: await generateTestKey("PS256", "ps-1"),
  ec384: await generateTestKey("ES384", "ec384-1"),
  ed: await generateTestKey("EdDSA", "ed-1"),
  rsaNew: await generateTestKey("RS256", "rsa-2"),
  unpublished: await generateTestKey("RS256", "rsa-1"), // same kid as a published key, different key
};

type LogLine = { level: LogLevel; msg: string; fields?: Record<string, unknown> };

/** A running issuer plus a ready verifier on a controllable clock. */
class Fixture {
  readonly issuer = new TestIssuer();
  readonly clock = { ms: Date.now() };
  readonly logs: LogLine[] = [];
  verifier!: OidcVerifier;

  static async start(options: Partial<OidcVerifierOptions> = {}): Promise<Fixture> {
    const fixture = new Fixture();
    fixture.issuer.published = [keys.rsa, keys.ec, keys.ps, keys.ec384, keys.ed];
    fixture.verifier = startOidcVerifier({
      issuerUrl: fixture.issuer.url,
      clientId: CLIENT_ID,
      now: () => fixture.clock.ms,
      log: (level, msg, fields) => fixture.logs.push({ level, msg, fields }),
      backoff: { initialMs: 10, maxMs: 50 },
      ...options,
    });
    await waitUntilReady(fixture.verifier, 20_000);
    return fixture;
  }

  get seconds(): number {
    return Math.floor(this.clock.ms / 1000);
  }

  /**
   * Claims of a valid token at the fixture's clock, with `overrides` applied. An override of undefined
   * removes the claim: JSON serialisation drops it.
   */
  claims(overrides: Record<string, unknown> = {}): JWTPayload {
    return {
      iss: this.issuer.url,
      sub: "alice",
      aud: CLIENT_ID,
      iat: this.seconds,
      exp: this.seconds + 300,
      groups: ["dev", "system:masters"],
      ...overrides,
    };
  }

  sign(
    key: TestKey,
    overrides: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
  ): Promise<string> {
    return this.issuer.sign(key, this.claims(overrides), header);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.verifier.close();
    await this.issuer.close();
  }
}

async function assertUnauthenticated(
  promise: Promise<Identity>,
  message = "invalid bearer token",
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConnectError, `not a ConnectError: ${error}`);
    assert.equal(error.code, Code.Unauthenticated);
    assert.equal(error.rawMessage, message);
    return true;
  });
}

function unsignedToken(header: Record<string, unknown>, claims: JWTPayload, signature = ""): string {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${encode(header)}.${encode(claims)}.${signature}`;
}

function lastRejectionReason(fixture: Fixture): string {
  const line = fixture.logs.findLast((l) => l.msg === "bearer token rejected");
  return String(line?.fields?.reason);
}

Deno.test("verify accepts valid RS256 and ES256 tokens and maps sub and groups", async () => {
  await using f = await Fixture.start();
  assert.deepEqual(await f.verifier.verify(await f.sign(keys.rsa)), {
    user: "alice",
    groups: ["system:authenticated", "oidc:dev", "oidc:system:masters"],
  });
  const ecToken = await f.sign(keys.ec, { sub: "bob", groups: ["ops"], aud: ["account", CLIENT_ID] });
  assert.deepEqual(await f.verifier.verify(ecToken), {
    user: "bob",
    groups: ["system:authenticated", "oidc:ops"],
  });
});

Deno.test("verify accepts the other allowed algorithms (PS256, ES384, EdDSA)", async () => {
  await using f = await Fixture.start();
  for (const key of [keys.ps, keys.ec384, keys.ed]) {
    assert.equal((await f.verifier.verify(await f.sign(key, { sub: key.kid }))).user, key.kid);
  }
});

Deno.test("verify handles an absent groups claim and ignores non-string groups", async () => {
  await using f = await Fixture.start();
  const noGroups = await f.verifier.verify(await f.sign(keys.rsa, { groups: undefined }));
  assert.deepEqual(noGroups.groups, ["system:authenticated"]);
  const mixed = await f.verifier.verify(
    await f.sign(keys.ec, { groups: ["a", 1, null, true, { x: 1 }, "a", "b"] }),
  );
  assert.deepEqual(mixed.groups, ["system:authenticated", "oidc:a", "oidc:b"]);
});

Deno.test("verify rejects a missing token and reports the generic message", async () => {
  await using f = await Fixture.start();
  await assertUnauthenticated(f.verifier.verify(undefined), "missing bearer token");
  await assertUnauthenticated(f.verifier.verify(""), "missing bearer token");
  await assertUnauthenticated(f.verifier.verify("not-a-jwt"));
  await assertUnauthenticated(f.verifier.verify("a.b.c"));
});

Deno.test("verify rejects a token without sub or with an empty sub", async () => {
  await using f = await Fixture.start();
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { sub: undefined })));
  assert.match(lastRejectionReason(f), /"sub"/);
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { sub: "" })));
});

Deno.test("verify enforces exp with the clock skew and requires exp", async () => {
  await using f = await Fixture.start();
  await assertUnauthenticated(
    f.verifier.verify(await f.sign(keys.rsa, { exp: f.seconds - 31, iat: f.seconds - 600 })),
  );
  assert.match(lastRejectionReason(f), /"exp"/);
  const withinSkew = await f.sign(keys.rsa, { exp: f.seconds - 10, iat: f.seconds - 600 });
  assert.equal((await f.verifier.verify(withinSkew)).user, "alice");
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { exp: undefined })));
  assert.match(lastRejectionReason(f), /missing required "exp"/);
});

Deno.test("verify honours nbf and rejects iat in the future beyond the skew", async () => {
  await using f = await Fixture.start();
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { nbf: f.seconds + 60 })));
  assert.match(lastRejectionReason(f), /"nbf"/);
  assert.equal((await f.verifier.verify(await f.sign(keys.rsa, { nbf: f.seconds + 20 }))).user, "alice");

  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { iat: f.seconds + 60 })));
  assert.match(lastRejectionReason(f), /"iat" .* in the future/);
  assert.equal((await f.verifier.verify(await f.sign(keys.rsa, { iat: f.seconds + 20 }))).user, "alice");
});

Deno.test("verify uses a configurable clock skew", async () => {
  await using f = await Fixture.start({ clockSkewSeconds: 0 });
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { nbf: f.seconds + 5 })));
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { exp: f.seconds - 1 })));
});

Deno.test("verify rejects a wrong or missing audience", async () => {
  await using f = await Fixture.start();
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { aud: "account" })));
  assert.match(lastRejectionReason(f), /"aud"/);
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { aud: ["account", "other"] })));
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { aud: undefined })));
});

Deno.test("verify rejects a wrong issuer", async () => {
  await using f = await Fixture.start();
  await assertUnauthenticated(
    f.verifier.verify(await f.sign(keys.rsa, { iss: "https://evil.example/realms/test" })),
  );
  assert.match(lastRejectionReason(f), /"iss"/);
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { iss: `${f.issuer.url}/` })));
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa, { iss: undefined })));
});

Deno.test("verify rejects alg none, with or without a signature part", async () => {
  await using f = await Fixture.start();
  for (const alg of ["none", "None", "NONE"]) {
    await assertUnauthenticated(f.verifier.verify(unsignedToken({ alg, kid: "rsa-1" }, f.claims())));
    assert.match(lastRejectionReason(f), /not allowed|Unsupported|alg/i);
    await assertUnauthenticated(f.verifier.verify(unsignedToken({ alg, typ: "JWT" }, f.claims(), "AAAA")));
  }
});

Deno.test("verify rejects HS256 tokens, including ones keyed with the public key (key confusion)", async () => {
  await using f = await Fixture.start();
  const encoder = new TextEncoder();
  const secrets = {
    random: crypto.getRandomValues(new Uint8Array(32)),
    spkiPem: encoder.encode(await exportSPKI(keys.rsa.publicKey)),
    jwkJson: encoder.encode(JSON.stringify(keys.rsa.publicJwk)),
    modulus: base64url.decode(keys.rsa.publicJwk.n!),
  };
  for (const [name, secret] of Object.entries(secrets)) {
    for (const alg of ["HS256", "HS512"]) {
      const token = await new SignJWT(f.claims())
        .setProtectedHeader({ alg, kid: "rsa-1", typ: "JWT" })
        .sign(secret);
      await assertUnauthenticated(f.verifier.verify(token));
      assert.match(lastRejectionReason(f), /not allowed/, `${alg} with ${name}`);
    }
  }
});

Deno.test("verify rejects an HS256 token whose kid names a symmetric key published in the JWKS", async () => {
  await using f = await Fixture.start();
  const secret = crypto.getRandomValues(new Uint8Array(32));
  f.issuer.extraJwks = [{ kty: "oct", kid: "hmac", alg: "HS256", k: base64url.encode(secret) }];
  f.clock.ms += 31_000; // let the unknown kid trigger a refetch that sees the oct key
  const token = await new SignJWT(f.claims())
    .setProtectedHeader({ alg: "HS256", kid: "hmac" })
    .sign(secret);
  await assertUnauthenticated(f.verifier.verify(token));
});

Deno.test("verify rejects a tampered payload and a token signed by a different key with a known kid", async () => {
  await using f = await Fixture.start();
  const [header, , signature] = (await f.sign(keys.rsa, { sub: "alice" })).split(".");
  const forgedPayload = base64url.encode(JSON.stringify(f.claims({ sub: "admin", groups: ["admins"] })));
  await assertUnauthenticated(f.verifier.verify(`${header}.${forgedPayload}.${signature}`));
  assert.match(lastRejectionReason(f), /signature verification failed/);

  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.unpublished)));
  assert.match(lastRejectionReason(f), /signature verification failed/);
});

Deno.test("verify rejects a token whose kid is not in the JWKS", async () => {
  await using f = await Fixture.start();
  const ghost = await generateTestKey("RS256", "ghost");
  await assertUnauthenticated(f.verifier.verify(await f.sign(ghost)));
  assert.match(lastRejectionReason(f), /no applicable key found/i);
});

Deno.test("verify tries every matching key for a token without kid", async () => {
  await using f = await Fixture.start();
  f.issuer.published = [keys.rsa, keys.rsaNew];
  f.clock.ms += 31_000;
  const noKid = { kid: undefined };
  // An unknown kid triggers the refetch that loads both RSA keys.
  await assertUnauthenticated(f.verifier.verify(await f.sign(await generateTestKey("RS256", "ghost"))));
  assert.equal((await f.verifier.verify(await f.sign(keys.rsaNew, {}, noKid))).user, "alice");
  assert.equal((await f.verifier.verify(await f.sign(keys.rsa, {}, noKid))).user, "alice");
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.unpublished, {}, noKid)));
});

Deno.test("verify rejects oversized tokens before parsing them", async () => {
  await using f = await Fixture.start({ maxTokenLength: 2_000 });
  const token = await f.sign(keys.ec, { groups: Array.from({ length: 200 }, (_, i) => `group-${i}`) });
  assert.ok(token.length > 2_000);
  await assertUnauthenticated(f.verifier.verify(token));
  assert.match(lastRejectionReason(f), /limit 2000/);
});

Deno.test("rejections keep the reason out of the error and put it in the debug log", async () => {
  await using f = await Fixture.start();
  const error = await f.verifier.verify(await f.sign(keys.rsa, { aud: "account" })).catch((e) => e);
  assert.ok(error instanceof ConnectError);
  assert.equal(error.message, "[unauthenticated] invalid bearer token");
  assert.equal(error.details.length, 0);
  assert.equal(error.cause, undefined);
  const line = f.logs.findLast((l) => l.msg === "bearer token rejected")!;
  assert.equal(line.level, "debug");
  assert.match(String(line.fields?.reason), /"aud"/);
  assert.equal(line.fields?.code, "ERR_JWT_CLAIM_VALIDATION_FAILED");
});

Deno.test("key rotation: a token with a newly published kid verifies after the refetch cooldown", async () => {
  await using f = await Fixture.start();
  const requestsAtStart = f.issuer.jwksRequests;
  f.issuer.published = [keys.rsaNew];
  const token = await f.sign(keys.rsaNew);

  // Within 30 s of the last fetch the new kid is not fetched (the documented cost of the cooldown).
  await assertUnauthenticated(f.verifier.verify(token));
  assert.equal(f.issuer.jwksRequests, requestsAtStart);

  f.clock.ms += 30_000;
  assert.equal((await f.verifier.verify(await f.sign(keys.rsaNew))).user, "alice");
  assert.equal(f.issuer.jwksRequests, requestsAtStart + 1);
  // The old key was withdrawn, so its tokens no longer verify.
  await assertUnauthenticated(f.verifier.verify(await f.sign(keys.rsa)));
  assert.equal(f.issuer.jwksRequests, requestsAtStart + 1);
});

Deno.test("flood: 200 tokens with random unknown kids within a second cause at most one JWKS fetch", async () => {
  await using f = await Fixture.start();
  const ghost = await generateTestKey("ES256", "ghost");
  const tokens = await Promise.all(
    Array.from({ length: 200 }, () => f.sign(ghost, {}, { kid: crypto.randomUUID() })),
  );

  // Past the cooldown of the initial fetch, so the flood is allowed exactly one refetch.
  f.clock.ms += 31_000;
  const before = f.issuer.jwksRequests;
  const started = performance.now();
  const concurrent = await Promise.allSettled(tokens.slice(0, 100).map((t) => f.verifier.verify(t)));
  for (const token of tokens.slice(100)) await assertUnauthenticated(f.verifier.verify(token));
  const elapsedMs = performance.now() - started;

  assert.ok(concurrent.every((r) => r.status === "rejected" && r.reason.code === Code.Unauthenticated));
  assert.equal(f.issuer.jwksRequests - before, 1, "exactly one JWKS fetch for the whole flood");
  // Generous for a loaded machine, yet far below what a flood that waited on fetches one by one would take.
  assert.ok(elapsedMs < 5_000, `flood took ${elapsedMs} ms`);
  assert.equal(f.logs.filter((l) => l.level === "warn").length, 0);
});

Deno.test("keys are refetched after jwksMaxAgeMs even when every kid is known", async () => {
  await using f = await Fixture.start({ jwksMaxAgeMs: 600_000 });
  const before = f.issuer.jwksRequests;
  f.clock.ms += 600_000;
  assert.equal((await f.verifier.verify(await f.sign(keys.rsa))).user, "alice");
  assert.equal(f.issuer.jwksRequests, before + 1);
  assert.equal((await f.verifier.verify(await f.sign(keys.rsa))).user, "alice");
  assert.equal(f.issuer.jwksRequests, before + 1);
});

Deno.test("issuer down at start: not ready and rejecting, then ready once the issuer comes up", async () => {
  const port = unusedPort();
  const issuerUrl = `http://127.0.0.1:${port}/realms/test`;
  const readinessChanges: Readiness[] = [];
  const logs: LogLine[] = [];
  const verifier = startOidcVerifier({
    issuerUrl,
    clientId: CLIENT_ID,
    backoff: { initialMs: 20, maxMs: 200 },
    requestTimeoutMs: 1_000,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
  });
  verifier.onChange((r) => readinessChanges.push(r));
  const seconds = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    iss: issuerUrl,
    sub: "late",
    aud: CLIENT_ID,
    iat: seconds,
    exp: seconds + 60,
  })
    .setProtectedHeader({ alg: "RS256", kid: keys.rsa.kid })
    .sign(keys.rsa.privateKey);
  let issuer: TestIssuer | undefined;
  try {
    assert.equal(verifier.readiness().ready, false);
    const failures = () => logs.filter((l) => l.msg === "OIDC discovery failed");
    await until(
      "a few failed attempts",
      20_000,
      () => Promise.resolve(failures().length >= 2 ? true : undefined),
    );
    const down = verifier.readiness();
    assert.equal(down.ready, false);
    assert.match(
      down.detail,
      new RegExp(`127\\.0\\.0\\.1:${port}.*failed \\(attempt \\d+, next in \\d+ ms\\)`),
    );
    assert.ok(failures().length >= 2, "retried in the background");
    await assertUnauthenticated(verifier.verify(token));
    assert.match(
      String(logs.findLast((l) => l.msg === "bearer token rejected")?.fields?.reason),
      /not ready/,
    );
    assert.equal(readinessChanges.length, 0, "no change while staying not ready");

    issuer = new TestIssuer(port);
    issuer.published = [keys.rsa];
    const started = performance.now();
    const ready = await waitUntilReady(verifier, 20_000);
    const waitedMs = performance.now() - started;
    // The cap itself, from what the verifier scheduled; the wall clock only with room for a loaded machine.
    const delays = failures().map((l) => Number(l.fields?.delayMs));
    assert.ok(delays.every((ms) => ms <= 200), `retry delays ${delays}; the backoff is capped at 200 ms`);
    assert.ok(waitedMs < 5_000, `ready after ${waitedMs} ms; the backoff is capped at 200 ms`);
    assert.equal(ready.ready, true);
    assert.match(ready.detail, /issuer http:\/\/127\.0\.0\.1/);
    assert.deepEqual(readinessChanges.map((r) => r.ready), [true]);

    assert.equal((await verifier.verify(token)).user, "late", "the same token verifies once ready");
  } finally {
    await verifier.close();
    await issuer?.close();
  }
  assert.deepEqual(readinessChanges.map((r) => r.ready), [true, false], "close reports not ready");
});

Deno.test("an issuer mismatch in discovery keeps the verifier not ready, with the reason", async () => {
  await using issuer = new TestIssuer();
  issuer.published = [keys.rsa];
  issuer.discoveryOverrides = { issuer: `${issuer.url}/` };
  const verifier = startOidcVerifier({
    issuerUrl: issuer.url,
    clientId: CLIENT_ID,
    backoff: { initialMs: 10, maxMs: 20 },
  });
  try {
    while (issuer.discoveryRequests < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(verifier.readiness().ready, false);
    assert.match(verifier.readiness().detail, /names issuer .* expected exactly/);
    const seconds = Math.floor(Date.now() / 1000);
    const token = await issuer.sign(keys.rsa, { sub: "x", aud: CLIENT_ID, iat: seconds, exp: seconds + 60 });
    await assertUnauthenticated(verifier.verify(token));
  } finally {
    await verifier.close();
  }
});

Deno.test("a JWKS that cannot be loaded at start keeps the verifier not ready until it can", async () => {
  await using issuer = new TestIssuer();
  issuer.published = [keys.rsa];
  issuer.jwksStatus = 503;
  const verifier = startOidcVerifier({
    issuerUrl: issuer.url,
    clientId: CLIENT_ID,
    backoff: { initialMs: 10, maxMs: 20 },
  });
  try {
    while (issuer.jwksRequests < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(verifier.readiness().ready, false);
    assert.match(verifier.readiness().detail, /HTTP 503/);
    issuer.jwksStatus = 200;
    assert.equal((await waitUntilReady(verifier, 20_000)).ready, true);
  } finally {
    await verifier.close();
  }
});

Deno.test("close stops background discovery promptly and verify then rejects", async () => {
  const port = unusedPort();
  const verifier = startOidcVerifier({
    issuerUrl: `http://127.0.0.1:${port}/realms/test`,
    clientId: CLIENT_ID,
    backoff: { initialMs: 60_000, maxMs: 60_000 }, // would sleep for a minute if close did not wake it
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const started = performance.now();
  await verifier.close();
  // Far below the minute the backoff would sleep, with room for a loaded machine.
  assert.ok(performance.now() - started < 10_000);
  assert.equal(verifier.readiness().ready, false);
  assert.equal(verifier.readiness().detail, "OIDC verifier closed");
  await assertUnauthenticated(verifier.verify("a.b.c"));
});

Deno.test("onChange returns an unsubscribe function and a throwing listener does not break others", async () => {
  await using issuer = new TestIssuer();
  issuer.published = [keys.rsa];
  const logs: LogLine[] = [];
  const verifier = startOidcVerifier({
    issuerUrl: issuer.url,
    clientId: CLIENT_ID,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
  });
  const seen: boolean[] = [];
  const unsubscribed: boolean[] = [];
  verifier.onChange(() => {
    throw new Error("listener bug");
  });
  verifier.onChange((r) => seen.push(r.ready));
  const unsubscribe = verifier.onChange((r) => unsubscribed.push(r.ready));
  unsubscribe();
  try {
    await waitUntilReady(verifier, 2_000);
  } finally {
    await verifier.close();
  }
  assert.deepEqual(seen, [true, false]);
  assert.deepEqual(unsubscribed, []);
  assert.ok(logs.some((l) => l.level === "error" && l.msg === "OIDC readiness listener threw"));
});
