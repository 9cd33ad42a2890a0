import { type Bytes, bytesEqual, DerTag, encodeDer, readDerChildren, readDerExactly } from "./der.ts";
import { decodeSinglePemBlock, encodePem } from "./pem.ts";

/**
 * Curves we create and accept for our own keys. P-256 is the default everywhere: it is what the
 * reference system uses, every TLS stack (rustls/webpki, Go, OpenSSL) supports it, and it is fast.
 * P-384 is offered for operators whose policy demands it.
 */
export type EcCurve = "P-256" | "P-384";

interface CurveInfo {
  /** Content bytes of the named-curve OBJECT IDENTIFIER. */
  oid: Bytes;
  hash: "SHA-256" | "SHA-384";
}

const curves: Record<EcCurve, CurveInfo> = {
  // 1.2.840.10045.3.1.7 (prime256v1)
  "P-256": {
    oid: new Uint8Array([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
    hash: "SHA-256",
  },
  // 1.3.132.0.34 (secp384r1)
  "P-384": { oid: new Uint8Array([0x2b, 0x81, 0x04, 0x00, 0x22]), hash: "SHA-384" },
};

// 1.2.840.10045.2.1 (id-ecPublicKey)
const ecPublicKeyOid = new Uint8Array([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);

export const sec1PemType = "EC PRIVATE KEY";
export const pkcs8PemType = "PRIVATE KEY";

export function isEcCurve(value: unknown): value is EcCurve {
  return value === "P-256" || value === "P-384";
}

/** ECDSA parameters for signing with a key on `curve` (hash size matched to the curve). */
export function ecdsaSigningAlgorithm(curve: EcCurve): EcdsaParams {
  return { name: "ECDSA", hash: curves[curve].hash };
}

/** A new extractable ECDSA key pair; extractable because node:tls needs the key as PEM. */
export function generateEcKeyPair(curve: EcCurve = "P-256"): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: curve }, true, ["sign", "verify"]);
}

export function curveOfKey(key: CryptoKey): EcCurve {
  const algorithm = key.algorithm as Partial<EcKeyAlgorithm>;
  if (algorithm.name !== "ECDSA" || !isEcCurve(algorithm.namedCurve)) {
    throw new Error(
      `expected an ECDSA P-256 or P-384 key, got ${algorithm.name} ${algorithm.namedCurve ?? ""}`,
    );
  }
  return algorithm.namedCurve;
}

/** PKCS#8 `PRIVATE KEY` PEM, the form node:tls and most tools read. */
export async function exportPkcs8Pem(privateKey: CryptoKey): Promise<string> {
  return encodePem(pkcs8PemType, new Uint8Array(await crypto.subtle.exportKey("pkcs8", privateKey)));
}

/**
 * SEC1 `ECPrivateKey` DER laid out exactly as Go's x509.MarshalECPrivateKey does (version 1,
 * fixed-width scalar, named curve, uncompressed public point), so both implementations derive
 * the same bytes from one CA key.
 */
export async function exportEcPrivateKeySec1Der(privateKey: CryptoKey): Promise<Bytes> {
  const curve = curveOfKey(privateKey);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  if (!jwk.d || !jwk.x || !jwk.y) throw new Error("EC private key export lacks d, x or y");
  const publicPoint = new Uint8Array([0x04, ...decodeBase64Url(jwk.x), ...decodeBase64Url(jwk.y)]);
  return encodeDer(
    DerTag.sequence,
    encodeDer(DerTag.integer, new Uint8Array([1])),
    encodeDer(DerTag.octetString, decodeBase64Url(jwk.d)),
    encodeDer(DerTag.contextExplicit0, encodeDer(DerTag.objectIdentifier, curves[curve].oid)),
    encodeDer(DerTag.contextExplicit1, encodeDer(DerTag.bitString, new Uint8Array([0]), publicPoint)),
  );
}

export async function exportEcPrivateKeySec1Pem(privateKey: CryptoKey): Promise<string> {
  return encodePem(sec1PemType, await exportEcPrivateKeySec1Der(privateKey));
}

/**
 * Imports an EC private key from PEM, either SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
 * The key is extractable so it can be re-exported (SEC1 for token derivation, PKCS#8 for TLS).
 */
