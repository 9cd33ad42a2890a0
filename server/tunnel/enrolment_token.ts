/**
 * Enrolment tokens: the bearer secret an agent presents to Register the first time, bound to one
 * cluster name and an expiry.
 *
 * Format: `ost1.<base64url(payload JSON)>.<base64url(HMAC-SHA256(key, payload bytes))>`, payload
 * `{v: 1, cluster, iat, exp, nonce}` with times in Unix seconds. The HMAC key is derived from the CA
 * private key, so tokens outlive hub restarts under the same CA and all die when the CA is replaced,
 * without a second secret to store (the price: whoever holds the CA key can mint tokens, which they
 * could anyway, since they can sign agent certificates directly).
 */
import type { Ca } from "../../shared/pki/mod.ts";
import { exportEcPrivateKeySec1Der } from "../../shared/pki/mod.ts";
import { clusterNamePattern } from "../../shared/pki/identity.ts";

export const enrolmentTokenPrefix = "ost1";
export const defaultEnrolmentTokenTtlMs = 7 * 24 * 60 * 60 * 1000;
/** Real tokens are ~200 characters; refusing big inputs early keeps garbage away from the crypto. */
export const maxEnrolmentTokenLength = 2048;
/** A token minted by a hub whose clock runs ahead is still accepted within this margin. */
export const enrolmentTokenClockSkewMs = 5 * 60 * 1000;
export const maxClusterNameLength = 63;

const hkdfInfo = "otterscale enrolment token v1";
const payloadVersion = 1;
const macLength = 32;
const nonceLength = 16;
const base64UrlPattern = /^[A-Za-z0-9_-]+$/;

/** The HMAC key tokens are signed with. Not extractable: it never needs to leave this process. */
export interface EnrolmentTokenKey {
  readonly hmacKey: CryptoKey;
}

/**
 * Why a token was refused. For logs and metrics only: clients are told nothing more than
 * "invalid or expired", so a forger learns nothing about which part was wrong.
 */
export type EnrolmentTokenErrorReason = "malformed" | "bad_signature" | "expired" | "issued_in_future";

export class EnrolmentTokenError extends Error {
  override name = "EnrolmentTokenError";

  constructor(readonly reason: EnrolmentTokenErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** What a valid token vouches for. */
export interface EnrolmentTokenClaims {
  cluster: string;
  /** When the token stops being accepted. */
  exp: Date;
}

export interface MintEnrolmentTokenParams {
  cluster: string;
  /** Lifetime of the token; default 7 days. */
  ttlMs?: number;
  now?: Date;
}

interface TokenPayload {
  v: number;
  cluster: string;
  iat: number;
  exp: number;
  nonce: string;
}

/**
 * Why `cluster` is not an acceptable cluster name (a DNS label, as Register requires), or
 * undefined if it is.
 */
export function clusterNameProblem(cluster: string): string | undefined {
  if (cluster.length === 0) return "must not be empty";
  if (cluster.length > maxClusterNameLength) return `must be at most ${maxClusterNameLength} characters`;
  if (!clusterNamePattern.test(cluster)) return `must match ${clusterNamePattern.source}`;
  return undefined;
}

/** HKDF-SHA256 over the CA private key (SEC1 DER), empty salt, a purpose-specific info string. */
export async function createEnrolmentTokenKey(ca: Ca): Promise<EnrolmentTokenKey> {
  const secret = await exportEcPrivateKeySec1Der(ca.key);
  const ikm = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveKey"]);
  const hmacKey = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode(hkdfInfo) },
    ikm,
    { name: "HMAC", hash: "SHA-256", length: macLength * 8 },
    false,
    ["sign", "verify"],
  );
  return { hmacKey };
}

/** A new token for `cluster`. Throws RangeError for an invalid cluster name or lifetime. */
export async function mintEnrolmentToken(
  key: EnrolmentTokenKey,
  params: MintEnrolmentTokenParams,
): Promise<string> {
  const problem = clusterNameProblem(params.cluster);
  if (problem) {
    throw new RangeError(`enrolment token: invalid cluster ${JSON.stringify(params.cluster)}: ${problem}`);
  }
  const ttlMs = params.ttlMs ?? defaultEnrolmentTokenTtlMs;
  if (!Number.isFinite(ttlMs) || ttlMs < 1000) {
    throw new RangeError(`enrolment token: lifetime ${ttlMs} ms is not at least one second`);
  }
  const iat = Math.floor((params.now ?? new Date()).getTime() / 1000);
  const payload: TokenPayload = {
    v: payloadVersion,
    cluster: params.cluster,
    iat,
    exp: iat + Math.floor(ttlMs / 1000),
    // Makes every token distinct, so two tokens minted in the same second can be told apart.
    nonce: encodeBase64Url(crypto.getRandomValues(new Uint8Array(nonceLength))),
  };
  const payloadBytes = new TextEncoder().encode(JSON.stringify(payload));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key.hmacKey, payloadBytes));
  return `${enrolmentTokenPrefix}.${encodeBase64Url(payloadBytes)}.${encodeBase64Url(mac)}`;
}

