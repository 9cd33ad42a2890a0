import assert from "node:assert/strict";
import { createCa, exportEcPrivateKeySec1Der, loadOrCreateCa } from "../../shared/pki/mod.ts";
import { opensslOk, withTempDir } from "../../shared/pki/test_helpers.ts";
import {
  createEnrolmentTokenKey,
  defaultEnrolmentTokenTtlMs,
  EnrolmentTokenError,
  type EnrolmentTokenErrorReason,
  type EnrolmentTokenKey,
  maxEnrolmentTokenLength,
  mintEnrolmentToken,
  verifyEnrolmentToken,
} from "./enrolment_token.ts";

const now = new Date("2031-05-06T07:08:09.500Z");
const nowSeconds = Math.floor(now.getTime() / 1000);
const minute = 60_000;

async function newKey(): Promise<EnrolmentTokenKey> {
  return await createEnrolmentTokenKey(await createCa());
}

async function assertRefused(
  promise: Promise<unknown>,
  reason: EnrolmentTokenErrorReason,
  fragment: string,
): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof EnrolmentTokenError,
    `expected an EnrolmentTokenError (${reason}), got ${caught}`,
  );
  assert.equal(caught.reason, reason, caught.message);
  assert.ok(caught.message.includes(fragment), `"${caught.message}" does not include "${fragment}"`);
}

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64 + "=".repeat((4 - base64.length % 4) % 4)), (c) => c.charCodeAt(0));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A token over an arbitrary payload, correctly signed: tests what happens after the MAC check. */
async function signedToken(key: EnrolmentTokenKey, payload: string): Promise<string> {
  const bytes = new TextEncoder().encode(payload);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key.hmacKey, bytes));
  return `ost1.${base64Url(bytes)}.${base64Url(mac)}`;
}

Deno.test("a minted token verifies and yields its cluster and expiry", async () => {
  const key = await newKey();
  const token = await mintEnrolmentToken(key, { cluster: "cluster-a", now });
  const claims = await verifyEnrolmentToken(key, token, now);
  assert.equal(claims.cluster, "cluster-a");
  assert.equal(claims.exp.getTime(), (nowSeconds * 1000) + defaultEnrolmentTokenTtlMs);

  const short = await mintEnrolmentToken(key, { cluster: "cluster-a", ttlMs: 10 * minute, now });
  assert.equal((await verifyEnrolmentToken(key, short, now)).exp.getTime(), nowSeconds * 1000 + 10 * minute);
});

Deno.test("a token has the ost1 format with a readable payload and a fresh nonce", async () => {
  const key = await newKey();
  const token = await mintEnrolmentToken(key, { cluster: "cluster-a", ttlMs: 3_600_000, now });
  const [prefix, payloadText, macText] = token.split(".");
  assert.equal(prefix, "ost1");
  assert.match(payloadText, /^[A-Za-z0-9_-]+$/);
  assert.equal(fromBase64Url(macText).length, 32);
  const payload = JSON.parse(new TextDecoder().decode(fromBase64Url(payloadText)));
  assert.deepEqual(Object.keys(payload), ["v", "cluster", "iat", "exp", "nonce"]);
  assert.equal(payload.v, 1);
  assert.equal(payload.cluster, "cluster-a");
  assert.equal(payload.iat, nowSeconds);
  assert.equal(payload.exp, nowSeconds + 3600);
  assert.equal(fromBase64Url(payload.nonce).length, 16);

  const again = await mintEnrolmentToken(key, { cluster: "cluster-a", ttlMs: 3_600_000, now });
  assert.notEqual(again, token);
});

