/** Tokens a hostile or confused client might send, built for one issuer and audience. */
import { SignJWT } from "jose";
import { generateTestKey, type TestIssuer, type TestKey } from "../../server/auth/test_issuer.ts";

export const clientId = "otterscale-server";

export function claimsFor(user: string, groups: string[], lifetimeSeconds = 300) {
  const now = Math.floor(Date.now() / 1000);
  return { sub: user, aud: clientId, groups, iat: now, exp: now + lifetimeSeconds };
}

function base64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** An unsigned token (`alg: none`) with otherwise valid claims. */
export function unsignedToken(issuerUrl: string, user: string): string {
  return `${base64url({ alg: "none", typ: "JWT" })}.${
    base64url({ iss: issuerUrl, ...claimsFor(user, []) })
  }.`;
}

/** The same token with one signature character changed. */
export function tamperedSignature(token: string): string {
  const [header, payload, signature] = token.split(".");
  const flipped = signature[5] === "A" ? "B" : "A";
  return `${header}.${payload}.${signature.slice(0, 5)}${flipped}${signature.slice(6)}`;
}

export interface BadTokens {
  expired: string;
  notYetValid: string;
  otherAudience: string;
  otherIssuer: string;
  unsigned: string;
  badSignature: string;
  unknownKeyId: string;
  hmacSigned: string;
}

export async function badTokens(
  issuer: TestIssuer,
  key: TestKey,
  otherIssuer: TestIssuer,
): Promise<BadTokens> {
  const now = Math.floor(Date.now() / 1000);
  const valid = await issuer.sign(key, claimsFor("mallory", []));
  const stranger = await generateTestKey("ES256", `unknown-${crypto.randomUUID()}`);
  const otherKey = await generateTestKey("ES256", "other");
  return {
    expired: await issuer.sign(key, { ...claimsFor("mallory", []), iat: now - 600, exp: now - 300 }),
    notYetValid: await issuer.sign(key, { ...claimsFor("mallory", []), nbf: now + 600 }),
    otherAudience: await issuer.sign(key, { ...claimsFor("mallory", []), aud: "some-other-client" }),
    otherIssuer: await otherIssuer.sign(otherKey, claimsFor("mallory", [])),
    unsigned: unsignedToken(issuer.url, "mallory"),
    badSignature: tamperedSignature(valid),
    unknownKeyId: await issuer.sign(stranger, claimsFor("mallory", [])),
    hmacSigned: await new SignJWT({ iss: issuer.url, ...claimsFor("mallory", []) })
      .setProtectedHeader({ alg: "HS256", kid: key.kid })
      .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk))),
  };
}

/** A token signed by a key the issuer has never published, under a random key id. */
export async function randomKidToken(issuer: TestIssuer): Promise<string> {
  const stranger = await generateTestKey("ES256", crypto.randomUUID());
  return issuer.sign(stranger, claimsFor("flood", []));
}
