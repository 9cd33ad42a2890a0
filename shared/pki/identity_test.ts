import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type Ca, createCa } from "./ca.ts";
import { certificateExpiry, certificateFingerprint } from "./certificate.ts";
import { createAgentKey, createCsr } from "./csr.ts";
import { agentSpiffeUri, clientIdentityFromPeerCert, parseAgentSpiffeUri } from "./identity.ts";
import { verifyAndIssueClientCert } from "./issue_client.ts";
import { issueServerCert } from "./issue_server.ts";
import { generateEcKeyPair } from "./keys.ts";
import { decodeSinglePemBlock } from "./pem.ts";
import { assertRejectsPki, opensslOk } from "./test_helpers.ts";
import * as x509 from "./x509.ts";

const identity = { cluster: "cluster-a", agentId: "agent-1" };
const agentUri = "spiffe://otterscale/cluster/cluster-a/agent/agent-1";

async function issueAgentCert(ca: Ca): Promise<string> {
  const agent = await createAgentKey();
  const csrPem = await createCsr({ ...identity, keys: agent.keys });
  return (await verifyAndIssueClientCert({ csrPem, ...identity, ca })).certPem;
}

/** A CA-signed certificate with hand-picked fields, to build what the hub itself never issues. */
async function handMadeCert(
  ca: Ca,
  fields: { cn: string; usages?: string[]; uris: string[]; isCa?: boolean },
): Promise<string> {
  const keys = await generateEcKeyPair("P-256");
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(fields.isCa ?? false, undefined, true),
  ];
  if (fields.usages) extensions.push(new x509.ExtendedKeyUsageExtension(fields.usages));
  if (fields.uris.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(fields.uris.map((value) => ({ type: "url" as const, value }))),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    subject: `O=otterscale, CN=${fields.cn}`,
    issuer: ca.cert.subjectName,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions,
  });
  return cert.toString("pem");
}

Deno.test("agent SPIFFE URIs are built from and parsed back to the identity", async () => {
  assert.equal(agentSpiffeUri(identity), agentUri);
  assert.deepEqual(parseAgentSpiffeUri(agentUri), identity);
  for (
    const notAgent of [
      "spiffe://otterscale/cluster/cluster-a/agent/agent-1/",
      "spiffe://otterscale/cluster/cluster-a/agent/a/b",
      "spiffe://other/cluster/cluster-a/agent/agent-1",
      "spiffe://otterscale/cluster/Cluster-A/agent/agent-1",
      "spiffe://otterscale/cluster/cluster-a/agent/-x",
      "https://otterscale/cluster/cluster-a/agent/agent-1",
    ]
  ) {
    assert.equal(parseAgentSpiffeUri(notAgent), undefined, notAgent);
  }
  await assertRejectsPki(
    () => agentSpiffeUri({ cluster: "", agentId: "a" }),
    "invalid_argument",
    "invalid cluster",
  );
  await assertRejectsPki(
    () => agentSpiffeUri({ cluster: "c", agentId: "x".repeat(64) }),
    "invalid_argument",
    "invalid agent id",
  );
});

Deno.test("clientIdentityFromPeerCert reads an issued agent certificate in every input form", async () => {
  const ca = await createCa();
  const certPem = await issueAgentCert(ca);
  const der = decodeSinglePemBlock(certPem, "cert").der;
  assert.deepEqual(clientIdentityFromPeerCert(certPem), identity);
  assert.deepEqual(clientIdentityFromPeerCert(der), identity);
  assert.deepEqual(clientIdentityFromPeerCert(new x509.X509Certificate(der)), identity);
  // node:tls getPeerCertificate() hands out a Buffer that may be a view into a larger pool.
  const pooled = Buffer.concat([Buffer.alloc(7), Buffer.from(der)]).subarray(7);
  assert.deepEqual(clientIdentityFromPeerCert({ raw: pooled }), identity);
});

Deno.test("clientIdentityFromPeerCert refuses certificates that are not agent certificates", async () => {
  const ca = await createCa();
  const refuse = (peer: Parameters<typeof clientIdentityFromPeerCert>[0], fragment: string) =>
    assertRejectsPki(() => clientIdentityFromPeerCert(peer), "not_agent_certificate", fragment);
  const clientAuth = [x509.ExtendedKeyUsage.clientAuth];

  await refuse((await issueServerCert({ ca, hosts: ["127.0.0.1"] })).certPem, "does not allow clientAuth");
  // webpki accepts a certificate without EKU for any purpose; we must not.
  await refuse(await handMadeCert(ca, { cn: "agent-1", uris: [agentUri] }), "does not allow clientAuth");
  await refuse(await handMadeCert(ca, { cn: "agent-1", usages: clientAuth, uris: [] }), "0 SAN URIs");
  await refuse(
    await handMadeCert(ca, { cn: "agent-1", usages: clientAuth, uris: [agentUri, agentUri] }),
    "2 SAN URIs",
  );
  await refuse(
    await handMadeCert(ca, { cn: "agent-1", usages: clientAuth, uris: ["spiffe://otterscale/cluster/a/b"] }),
    "not an agent SPIFFE id",
  );
  await refuse(
    await handMadeCert(ca, { cn: "agent-2", usages: clientAuth, uris: [agentUri] }),
    "does not match",
  );
  await refuse(
    await handMadeCert(ca, { cn: "agent-1", usages: clientAuth, uris: [agentUri], isCa: true }),
    "is a CA",
  );
  await refuse({}, "no certificate");
  await refuse({ raw: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]) }, "not a valid X.509 certificate");
  await refuse(ca.certPem.replace("CERTIFICATE", "CERTIFICATE REQUEST"), "BEGIN CERTIFICATE REQUEST");
});

Deno.test("certificateExpiry and certificateFingerprint agree with openssl", async () => {
  const ca = await createCa();
  const certPem = await issueAgentCert(ca);
  const opensslEnd = await opensslOk(["x509", "-noout", "-enddate"], certPem);
  assert.equal(certificateExpiry(certPem).getTime(), Date.parse(opensslEnd.replace("notAfter=", "").trim()));
  const opensslPrint = await opensslOk(["x509", "-noout", "-fingerprint", "-sha256"], certPem);
  const expected = opensslPrint.replace(/^.*=/, "").trim().replaceAll(":", "").toLowerCase();
  assert.equal(await certificateFingerprint(certPem), expected);
  assert.match(expected, /^[0-9a-f]{64}$/);
});
