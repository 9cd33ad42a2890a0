import { otterscaleName } from "./cert_fields.ts";
import { type AgentIdentity, agentSpiffeUri } from "./identity.ts";
import { curveOfKey, ecdsaSigningAlgorithm, exportPkcs8Pem, generateEcKeyPair } from "./keys.ts";
import * as x509 from "./x509.ts";

/** The agent's TLS key. Created on the agent and never sent anywhere; only its CSR is. */
export interface AgentKey {
  keys: CryptoKeyPair;
  /** PKCS#8 `PRIVATE KEY` PEM for node:tls `key`. */
  keyPem: string;
}

export const csrPemType = "CERTIFICATE REQUEST";

/** A fresh ECDSA P-256 key for one enrolment. */
export async function createAgentKey(): Promise<AgentKey> {
  const keys = await generateEcKeyPair("P-256");
  return { keys, keyPem: await exportPkcs8Pem(keys.privateKey) };
}

export interface CreateCsrParams extends AgentIdentity {
  keys: CryptoKeyPair;
}

/**
 * PEM `CERTIFICATE REQUEST` with subject `O=otterscale, CN=<agentId>` and a SAN URI request for the
 * agent's SPIFFE id. The hub re-derives both from the enrolment, so they are a statement of intent
 * that lets it refuse a mismatch early rather than a source of truth.
 */
export async function createCsr(params: CreateCsrParams): Promise<string> {
  const uri = agentSpiffeUri(params);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: otterscaleName(params.agentId),
    keys: params.keys,
    signingAlgorithm: ecdsaSigningAlgorithm(curveOfKey(params.keys.privateKey)),
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }])],
  });
  return csr.toString("pem");
}
