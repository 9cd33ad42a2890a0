/**
 * FleetService.Register: an agent trades a CSR for a client certificate signed by the hub CA.
 *
 * Unlike the reference (anyone could register any cluster name), every call must be authorized:
 * either by an enrolment token for that cluster (first enrolment) or by the agent's current,
 * still-valid certificate for that cluster and agent id, with a CSR for the same key (renewal).
 * The hub, not the CSR, decides the identity written into the certificate.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { RegisterRequest } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import type { Logger } from "../../shared/log.ts";
import {
  type AgentIdentity,
  type Ca,
  clientIdentityFromPeerCert,
  parseCertificate,
  PkiError,
  verifyAndIssueClientCert,
} from "../../shared/pki/mod.ts";
import { agentIdPattern } from "../../shared/pki/identity.ts";
import * as x509 from "../../shared/pki/x509.ts";
import {
  clusterNameProblem,
  EnrolmentTokenError,
  type EnrolmentTokenKey,
  maxClusterNameLength,
  verifyEnrolmentToken,
} from "./enrolment_token.ts";

export type EnrolmentResult = "issued" | "renewed" | "refused" | "invalid";

/** The fields of RegisterRequest that Register reads; a generated RegisterRequest fits. */
export type EnrolmentRequest = Pick<
  RegisterRequest,
  "cluster" | "csr" | "agentId" | "agentVersion" | "enrolmentToken" | "certificate"
>;

/** The fields of RegisterResponse, as plain data. */
export interface EnrolmentResponse {
  /** host:port the agent dials for its tunnel. */
  endpoint: string;
  /** The issued client certificate, PEM. */
  certificate: Uint8Array;
  /** The hub CA certificate, PEM: the agent's trust anchor for the tunnel. */
  caCertificate: Uint8Array;
  serverVersion: string;
}

export interface FailureLimit {
  /** Failed attempts per cluster name allowed within `windowMs`; the next ones get resource_exhausted. */
  attempts: number;
  windowMs: number;
}

export const defaultFailureLimit: FailureLimit = { attempts: 20, windowMs: 60_000 };

export interface EnrolmentDeps {
  ca: Ca;
  tokenKey: EnrolmentTokenKey;
  externalTunnelUrl: URL;
  certificateLifetimeMs: number;
  serverVersion: string;
  log: Logger;
  onResult?: (result: EnrolmentResult) => void;
  now?: () => Date;
  failureLimit?: FailureLimit;
}

export interface Enrolment {
  register(req: EnrolmentRequest): Promise<EnrolmentResponse>;
}

export const maxAgentVersionLength = 64;
/** A PEM CSR or certificate is 1–3 KiB; this leaves room for RSA keys and stops junk early. */
export const maxPemFieldBytes = 16 * 1024;
/** Bounds the failure tracker's memory when many cluster names are tried. */
const maxTrackedClusters = 10_000;
const maxLoggedFieldLength = 100;

const printableAscii = /^[\x20-\x7e]*$/;
const tlsSchemes = new Set(["https:", "wss:", "tls:"]);

/** The messages clients see. Fixed texts, so a refusal never says which check failed. */
const refusal = {
  noCredentials: "enrolment needs an enrolment token or a current certificate",
  badToken: "invalid or expired enrolment token",
  otherCluster: "enrolment token is for another cluster",
  badRenewal: "renewal certificate is not valid for this cluster",
  tooManyFailures: "too many failed enrolment attempts for this cluster, retry later",
} as const;

/** A refusal with its client-facing error and the reason that only goes to the log. */
class Refusal extends Error {
  constructor(readonly error: ConnectError, readonly reason: string) {
    super(reason);
  }
}

