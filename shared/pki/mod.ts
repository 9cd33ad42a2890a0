// The PKI shared by hub and agent: the hub's CA, agent enrolment (CSR → client certificate), the
// tunnel server certificate, and reading an agent identity back from a TLS peer certificate.
export { type Ca, caCommonName, createCa, type CreateCaOptions } from "./ca.ts";
export {
  caCertFileName,
  caKeyFileName,
  loadOrCreateCa,
  type LoadOrCreateCaOptions,
  type StoredCa,
} from "./ca_store.ts";
export {
  certificateExpiry,
  certificateFingerprint,
  type CertificateInput,
  parseCertificate,
} from "./certificate.ts";
export { type AgentKey, createAgentKey, createCsr, type CreateCsrParams } from "./csr.ts";
export { PkiError, type PkiErrorReason } from "./errors.ts";
export {
  type AgentIdentity,
  agentSpiffeUri,
  assertValidAgentIdentity,
  clientIdentityFromPeerCert,
  parseAgentSpiffeUri,
  type PeerCertificateInput,
} from "./identity.ts";
export {
  defaultClientCertLifetimeMs,
  type IssueClientCertParams,
  type IssuedCertificate,
  verifyAndIssueClientCert,
} from "./issue_client.ts";
export {
  defaultServerCertLifetimeMs,
  issueServerCert,
  type IssueServerCertParams,
  type ServerCertificate,
} from "./issue_server.ts";
export {
  type EcCurve,
  exportEcPrivateKeySec1Der,
  exportEcPrivateKeySec1Pem,
  exportPkcs8Pem,
  importEcPrivateKeyPem,
} from "./keys.ts";
