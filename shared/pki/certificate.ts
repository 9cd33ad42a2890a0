import type { Bytes } from "./der.ts";
import { decodeSinglePemBlock } from "./pem.ts";
import * as x509 from "./x509.ts";

export const certificatePemType = "CERTIFICATE";

/** A certificate given as PEM text, DER bytes, or an already parsed object. */
export type CertificateInput = string | Uint8Array | x509.X509Certificate;

/** Parses a single certificate; `what` names the input in error messages. */
export function parseCertificate(input: CertificateInput, what = "certificate"): x509.X509Certificate {
  if (input instanceof x509.X509Certificate) return input;
  let der: Bytes;
  if (typeof input === "string") {
    const block = decodeSinglePemBlock(input, what);
    if (block.type !== certificatePemType) {
      throw new Error(`${what}: PEM type is ${block.type}, not CERTIFICATE`);
    }
    der = block.der;
  } else {
    der = new Uint8Array(input); // a copy: node Buffers may share a larger pooled ArrayBuffer
  }
  try {
    return new x509.X509Certificate(der);
  } catch (error) {
    throw new Error(`${what}: not a valid X.509 certificate: ${errorMessage(error)}`, { cause: error });
  }
}

/** When the certificate stops being valid (NotAfter). */
export function certificateExpiry(input: CertificateInput): Date {
  return parseCertificate(input).notAfter;
}

/** SHA-256 over the certificate DER, lowercase hex without separators. */
export async function certificateFingerprint(input: CertificateInput): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", parseCertificate(input).rawData);
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