export function createEnrolment(deps: EnrolmentDeps): Enrolment {
  const endpoint = tunnelEndpoint(deps.externalTunnelUrl);
  const caCertificate = new TextEncoder().encode(deps.ca.certPem);
  const now = deps.now ?? (() => new Date());
  const failures = createFailureTracker(deps.failureLimit ?? defaultFailureLimit);

  async function register(req: EnrolmentRequest): Promise<EnrolmentResponse> {
    const fields = logFields(req);
    const clusterProblem = clusterNameProblem(req.cluster);
    if (clusterProblem) {
      // Not counted: an invalid name must not take a slot in the failure tracker.
      return reject(invalid(invalidClusterMessage(req.cluster, clusterProblem)), fields);
    }
    if (failures.isLimited(req.cluster, now())) {
      deps.log.warn("agent enrolment rate limited", fields);
      deps.onResult?.("refused");
      throw new ConnectError(refusal.tooManyFailures, Code.ResourceExhausted);
    }
    try {
      const csrPem = validateRequest(req);
      const identity = { cluster: req.cluster, agentId: req.agentId };
      const via = req.certificate.length > 0 ? "renewal" : "token";
      if (via === "renewal") await authorizeRenewal(req.certificate, csrPem, identity);
      else await authorizeToken(req.enrolmentToken, req.cluster);
      const issued = await issue(csrPem, identity);
      deps.log.info(via === "renewal" ? "agent certificate renewed" : "agent enrolled", {
        ...fields,
        serial: issued.cert.serialNumber,
        notAfter: issued.cert.notAfter.toISOString(),
      });
      deps.onResult?.(via === "renewal" ? "renewed" : "issued");
      return {
        endpoint,
        certificate: new TextEncoder().encode(issued.certPem),
        caCertificate,
        serverVersion: deps.serverVersion,
      };
    } catch (error) {
      if (
        error instanceof Refusal || (error instanceof ConnectError && error.code === Code.InvalidArgument)
      ) {
        failures.record(req.cluster, now());
      }
      return reject(error, fields);
    }
  }

  function reject(error: unknown, fields: Record<string, string>): never {
    if (error instanceof Refusal) {
      deps.log.warn("agent enrolment refused", { ...fields, reason: error.reason });
      deps.onResult?.("refused");
      throw error.error;
    }
    if (error instanceof ConnectError && error.code === Code.InvalidArgument) {
      deps.log.warn("agent enrolment request invalid", { ...fields, error: error.rawMessage });
      deps.onResult?.("invalid");
      throw error;
    }
    // Our fault, not the agent's: no result for the agent-facing metric, details only in our log.
    deps.log.error("agent enrolment failed", { ...fields, error });
    throw new ConnectError("enrolment failed on the server", Code.Internal);
  }

  async function authorizeToken(token: string, cluster: string): Promise<void> {
    if (token.length === 0) {
      throw new Refusal(new ConnectError(refusal.noCredentials, Code.Unauthenticated), "no credentials");
    }
    const claims = await verifyEnrolmentToken(deps.tokenKey, token, now()).catch((error) => {
      if (!(error instanceof EnrolmentTokenError)) throw error;
      throw new Refusal(
        new ConnectError(refusal.badToken, Code.Unauthenticated),
        `${error.reason}: ${error.message}`,
      );
    });
    if (claims.cluster !== cluster) {
      throw new Refusal(
        new ConnectError(refusal.otherCluster, Code.PermissionDenied),
        `enrolment token is for cluster ${claims.cluster}`,
      );
    }
  }

  async function authorizeRenewal(certificate: Uint8Array, csrPem: string, identity: AgentIdentity) {
    const problem = await renewalProblem(certificate, csrPem, identity, deps.ca, now());
    if (problem) {
      throw new Refusal(new ConnectError(refusal.badRenewal, Code.Unauthenticated), problem);
    }
  }

  async function issue(csrPem: string, identity: AgentIdentity) {
    try {
      return await verifyAndIssueClientCert({
        csrPem,
        ...identity,
        ca: deps.ca,
        validityMs: deps.certificateLifetimeMs,
        now: now(),
      });
    } catch (error) {
      if (error instanceof PkiError && error.reason === "invalid_argument") throw invalid(error.message);
      throw error;
    }
  }

  return { register };
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function invalidClusterMessage(cluster: string, problem: string): string {
  // Only a name of acceptable length is echoed back, so the error stays small.
  const shown = cluster.length > 0 && cluster.length <= maxClusterNameLength
    ? ` ${JSON.stringify(cluster)}`
    : "";
  return `invalid cluster${shown}: ${problem}`;
}

/** The request fields worth logging, cut short: they are unvalidated client input. */
function logFields(req: EnrolmentRequest): Record<string, string> {
  const cut = (text: string) =>
    text.length > maxLoggedFieldLength ? `${text.slice(0, maxLoggedFieldLength)}…` : text;
  return { cluster: cut(req.cluster), agentId: cut(req.agentId), agentVersion: cut(req.agentVersion) };
}

/** Checks every field but the cluster (checked first, before the rate limit); returns the CSR text. */
function validateRequest(req: EnrolmentRequest): string {
  if (req.agentId.length === 0) throw invalid("invalid agent_id: must not be empty");
  if (!agentIdPattern.test(req.agentId)) {
    throw invalid(
      `invalid agent_id ${JSON.stringify(req.agentId.slice(0, 64))}: must be at most 63 characters ` +
        `matching ${agentIdPattern.source}`,
    );
  }
  if (req.agentVersion.length > maxAgentVersionLength || !printableAscii.test(req.agentVersion)) {
    throw invalid(
      `invalid agent_version: must be at most ${maxAgentVersionLength} printable ASCII characters`,
    );
  }
  if (req.csr.length === 0) throw invalid("invalid csr: must not be empty");
  if (req.csr.length > maxPemFieldBytes) throw invalid(`invalid csr: larger than ${maxPemFieldBytes} bytes`);
  if (req.certificate.length > maxPemFieldBytes) {
    throw invalid(`invalid certificate: larger than ${maxPemFieldBytes} bytes`);
  }
  if (req.certificate.length > 0 && req.enrolmentToken.length > 0) {
    throw invalid("send either enrolment_token or certificate, not both");
  }
  const csrPem = decodeUtf8(req.csr);
  if (csrPem === undefined) throw invalid("invalid csr: not PEM text");
  return csrPem;
}

/**
 * Why `certificate` does not authorize renewing `identity` with `csrPem`, or undefined if it does.
 * The answer goes to the log only.
 */
async function renewalProblem(
  certificate: Uint8Array,
  csrPem: string,
  identity: AgentIdentity,
  ca: Ca,
  now: Date,
): Promise<string | undefined> {
  const certPem = decodeUtf8(certificate);
  if (certPem === undefined) return "certificate is not PEM text";
  let cert: x509.X509Certificate;
  try {
    cert = parseCertificate(certPem, "renewal certificate");
  } catch (error) {
    return (error as Error).message;
  }
  if (!await signedBy(cert, ca)) return `certificate ${cert.serialNumber} is not signed by this hub's CA`;
  if (now < cert.notBefore || now > cert.notAfter) {
    return `certificate ${cert.serialNumber} is outside its validity ` +
      `${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}`;
  }
  let holder: AgentIdentity;
  try {
    holder = clientIdentityFromPeerCert(new Uint8Array(cert.rawData));
  } catch (error) {
    return (error as Error).message;
  }
  if (holder.cluster !== identity.cluster || holder.agentId !== identity.agentId) {
    return `certificate ${cert.serialNumber} belongs to cluster ${holder.cluster} agent ${holder.agentId}`;
  }
  return await proofOfPossessionProblem(csrPem, cert);
}

async function signedBy(cert: x509.X509Certificate, ca: Ca): Promise<boolean> {
  try {
    return await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true });
  } catch {
    return false; // e.g. a signature algorithm that does not fit the CA key
  }
}

