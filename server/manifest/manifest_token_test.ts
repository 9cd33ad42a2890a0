import assert from "node:assert/strict";
import { createCa } from "../../shared/pki/mod.ts";
import {
  createEnrolmentTokenKey,
  mintEnrolmentToken,
  verifyEnrolmentToken,
} from "../tunnel/enrolment_token.ts";
import {
  createManifestTokenKey,
  ManifestTokenError,
  manifestTokenTtlMs,
  mintManifestToken,
  verifyManifestToken,
} from "./manifest_token.ts";

const now = new Date("2031-05-06T07:08:09.000Z");
const minute = 60_000;

async function refused(promise: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error) => {
    assert.ok(error instanceof ManifestTokenError, `not a ManifestTokenError: ${error}`);
    assert.match(error.message, reason);
    return true;
  });
}

async function signed(key: { hmacKey: CryptoKey }, payload: string): Promise<string> {
  const bytes = new TextEncoder().encode(payload);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key.hmacKey, bytes));
  const b64 = (b: Uint8Array) =>
    btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `osm1.${b64(bytes)}.${b64(mac)}`;
}

Deno.test("a minted token verifies to its cluster and user for one hour", async () => {
  const key = await createManifestTokenKey(await createCa());
  const token = await mintManifestToken(key, { cluster: "edge-1", sub: "alice-uuid", now });
  assert.match(token, /^osm1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const claims = await verifyManifestToken(key, token, new Date(now.getTime() + 59 * minute));
  assert.deepEqual(claims, {
    cluster: "edge-1",
    sub: "alice-uuid",
    exp: new Date(now.getTime() + manifestTokenTtlMs),
  });
  await refused(verifyManifestToken(key, token, new Date(now.getTime() + 61 * minute)), /expired/);
});

Deno.test("the payload is readable (documented), but any change breaks the signature", async () => {
  const key = await createManifestTokenKey(await createCa());
  const token = await mintManifestToken(key, { cluster: "edge-1", sub: "alice", now });
  const [prefix, payload, mac] = token.split(".");
  const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
  assert.equal(claims.cluster, "edge-1");
  assert.equal(claims.sub, "alice");
  const forged = btoa(JSON.stringify({ ...claims, cluster: "other" })).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
  await refused(verifyManifestToken(key, `${prefix}.${forged}.${mac}`, now), /bad signature/);
  const flipped = mac.slice(0, -1) + (mac.endsWith("A") ? "Q" : "A");
  await refused(verifyManifestToken(key, `${prefix}.${payload}.${flipped}`, now), /signature|canonical/);
});

Deno.test("another CA's key, or an enrolment token, does not pass; nor does a manifest token enrol", async () => {
  const ca = await createCa();
  const key = await createManifestTokenKey(ca);
  const otherKey = await createManifestTokenKey(await createCa());
  const token = await mintManifestToken(key, { cluster: "edge-1", sub: "alice", now });
  await refused(verifyManifestToken(otherKey, token, now), /bad signature/);

  const enrolmentKey = await createEnrolmentTokenKey(ca);
  const enrolment = await mintEnrolmentToken(enrolmentKey, { cluster: "edge-1", now });
  await refused(verifyManifestToken(key, enrolment, now), /malformed/);
  // The same payload signed with the same CA's enrolment key: the HKDF labels differ, so it is refused.
  const payload = new TextDecoder().decode(Uint8Array.from(
    atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")),
    (c) => c.charCodeAt(0),
  ));
  await refused(verifyManifestToken(key, await signed(enrolmentKey, payload), now), /bad signature/);
  await assert.rejects(verifyEnrolmentToken(enrolmentKey, token.replace(/^osm1/, "ost1"), now));
});

Deno.test("malformed tokens are refused before any parsing", async () => {
  const key = await createManifestTokenKey(await createCa());
  for (
    const token of [
      "",
      "osm1",
      "osm1.a",
      "osm1.a.b.c",
      "xxx1.YQ.YQ",
      "osm1.a+b.c",
      "osm1.YQ==.YQ",
      "x".repeat(3000),
    ]
  ) {
    await refused(verifyManifestToken(key, token, now), /./);
  }
  await refused(verifyManifestToken(key, "osm1.YR.AAAA", now), /canonical|signature/);
});

Deno.test("a correctly signed but odd payload is refused", async () => {
  const key = await createManifestTokenKey(await createCa());
  const iat = Math.floor(now.getTime() / 1000);
  await refused(verifyManifestToken(key, await signed(key, "not json"), now), /not JSON/);
  await refused(verifyManifestToken(key, await signed(key, "null"), now), /unexpected payload/);
  await refused(
    verifyManifestToken(
      key,
      await signed(key, JSON.stringify({ v: 2, cluster: "a", sub: "b", iat, exp: iat + 60 })),
      now,
    ),
    /unexpected payload/,
  );
  await refused(
    verifyManifestToken(
      key,
      await signed(key, JSON.stringify({ v: 1, cluster: "a", sub: "b", iat: iat + 3600, exp: iat + 7200 })),
      now,
    ),
    /future/,
  );
});

Deno.test("minting refuses an invalid cluster or an empty user", async () => {
  const key = await createManifestTokenKey(await createCa());
  await assert.rejects(mintManifestToken(key, { cluster: "Bad_Name", sub: "alice" }), RangeError);
  await assert.rejects(mintManifestToken(key, { cluster: "ok", sub: "" }), RangeError);
});
