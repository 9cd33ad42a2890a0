import { otterscaleName, randomSerialNumber, validityWindow } from "./cert_fields.ts";
import { curveOfKey, type EcCurve, ecdsaSigningAlgorithm, generateEcKeyPair } from "./keys.ts";
import * as x509 from "./x509.ts";

/** The hub's certificate authority: signs agent client certificates and the tunnel server certificate. */
export interface Ca {
  cert: x509.X509Certificate;
  /** The CA private key (ECDSA, extractable so it can be written out and used for key derivation). */
  key: CryptoKey;
  certPem: string;
}

export const caCommonName = "otterscale-ca";
export const caLifetimeMs = 3650 * 24 * 60 * 60 * 1000;

export interface CreateCaOptions {
  curve?: EcCurve;
  now?: Date;
}

/**
 * A new self-signed CA. pathLen 0: the CA signs only end-entity certificates, so a leaked agent or
 * server key can never be used to mint further certificates.
 */
export async function createCa(options: CreateCaOptions = {}): Promise<Ca> {
  const curve = options.curve ?? "P-256";
  const keys = await generateEcKeyPair(curve);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: otterscaleName(caCommonName),
    keys,
    serialNumber: randomSerialNumber(),
    ...validityWindow(options.now ?? new Date(), caLifetimeMs),
    signingAlgorithm: ecdsaSigningAlgorithm(curve),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey, certPem: cert.toString("pem") };
}

/** Why `cert` cannot serve as our CA at time `now`, or undefined if it can. */
export function caCertificateProblem(cert: x509.X509Certificate, now: Date): string | undefined {
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) return "certificate is not a CA (BasicConstraints CA:TRUE missing)";
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  if (keyUsage && !(keyUsage.usages & x509.KeyUsageFlags.keyCertSign)) {
    return "certificate's KeyUsage does not allow certificate signing";
  }
  if (cert.notAfter.getTime() <= now.getTime()) {
    return `CA certificate expired at ${cert.notAfter.toISOString()}`;
  }
  const algorithm = cert.publicKey.algorithm as Partial<EcKeyAlgorithm>;
  if (algorithm.name !== "ECDSA" || (algorithm.namedCurve !== "P-256" && algorithm.namedCurve !== "P-384")) {
    return `CA key type ${algorithm.name} ${
      algorithm.namedCurve ?? ""
    } is not supported (ECDSA P-256 or P-384)`;
  }
  return undefined;
}

/** Signing algorithm for certificates signed by `ca` (hash follows the CA curve). */
export function caSigningAlgorithm(ca: Ca): EcdsaParams {
  return ecdsaSigningAlgorithm(curveOfKey(ca.key));
}

/** AKI for certificates issued by `ca`: the CA's own SKI when present, so chains link by key id. */
export async function authorityKeyIdentifier(ca: Ca): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
  return await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey);
}