/**
 * The CSR must carry the certificate's public key and a valid self-signature: that proves the
 * caller holds the certificate's private key, not just a copy of the (public) certificate.
 */
async function proofOfPossessionProblem(
  csrPem: string,
  cert: x509.X509Certificate,
): Promise<string | undefined> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (error) {
    return `csr cannot be parsed: ${(error as Error).message}`;
  }
  if (!bytesEqual(new Uint8Array(csr.publicKey.rawData), new Uint8Array(cert.publicKey.rawData))) {
    return `csr key differs from the key of certificate ${cert.serialNumber}`;
  }
  let selfSigned: boolean;
  try {
    selfSigned = await csr.verify();
  } catch {
    selfSigned = false;
  }
  return selfSigned ? undefined : "csr self-signature does not verify";
}

/**
 * host:port of the tunnel URL. The port is explicit in the URL or implied by a TLS scheme; any
 * other URL is a configuration error, reported when the hub starts rather than to each agent.
 */
export function tunnelEndpoint(url: URL): string {
  if (url.hostname === "") throw new Error(`external tunnel URL ${url.href} has no host`);
  if (url.port !== "") return `${url.hostname}:${url.port}`;
  if (tlsSchemes.has(url.protocol)) return `${url.hostname}:443`;
  throw new Error(
    `external tunnel URL ${url.href} has no port and its scheme ${url.protocol} implies none (use https: or a port)`,
  );
}

/**
 * A per-cluster sliding window of failed attempts, in memory (per hub process, reset on restart).
 * It makes guessing tokens or replaying junk at one cluster name expensive. The flip side: whoever
 * floods a cluster name with failures also delays that cluster's own enrolments and renewals for as
 * long as the flood lasts; a connected tunnel is not affected, and certificates are renewed well
 * before they expire. Memory is bounded: invalid names are never tracked, a name's entry is dropped once its
 * failures age out, and past `maxTrackedClusters` names the quietest one is forgotten.
 */
function createFailureTracker(limit: FailureLimit) {
  const failuresByCluster = new Map<string, number[]>();

  function recent(cluster: string, now: Date): number[] {
    const since = now.getTime() - limit.windowMs;
    const times = (failuresByCluster.get(cluster) ?? []).filter((time) => time > since);
    if (times.length === 0) failuresByCluster.delete(cluster);
    else failuresByCluster.set(cluster, times);
    return times;
  }

  return {
    isLimited(cluster: string, now: Date): boolean {
      return recent(cluster, now).length >= limit.attempts;
    },
    record(cluster: string, now: Date): void {
      const times = recent(cluster, now);
      // Re-inserting keeps the map ordered by latest failure, so the first name is the quietest
      // (often already stale) and the one to forget when the map is full.
      failuresByCluster.delete(cluster);
      while (failuresByCluster.size >= maxTrackedClusters) {
        failuresByCluster.delete(failuresByCluster.keys().next().value!);
      }
      failuresByCluster.set(cluster, [...times, now.getTime()]);
    },
  };
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