/**
 * The claims of a valid token. Throws EnrolmentTokenError otherwise. The signature is checked
 * before the payload is parsed, so unauthenticated JSON is never interpreted.
 */
export async function verifyEnrolmentToken(
  key: EnrolmentTokenKey,
  token: string,
  now: Date = new Date(),
): Promise<EnrolmentTokenClaims> {
  const { payloadBytes, mac } = splitToken(token);
  // WebCrypto's HMAC verify compares in constant time.
  if (!await crypto.subtle.verify("HMAC", key.hmacKey, mac, payloadBytes)) {
    throw new EnrolmentTokenError("bad_signature", "enrolment token: signature does not verify");
  }
  const payload = parsePayload(payloadBytes);
  const nowSeconds = now.getTime() / 1000;
  if (nowSeconds > payload.exp) {
    throw new EnrolmentTokenError(
      "expired",
      `enrolment token for cluster ${payload.cluster} expired at ${isoSeconds(payload.exp)}`,
    );
  }
  if (payload.iat > nowSeconds + enrolmentTokenClockSkewMs / 1000) {
    throw new EnrolmentTokenError(
      "issued_in_future",
      `enrolment token for cluster ${payload.cluster} is issued at ${isoSeconds(payload.iat)}, in the future`,
    );
  }
  return { cluster: payload.cluster, exp: new Date(payload.exp * 1000) };
}

function splitToken(token: string): { payloadBytes: Uint8Array<ArrayBuffer>; mac: Uint8Array<ArrayBuffer> } {
  if (typeof token !== "string" || token.length === 0) throw malformed("is empty");
  if (token.length > maxEnrolmentTokenLength) {
    throw malformed(`is longer than ${maxEnrolmentTokenLength} characters`);
  }
  const parts = token.split(".");
  if (parts.length !== 3) throw malformed(`has ${parts.length} dot-separated parts, expected 3`);
  const [prefix, payloadText, macText] = parts;
  if (prefix !== enrolmentTokenPrefix) throw malformed(`does not start with ${enrolmentTokenPrefix}.`);
  const payloadBytes = decodeBase64Url(payloadText, "payload");
  const mac = decodeBase64Url(macText, "signature");
  if (mac.length !== macLength) throw malformed(`signature is ${mac.length} bytes, expected ${macLength}`);
  return { payloadBytes, mac };
}

function parsePayload(bytes: Uint8Array): TokenPayload {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw malformed("payload is not JSON", error);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed("payload is not a JSON object");
  }
  const payload = value as Partial<TokenPayload>;
  if (payload.v !== payloadVersion) throw malformed(`payload version ${payload.v} is not ${payloadVersion}`);
  if (typeof payload.cluster !== "string" || clusterNameProblem(payload.cluster)) {
    throw malformed("payload cluster is not a valid cluster name");
  }
  if (!Number.isSafeInteger(payload.iat) || !Number.isSafeInteger(payload.exp)) {
    throw malformed("payload iat and exp are not integers");
  }
  if (payload.exp! <= payload.iat!) throw malformed("payload exp is not after iat");
  if (typeof payload.nonce !== "string") throw malformed("payload nonce is missing");
  return payload as TokenPayload;
}

function malformed(why: string, cause?: unknown): EnrolmentTokenError {
  return new EnrolmentTokenError(
    "malformed",
    `enrolment token ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

function isoSeconds(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

function encodeBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Strict unpadded base64url. Re-encoding must give back the input, so each token has exactly one
 * spelling (no variants that differ only in unused trailing bits).
 */
function decodeBase64Url(text: string, what: string): Uint8Array<ArrayBuffer> {
  if (!base64UrlPattern.test(text)) throw malformed(`${what} is not base64url`);
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  let binary: string;
  try {
    binary = atob(base64 + "=".repeat((4 - base64.length % 4) % 4));
  } catch (error) {
    throw malformed(`${what} is not base64url`, error);
  }
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  if (encodeBase64Url(bytes) !== text) throw malformed(`${what} is not canonical base64url`);
  return bytes;
}
