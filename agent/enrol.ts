/**
 * Enrolment: the agent makes its key here (it never leaves the agent), sends
 * a CSR to the hub's Register and gets back a client certificate and the CA
 * to trust for the tunnel. Renewal sends the current certificate with a CSR
 * for the same key.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { FleetService } from "../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { type AgentKey, certificateExpiry, createAgentKey, createCsr } from "../shared/pki/mod.ts";

export interface AgentCredentials {
  key: AgentKey;
  certPem: string;
  caPem: string;
  issuedAt: Date;
  expiresAt: Date;
  /** host:port the hub says to dial. */
  endpoint: string;
  serverVersion: string;
}

export interface EnrolmentClientOptions {
  serverUrl: URL;
  cluster: string;
  agentId: string;
  agentVersion: string;
}

const registerTimeoutMs = 30_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function createEnrolmentClient(options: EnrolmentClientOptions) {
  const fleet = createClient(
    FleetService,
    createConnectTransport({ baseUrl: options.serverUrl.href, httpVersion: "1.1" }),
  );

  async function register(key: AgentKey, credential: { enrolmentToken?: string; certPem?: string }) {
    const csr = await createCsr({ cluster: options.cluster, agentId: options.agentId, keys: key.keys });
    const response = await fleet.register({
      cluster: options.cluster,
      agentId: options.agentId,
      agentVersion: options.agentVersion,
      csr: encoder.encode(csr),
      enrolmentToken: credential.enrolmentToken ?? "",
      certificate: credential.certPem ? encoder.encode(credential.certPem) : new Uint8Array(),
    }, { timeoutMs: registerTimeoutMs });
    const certPem = decoder.decode(response.certificate);
    return {
      key,
      certPem,
      caPem: decoder.decode(response.caCertificate),
      issuedAt: new Date(),
      expiresAt: certificateExpiry(certPem),
      endpoint: response.endpoint,
      serverVersion: response.serverVersion,
    };
  }

  return {
    /** First registration (or after losing the certificate): a new key and the enrolment token. */
    async enrol(enrolmentToken: string): Promise<AgentCredentials> {
      return register(await createAgentKey(), { enrolmentToken });
    },
    /** A new certificate for the same key, authorised by the current one. */
    renew(current: AgentCredentials): Promise<AgentCredentials> {
      return register(current.key, { certPem: current.certPem });
    },
  };
}

export type EnrolmentClient = ReturnType<typeof createEnrolmentClient>;