Deno.test("the token MAC is HMAC-SHA256 under HKDF-SHA256 of the CA key, as openssl computes it", async () => {
  const ca = await createCa();
  const key = await createEnrolmentTokenKey(ca);
  const token = await mintEnrolmentToken(key, { cluster: "cluster-a", now });
  const [, payloadText, macText] = token.split(".");
  const caKeyHex = hex(await exportEcPrivateKeySec1Der(ca.key));
  // No salt given to openssl means RFC 5869's all-zero salt, which HMAC treats like an empty one.
  const derived = (await opensslOk([
    "kdf",
    "-keylen",
    "32",
    "-kdfopt",
    "digest:SHA256",
    "-kdfopt",
    `hexkey:${caKeyHex}`,
    "-kdfopt",
    "info:otterscale enrolment token v1",
    "HKDF",
  ])).trim().replaceAll(":", "");
  const payloadJson = new TextDecoder().decode(fromBase64Url(payloadText));
  const mac = await opensslOk(
    ["mac", "-digest", "SHA256", "-macopt", `hexkey:${derived}`, "HMAC"],
    payloadJson,
  );
  assert.equal(mac.trim().toLowerCase(), hex(fromBase64Url(macText)));
});

Deno.test("a token survives a hub restart under the same CA and dies with a new CA", async () => {
  await withTempDir(async (dir) => {
    const first = await loadOrCreateCa(dir);
    const token = await mintEnrolmentToken(await createEnrolmentTokenKey(first), {
      cluster: "cluster-a",
      now,
    });
    const reloaded = await loadOrCreateCa(dir);
    assert.equal(reloaded.created, false);
    const claims = await verifyEnrolmentToken(await createEnrolmentTokenKey(reloaded), token, now);
    assert.equal(claims.cluster, "cluster-a");

    await assertRefused(verifyEnrolmentToken(await newKey(), token, now), "bad_signature", "signature");
  });
});

Deno.test("a tampered payload or signature is refused", async () => {
  const key = await newKey();
  const token = await mintEnrolmentToken(key, { cluster: "cluster-a", now });
  const [prefix, payloadText, macText] = token.split(".");

  const payload = JSON.parse(new TextDecoder().decode(fromBase64Url(payloadText)));
  const forged = base64Url(new TextEncoder().encode(JSON.stringify({ ...payload, cluster: "cluster-b" })));
  await assertRefused(
    verifyEnrolmentToken(key, `${prefix}.${forged}.${macText}`, now),
    "bad_signature",
    "signature",
  );
  const longer = base64Url(new TextEncoder().encode(JSON.stringify({ ...payload, exp: payload.exp + 1 })));
  await assertRefused(verifyEnrolmentToken(key, `${prefix}.${longer}.${macText}`, now), "bad_signature", "");

  const mac = fromBase64Url(macText);
  mac[0] ^= 1;
  await assertRefused(
    verifyEnrolmentToken(key, `${prefix}.${payloadText}.${base64Url(mac)}`, now),
    "bad_signature",
    "signature",
  );
});

Deno.test("a token is valid up to its expiry second and refused after it", async () => {
  const key = await newKey();
  const token = await mintEnrolmentToken(key, { cluster: "cluster-a", ttlMs: 10 * minute, now });
  const exp = nowSeconds * 1000 + 10 * minute;
  assert.equal((await verifyEnrolmentToken(key, token, new Date(exp))).cluster, "cluster-a");
  await assertRefused(verifyEnrolmentToken(key, token, new Date(exp + 1000)), "expired", "expired at");
});

Deno.test("a token issued more than five minutes in the future is refused", async () => {
  const key = await newKey();
  const ahead = await mintEnrolmentToken(key, {
    cluster: "cluster-a",
    now: new Date(now.getTime() + 6 * minute),
  });
  await assertRefused(verifyEnrolmentToken(key, ahead, now), "issued_in_future", "in the future");
  const slightlyAhead = await mintEnrolmentToken(key, {
    cluster: "cluster-a",
    now: new Date(now.getTime() + 4 * minute),
  });
  assert.equal((await verifyEnrolmentToken(key, slightlyAhead, now)).cluster, "cluster-a");
});

Deno.test("an overlong token is refused before any crypto", async () => {
  const key = await newKey();
  const token = await mintEnrolmentToken(key, { cluster: "cluster-a", now });
  const padded = token + "A".repeat(maxEnrolmentTokenLength + 1 - token.length);
  assert.equal(padded.length, maxEnrolmentTokenLength + 1);
  await assertRefused(verifyEnrolmentToken(key, padded, now), "malformed", "longer than 2048");
});

