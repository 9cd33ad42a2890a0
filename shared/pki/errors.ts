/**
 * Why a PKI operation was refused, in terms a caller can act on:
 * - `invalid_argument`: the input (CSR, identity, host list) is unacceptable; a client error.
 * - `not_agent_certificate`: a TLS peer presented a certificate that is not an agent certificate.
 * - `ca_store`: the CA files on disk are missing, unreadable or inconsistent; an operator must fix them.
 */
export type PkiErrorReason = "invalid_argument" | "not_agent_certificate" | "ca_store";

export class PkiError extends Error {
  override name = "PkiError";

  constructor(readonly reason: PkiErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
