import { authorityKeyIdentifier, type Ca, caSigningAlgorithm } from "./ca.ts";
import { otterscaleName, randomSerialNumber, validityWindow } from "./cert_fields.ts";
import { errorMessage } from "./certificate.ts";
import { csrPemType } from "./csr.ts";
import type { Bytes } from "./der.ts";
import { PkiError } from "./errors.ts";
import { type AgentIdentity, agentSpiffeUri, sanUris } from "./identity.ts";
import { decodeSinglePemBlock } from "./pem.ts";
import * as x509 from "./x509.ts";

export const defaultClientCertLifetimeMs = 24 * 60 * 60 * 1000;

/** A CSR is a few hundred bytes; anything this large is not one, and parsing it costs CPU. */
const maxCsrPemLength = 16 * 1024;

export interface IssueClientCertParams extends AgentIdentity {
  csrPem: string;
  ca: Ca;
  /** Lifetime of the issued certificate; default 24 h. */
  validityMs?: number;
  now?: Date;
}

export interface IssuedCertificate {
  cert: x509.X509Certificate;
  certPem: string;
}

/**
 * Checks an agent's CSR and issues its client certificate.
 *
 * The identity comes from the hub (`cluster`, `agentId` of the authenticated enrolment), never from
 * the CSR: the issued certificate always says CN=<agentId> and SAN URI
 * spiffe://otterscale/cluster/<cluster>/agent/<agentId>. A CSR that claims something else is refused
 * rather than silently corrected, so a confused or malicious agent is noticed.
 *
 * Every refusal is a PkiError with reason `invalid_argument`.
 */
export async function verifyAndIssueClientCert(params: IssueClientCertParams): Promise<IssuedCertificate> {
  const uri = agentSpiffeUri(params);
  const csr = parseCsr(params.csrPem);
  assertAcceptableKey(csr.publicKey);
  await assertSelfSignatureValid(csr);
  assertCsrClaims(csr, params.agentId, uri);

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: otterscaleName(params.agentId),
    issuer: params.ca.cert.subjectName,
    ...validityWindow(params.now ?? new Date(), params.validityMs ?? defaultClientCertLifetimeMs),
    publicKey: csr.publicKey,
    signingKey: params.ca.key,
    signingAlgorithm: caSigningAlgorithm(params.ca),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }]),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await authorityKeyIdentifier(params.ca),
    ],
  });
  return { cert, certPem: cert.toString("pem") };
}

function invalidCsr(why: string, cause?: unknown): PkiError {
  return new PkiError("invalid_argument", `invalid csr: ${why}`, cause === undefined ? undefined : { cause });
}

function parseCsr(csrPem: string): x509.Pkcs10CertificateRequest {
  if (csrPem.length > maxCsrPemLength) throw invalidCsr(`larger than ${maxCsrPemLength} characters`);
  let der: Bytes;
  try {
    const block = decodeSinglePemBlock(csrPem, "csr");
    if (block.type !== csrPemType) throw new Error(`PEM type is ${block.type}, not ${csrPemType}`);
    der = block.der;
  } catch (error) {
    throw invalidCsr(errorMessage(error), error);
  }
  try {
    return new x509.Pkcs10CertificateRequest(der);
  } catch (error) {
    throw invalidCsr(`not a PKCS#10 request: ${errorMessage(error)}`, error);
  }
}

/** EC P-256/P-384 or RSA 2048–8192: what rustls/webpki verifies and what is not trivially weak. */
function assertAcceptableKey(publicKey: x509.PublicKey): void {
  const algorithm = publicKey.algorithm as Partial<EcKeyAlgorithm & RsaKeyAlgorithm>;
  if (algorithm.name === "ECDSA") {
    if (algorithm.namedCurve === "P-256" || algorithm.namedCurve === "P-384") return;
    throw invalidCsr(`EC curve ${algorithm.namedCurve} is not accepted (P-256 or P-384)`);
  }
  if (algorithm.name === "RSASSA-PKCS1-v1_5" || algorithm.name === "RSA-PSS") {
    const bits = algorithm.modulusLength ?? 0;
    if (bits >= 2048 && bits <= 8192) return;
    throw invalidCsr(`RSA key of ${bits} bits is not accepted (2048 to 8192)`);
  }
  throw invalidCsr(`key algorithm ${algorithm.name} is not accepted (ECDSA P-256/P-384 or RSA)`);
}

async function assertSelfSignatureValid(csr: x509.Pkcs10CertificateRequest): Promise<void> {
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (error) {
    throw invalidCsr(`signature cannot be checked: ${errorMessage(error)}`, error);
  }
  if (!valid) throw invalidCsr("self-signature does not verify");
}

function assertCsrClaims(csr: x509.Pkcs10CertificateRequest, agentId: string, uri: string): void {
  const commonNames = csr.subjectName.getField("CN");
  if (commonNames.length !== 1 || commonNames[0] !== agentId) {
    throw invalidCsr(
      `subject CN ${JSON.stringify(commonNames)} does not match agent id ${JSON.stringify(agentId)}`,
    );
  }
  let uris: string[];
  try {
    uris = sanUris(csr);
  } catch (error) {
    throw invalidCsr(`SAN extension cannot be parsed: ${errorMessage(error)}`, error);
  }
  const foreign = uris.filter((requested) => requested !== uri);
  if (foreign.length > 0) {
    throw invalidCsr(`SAN URI ${JSON.stringify(foreign[0])} does not match ${uri}`);
  }
}