Deno.test("malformed tokens are refused with reason malformed", async () => {
  const key = await newKey();
  const token = await mintEnrolmentToken(key, { cluster: "cluster-a", now });
  const [, payloadText, macText] = token.split(".");
  const cases: [string, string][] = [
    ["", "is empty"],
    ["ost1", "1 dot-separated parts"],
    [`ost1.${payloadText}`, "2 dot-separated parts"],
    [`${token}.extra`, "4 dot-separated parts"],
    [`ost2.${payloadText}.${macText}`, "does not start with ost1."],
    [`ost1..${macText}`, "payload is not base64url"],
    [`ost1.${payloadText}=.${macText}`, "payload is not base64url"],
    [`ost1.${payloadText}.${macText}+`, "signature is not base64url"],
    [`ost1.${payloadText}.A`, "signature is not base64url"],
    [`ost1.${payloadText}.${base64Url(fromBase64Url(macText).subarray(0, 31))}`, "signature is 31 bytes"],
    // 43 characters carry 258 bits; the last 2 must be zero in the canonical spelling.
    [`ost1.${payloadText}.${macText.slice(0, -1)}${flipLowBits(macText.at(-1)!)}`, "not canonical"],
  ];
  for (const [input, fragment] of cases) {
    await assertRefused(verifyEnrolmentToken(key, input, now), "malformed", fragment);
  }
});

function flipLowBits(char: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  return alphabet[alphabet.indexOf(char) ^ 1];
}

Deno.test("a correctly signed but malformed payload is refused with reason malformed", async () => {
  const key = await newKey();
  const good = { v: 1, cluster: "cluster-a", iat: nowSeconds, exp: nowSeconds + 60, nonce: "AAAA" };
  const cases: [string, string][] = [
    ["not json", "payload is not JSON"],
    ["[1]", "not a JSON object"],
    ["null", "not a JSON object"],
    [JSON.stringify({ ...good, v: 2 }), "version 2"],
    [JSON.stringify({ ...good, cluster: "Cluster_A" }), "not a valid cluster name"],
    [JSON.stringify({ ...good, cluster: 7 }), "not a valid cluster name"],
    [JSON.stringify({ ...good, iat: "x" }), "not integers"],
    [JSON.stringify({ ...good, exp: 1.5 }), "not integers"],
    [JSON.stringify({ ...good, exp: good.iat }), "exp is not after iat"],
    [JSON.stringify({ ...good, nonce: undefined }), "nonce is missing"],
  ];
  for (const [payload, fragment] of cases) {
    await assertRefused(
      verifyEnrolmentToken(key, await signedToken(key, payload), now),
      "malformed",
      fragment,
    );
  }
  // The helper itself produces acceptable tokens, so the refusals above are about the payloads.
  assert.equal(
    (await verifyEnrolmentToken(key, await signedToken(key, JSON.stringify(good)), now)).cluster,
    "cluster-a",
  );
});

Deno.test("minting refuses an invalid cluster name or lifetime", async () => {
  const key = await newKey();
  for (const cluster of ["", "Cluster", "-a", "a-", "a_b", "a".repeat(64)]) {
    const problem = cluster === ""
      ? "must not be empty"
      : cluster.length > 63
      ? "must be at most 63"
      : "must match";
    await assert.rejects(mintEnrolmentToken(key, { cluster, now }), (error: Error) => {
      assert.ok(error instanceof RangeError);
      assert.ok(
        error.message.startsWith(`enrolment token: invalid cluster ${JSON.stringify(cluster)}: ${problem}`),
      );
      return true;
    });
  }
  assert.ok(await mintEnrolmentToken(key, { cluster: "a".repeat(63), now }));
  for (const ttlMs of [0, -1, 999, Number.NaN, Number.POSITIVE_INFINITY]) {
    await assert.rejects(mintEnrolmentToken(key, { cluster: "a", ttlMs, now }), (error: Error) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /lifetime .* is not at least one second/);
      return true;
    });
  }
});
