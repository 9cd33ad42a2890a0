import { isIP } from "node:net";
import { authorityKeyIdentifier, type Ca, caSigningAlgorithm } from "./ca.ts";
import { otterscaleName, randomSerialNumber, validityWindow } from "./cert_fields.ts";
import { PkiError } from "./errors.ts";
import { exportPkcs8Pem, generateEcKeyPair } from "./keys.ts";
import * as x509 from "./x509.ts";

export const serverCommonName = "otterscale-tunnel";
export const defaultServerCertLifetimeMs = 365 * 24 * 60 * 60 * 1000;

export interface IssueServerCertParams {
  ca: Ca;
  /**
   * Names agents use to reach the tunnel listener: host names and IP literals (IPv6 with or
   * without brackets). Wildcard listen addresses are skipped; nothing is added implicitly.
   */
  hosts: string[];
  /** Lifetime of the certificate; default 365 days. */
  validityMs?: number;
  now?: Date;
}

export interface ServerCertificate {
  cert: x509.X509Certificate;
  certPem: string;
  /** PKCS#8 `PRIVATE KEY` PEM for node:tls `key`. */
  keyPem: string;
}

/** Subject alternative names for a list of hosts, IP literals as IP SANs and the rest as DNS SANs. */
export interface ServerNames {
  ips: string[];
  dnsNames: string[];
}

// A DNS SAN: labels of letters, digits, '-' and '_' (seen in internal names), optional leading
// wildcard label.
const dnsNamePattern =
  /^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

/** Sorts hosts into IP and DNS SANs; throws PkiError(invalid_argument) on a malformed or empty list. */
export function serverNames(hosts: string[]): ServerNames {
  const ips = new Set<string>();
  const dnsNames = new Set<string>();
  for (const raw of hosts) {
    const host = raw.trim().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
    if (host === "" || host === "0.0.0.0" || host === "::") continue;
    if (isIP(host) !== 0) {
      ips.add(host);
    } else if (host.length <= 253 && dnsNamePattern.test(host)) {
      dnsNames.add(host.toLowerCase());
    } else {
      throw new PkiError(
        "invalid_argument",
        `server certificate host ${JSON.stringify(raw)} is not an IP or DNS name`,
      );
    }
  }
  if (ips.size === 0 && dnsNames.size === 0) {
    throw new PkiError(
      "invalid_argument",
      `server certificate needs at least one usable host name, got ${JSON.stringify(hosts)}`,
    );
  }
  return { ips: [...ips], dnsNames: [...dnsNames] };
}

/**
 * A fresh key and server certificate for the tunnel listener, signed by the CA. Called at every
 * start so the key only ever lives in memory.
 */
export async function issueServerCert(params: IssueServerCertParams): Promise<ServerCertificate> {
  const names = serverNames(params.hosts);
  const keys = await generateEcKeyPair("P-256");
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: otterscaleName(serverCommonName),
    issuer: params.ca.cert.subjectName,
    ...validityWindow(params.now ?? new Date(), params.validityMs ?? defaultServerCertLifetimeMs),
    publicKey: keys.publicKey,
    signingKey: params.ca.key,
    signingAlgorithm: caSigningAlgorithm(params.ca),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...names.ips.map((value) => ({ type: "ip" as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await authorityKeyIdentifier(params.ca),
    ],
  });
  return { cert, certPem: cert.toString("pem"), keyPem: await exportPkcs8Pem(keys.privateKey) };
}
