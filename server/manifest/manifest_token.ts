/**
 * Manifest tokens: the last path segment of an agent-manifest download URL, a capability to download
 * the manifest of one cluster for one hour.
 *
 * Format: `osm1.<base64url(payload JSON)>.<base64url(HMAC-SHA256(key, payload bytes))>`, payload
 * `{v: 1, cluster, sub, iat, exp}` (Unix seconds). The payload is signed, not encrypted: whoever holds
 * the URL can read the cluster name and the `sub` of the user who asked for it (kept for the audit log
 * line written at each download). The HMAC key comes from the CA key through HKDF with its own label,
 * so these tokens and enrolment tokens can never stand in for each other.
 */
import { Buffer } from "node:buffer";
import type { Ca } from "../../shared/pki/mod.ts";
import { exportEcPrivateKeySec1Der } from "../../shared/pki/mod.ts";
import { clusterNameProblem, enrolmentTokenClockSkewMs } from "../tunnel/enrolment_token.ts";

export const manifestTokenPrefix = "osm1";
export const manifestTokenTtlMs = 60 * 60 * 1000;
/** Real tokens are ~150 characters plus the user name; longer input is refused before any crypto. */
export const maxManifestTokenLength = 2048;

const hkdfInfo = "otterscale manifest token v1";
const payloadVersion = 1;
const macLength = 32;
const base64UrlPattern = /^[A-Za-z0-9_-]+$/;

export interface ManifestTokenKey {
  readonly hmacKey: CryptoKey;
}

export interface ManifestTokenClaims {
  cluster: string;
  /** The user who asked for the manifest. */
  sub: string;
  exp: Date;
}

interface Payload {
  v: number;
  cluster: string;
  sub: string;
  iat: number;
  exp: number;
}

export class ManifestTokenError extends Error {
  override name = "ManifestTokenError";
}

export async function createManifestTokenKey(ca: Ca): Promise<ManifestTokenKey> {
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

export async function mintManifestToken(
  key: ManifestTokenKey,
  params: { cluster: string; sub: string; ttlMs?: number; now?: Date },
): Promise<string> {
  const problem = clusterNameProblem(params.cluster);
  if (problem) {
    throw new RangeError(`manifest token: invalid cluster ${JSON.stringify(params.cluster)}: ${problem}`);
  }
  if (params.sub === "") throw new RangeError("manifest token: the user must not be empty");
  const iat = Math.floor((params.now ?? new Date()).getTime() / 1000);
  const payload: Payload = {
    v: payloadVersion,
    cluster: params.cluster,
    sub: params.sub,
    iat,
    exp: iat + Math.floor((params.ttlMs ?? manifestTokenTtlMs) / 1000),
  };
  const bytes = new TextEncoder().encode(JSON.stringify(payload));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key.hmacKey, bytes));
  const token = `${manifestTokenPrefix}.${base64Url(bytes)}.${base64Url(mac)}`;
  if (token.length > maxManifestTokenLength) {
    throw new RangeError("manifest token: the user name is too long");
  }
  return token;
}

/** The claims of a valid, unexpired token; ManifestTokenError (with the reason, for logs) otherwise. */
export async function verifyManifestToken(
  key: ManifestTokenKey,
  token: string,
  now: Date = new Date(),
): Promise<ManifestTokenClaims> {
  if (token.length === 0 || token.length > maxManifestTokenLength) throw new ManifestTokenError("bad length");
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== manifestTokenPrefix) throw new ManifestTokenError("malformed");
  const bytes = fromBase64Url(parts[1]);
  const mac = fromBase64Url(parts[2]);
  if (mac.length !== macLength) throw new ManifestTokenError("malformed signature");
  // WebCrypto compares the MAC in constant time; nothing is parsed before it verifies.
  if (!await crypto.subtle.verify("HMAC", key.hmacKey, mac, bytes)) {
    throw new ManifestTokenError("bad signature");
  }
  let payload: Payload;
  try {
    payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ManifestTokenError("payload is not JSON");
  }
  if (
    typeof payload !== "object" || payload === null || payload.v !== payloadVersion ||
    typeof payload.cluster !== "string" || typeof payload.sub !== "string" ||
    !Number.isSafeInteger(payload.iat) || !Number.isSafeInteger(payload.exp)
  ) {
    throw new ManifestTokenError("unexpected payload");
  }
  const nowSeconds = now.getTime() / 1000;
  if (nowSeconds > payload.exp) throw new ManifestTokenError("expired");
  if (payload.iat > nowSeconds + enrolmentTokenClockSkewMs / 1000) {
    throw new ManifestTokenError("issued in the future");
  }
  return { cluster: payload.cluster, sub: payload.sub, exp: new Date(payload.exp * 1000) };
}

function base64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

/** Strict: one spelling per byte string (no padding, no stray trailing bits). */
function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!base64UrlPattern.test(text)) throw new ManifestTokenError("not base64url");
  const bytes = new Uint8Array(Buffer.from(text, "base64url"));
  if (base64Url(bytes) !== text) throw new ManifestTokenError("not canonical base64url");
  return bytes;
}