export async function importEcPrivateKeyPem(pem: string): Promise<CryptoKey> {
  const block = decodeSinglePemBlock(pem, "private key");
  if (block.type === sec1PemType) return await importPkcs8(sec1ToPkcs8(block.der));
  if (block.type === pkcs8PemType) return await importPkcs8(block.der);
  throw new Error(`private key: PEM type ${block.type} is not ${sec1PemType} or ${pkcs8PemType}`);
}

/** An EC public key as curve plus base64url coordinates (the JWK fields), easy to compare. */
export interface EcPublicPoint {
  curve: EcCurve;
  x: string;
  y: string;
}

/** The public point of an EC key; works for private keys too. */
export async function ecPublicPoint(key: CryptoKey): Promise<EcPublicPoint> {
  const curve = curveOfKey(key);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  if (!jwk.x || !jwk.y) throw new Error("EC key export lacks the public point");
  return { curve, x: jwk.x, y: jwk.y };
}

function sec1ToPkcs8(sec1: Bytes): Bytes {
  const fields = readDerChildren(readDerExactly(sec1, DerTag.sequence).value);
  if (fields.length < 2 || fields[0].tag !== DerTag.integer || fields[1].tag !== DerTag.octetString) {
    throw new Error("SEC1 EC private key: expected version and private key fields");
  }
  if (!bytesEqual(fields[0].value, new Uint8Array([1]))) {
    throw new Error("SEC1 EC private key: version is not 1");
  }
  const parameters = fields.find((field) => field.tag === DerTag.contextExplicit0);
  if (!parameters) throw new Error("SEC1 EC private key: named curve parameter is missing");
  const curve = curveFromOid(readDerExactly(parameters.value, DerTag.objectIdentifier).value);
  // A PKCS#8 wrapper names the curve in its algorithm identifier; the inner SEC1 structure is
  // carried unchanged, which WebCrypto accepts.
  return encodeDer(
    DerTag.sequence,
    encodeDer(DerTag.integer, new Uint8Array([0])),
    ecAlgorithmIdentifier(curve),
    encodeDer(DerTag.octetString, sec1),
  );
}

async function importPkcs8(pkcs8: Bytes): Promise<CryptoKey> {
  const curve = curveOfPkcs8(pkcs8);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: curve }, true, [
    "sign",
  ]);
  // Deno decodes the key lazily: a scalar that is out of range or disagrees with the embedded
  // public point only fails on first use. Fail here instead, where the caller knows which file it was.
  try {
    await crypto.subtle.exportKey("jwk", key);
  } catch (error) {
    throw new Error(`EC private key is damaged: ${error instanceof Error ? error.message : error}`, {
      cause: error,
    });
  }
  return key;
}

function curveOfPkcs8(pkcs8: Bytes): EcCurve {
  const fields = readDerChildren(readDerExactly(pkcs8, DerTag.sequence).value);
  const algorithm = fields[1];
  if (!algorithm || algorithm.tag !== DerTag.sequence) {
    throw new Error("PKCS#8 private key: algorithm identifier is missing");
  }
  const [oid, parameters] = readDerChildren(algorithm.value);
  if (oid?.tag !== DerTag.objectIdentifier || !bytesEqual(oid.value, ecPublicKeyOid)) {
    throw new Error("PKCS#8 private key: not an EC key");
  }
  if (parameters?.tag !== DerTag.objectIdentifier) {
    throw new Error("PKCS#8 private key: named curve is missing");
  }
  return curveFromOid(parameters.value);
}

function ecAlgorithmIdentifier(curve: EcCurve): Bytes {
  return encodeDer(
    DerTag.sequence,
    encodeDer(DerTag.objectIdentifier, ecPublicKeyOid),
    encodeDer(DerTag.objectIdentifier, curves[curve].oid),
  );
}

function curveFromOid(oid: Bytes): EcCurve {
  for (const [name, info] of Object.entries(curves)) {
    if (bytesEqual(info.oid, oid)) return name as EcCurve;
  }
  throw new Error("EC private key: unsupported curve (only P-256 and P-384)");
}

function decodeBase64Url(text: string): Bytes {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(
    atob(base64 + "=".repeat((4 - base64.length % 4) % 4)),
    (char) => char.charCodeAt(0),
  );
}
