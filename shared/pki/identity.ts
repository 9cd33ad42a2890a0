import { parseCertificate } from "./certificate.ts";
import { PkiError } from "./errors.ts";
import * as x509 from "./x509.ts";

/** Who an agent certificate speaks for. The hub, not the agent, decides both parts at enrolment. */
export interface AgentIdentity {
  cluster: string;
  agentId: string;
}

/** Cluster names as the Register RPC accepts them (a DNS label). */
export const clusterNamePattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Agent ids are host (pod) names: at most 63 characters, which also keeps them within the
 * 64-character X.509 limit for a CN. No `/`, so the id cannot break out of its URI path segment.
 */
export const agentIdPattern = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

const spiffePrefix = "spiffe://otterscale/cluster/";
const subjectAltNameOid = "2.5.29.17";
const agentUriPattern = /^spiffe:\/\/otterscale\/cluster\/([^/]+)\/agent\/([^/]+)$/;

/** Throws PkiError(invalid_argument) unless both parts are well-formed. */
export function assertValidAgentIdentity(identity: AgentIdentity): void {
  if (!clusterNamePattern.test(identity.cluster)) {
    throw new PkiError(
      "invalid_argument",
      `invalid cluster ${JSON.stringify(identity.cluster)}: must match ${clusterNamePattern.source}`,
    );
  }
  if (!agentIdPattern.test(identity.agentId)) {
    throw new PkiError(
      "invalid_argument",
      `invalid agent id ${JSON.stringify(identity.agentId)}: must match ${agentIdPattern.source}`,
    );
  }
}

/** `spiffe://otterscale/cluster/<cluster>/agent/<agentId>`: the identity carried in the SAN URI. */
export function agentSpiffeUri(identity: AgentIdentity): string {
  assertValidAgentIdentity(identity);
  return `${spiffePrefix}${identity.cluster}/agent/${identity.agentId}`;
}

/** The identity in an agent SPIFFE URI, or undefined if the URI is not one (or is malformed). */
export function parseAgentSpiffeUri(uri: string): AgentIdentity | undefined {
  const match = agentUriPattern.exec(uri);
  if (!match) return undefined;
  const identity = { cluster: match[1], agentId: match[2] };
  return clusterNamePattern.test(identity.cluster) && agentIdPattern.test(identity.agentId)
    ? identity
    : undefined;
}

/**
 * A peer certificate as node:tls `getPeerCertificate()` returns it (only `raw`, the DER, is read),
 * or the certificate itself as PEM/DER.
 */
export type PeerCertificateInput = string | Uint8Array | x509.X509Certificate | { raw?: Uint8Array };

/**
 * The agent identity of a TLS client certificate that already passed chain verification.
 *
 * The TLS layer (rustls/webpki under Deno) accepts a certificate without any EKU as valid for any
 * purpose, and does not know our identity scheme, so this is the check that makes a certificate an
 * agent certificate: EKU must list clientAuth, it must not be a CA, and it must carry exactly one
 * well-formed agent SPIFFE URI whose agent id equals the CN. Throws PkiError(not_agent_certificate).
 */
export function clientIdentityFromPeerCert(peer: PeerCertificateInput): AgentIdentity {
  const cert = parsePeer(peer);
  const refuse = (why: string) =>
    new PkiError("not_agent_certificate", `peer certificate (subject ${cert.subject || "empty"}) ${why}`);

  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku?.usages.includes(x509.ExtendedKeyUsage.clientAuth)) throw refuse("does not allow clientAuth");
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca) throw refuse("is a CA certificate");

  const uris = sanUris(cert);
  if (uris.length !== 1) throw refuse(`has ${uris.length} SAN URIs, expected exactly one`);
  const identity = parseAgentSpiffeUri(uris[0]);
  if (!identity) throw refuse(`has SAN URI ${JSON.stringify(uris[0])}, not an agent SPIFFE id`);
  const commonNames = cert.subjectName.getField("CN");
  if (commonNames.length !== 1 || commonNames[0] !== identity.agentId) {
    throw refuse(`has CN ${JSON.stringify(commonNames)} that does not match agent id ${identity.agentId}`);
  }
  return identity;
}

/** The URI entries of a certificate's (or CSR's) SubjectAltName extension. */
export function sanUris(holder: { getExtension(type: string): x509.Extension | null }): string[] {
  const extension = holder.getExtension(subjectAltNameOid);
  if (!extension) return [];
  const san = new x509.SubjectAlternativeNameExtension(extension.rawData);
  return san.names.items.filter((name) => name.type === "url").map((name) => name.value);
}

function parsePeer(peer: PeerCertificateInput): x509.X509Certificate {
  if (typeof peer === "string" || peer instanceof Uint8Array || peer instanceof x509.X509Certificate) {
    return parseOrRefuse(peer);
  }
  if (!peer.raw || peer.raw.length === 0) {
    throw new PkiError("not_agent_certificate", "peer presented no certificate");
  }
  return parseOrRefuse(peer.raw);
}

function parseOrRefuse(input: string | Uint8Array | x509.X509Certificate): x509.X509Certificate {
  try {
    return parseCertificate(input, "peer certificate");
  } catch (error) {
    throw new PkiError("not_agent_certificate", (error as Error).message, { cause: error });
  }
}
