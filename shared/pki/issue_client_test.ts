import assert from "node:assert/strict";
import { join } from "node:path";
import { createCa } from "./ca.ts";
import { loadOrCreateCa } from "./ca_store.ts";
import { clockSkewAllowanceMs } from "./cert_fields.ts";
import { createAgentKey, createCsr } from "./csr.ts";
import { verifyAndIssueClientCert } from "./issue_client.ts";
import { decodeSinglePemBlock, encodePem } from "./pem.ts";
import { assertRejectsPki, openssl, opensslOk, withTempDir } from "./test_helpers.ts";
import * as x509 from "./x509.ts";

const cluster = "cluster-a";
const agentId = "agent-1";
const agentUri = "spiffe://otterscale/cluster/cluster-a/agent/agent-1";

/** A CSR built directly with @peculiar/x509, to produce requests our createCsr never would. */
async function customCsr(options: {
  algorithm: RsaHashedKeyGenParams | EcKeyGenParams;
  signing: Algorithm | EcdsaParams;
  name?: string;
  uris?: string[];
}): Promise<string> {
  const keys = await crypto.subtle.generateKey(options.algorithm, true, ["sign", "verify"]) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.name ?? `O=otterscale, CN=${agentId}`,
    keys,
    signingAlgorithm: options.signing,
    extensions: options.uris
      ? [
        new x509.SubjectAlternativeNameExtension(
          options.uris.map((value) => ({ type: "url" as const, value })),
        ),
      ]
      : [],
  });
  return csr.toString("pem");
}

const rsa = (modulusLength: number): RsaHashedKeyGenParams => ({
  name: "RSASSA-PKCS1-v1_5",
  modulusLength,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
});

Deno.test("an agent CSR is issued a client certificate with the specified fields", async () => {
  const ca = await createCa();
  const agent = await createAgentKey();
  assert.match(agent.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  const csrPem = await createCsr({ cluster, agentId, keys: agent.keys });
  assert.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
  assert.match(await opensslOk(["req", "-verify", "-noout", "-text"], csrPem), new RegExp(`URI:${agentUri}`));

  const now = new Date("2031-05-06T07:08:09.500Z");
  const { cert, certPem } = await verifyAndIssueClientCert({ csrPem, cluster, agentId, ca, now });

  assert.equal(cert.subject, "O=otterscale, CN=agent-1");
  assert.equal(cert.issuer, ca.cert.subject);
  assert.ok(await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }));
  assert.equal(cert.notBefore.getTime(), Date.parse("2031-05-06T07:08:09Z") - clockSkewAllowanceMs);
  assert.equal(cert.notAfter.getTime(), Date.parse("2031-05-06T07:08:09Z") + 24 * 3_600_000);
  assert.ok(cert.publicKey.equal(new x509.Pkcs10CertificateRequest(csrPem).publicKey));
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  assert.ok(constraints?.critical && !constraints.ca);
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  assert.ok(keyUsage?.critical);
  assert.equal(keyUsage.usages, x509.KeyUsageFlags.digitalSignature);
  assert.deepEqual([...cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []], [
    x509.ExtendedKeyUsage.clientAuth,
  ]);
  assert.deepEqual(
    cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON(),
    [{ type: "url", value: agentUri }],
  );
  assert.equal(
    cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
  );
  assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);

  const text = await opensslOk(["x509", "-text", "-noout"], certPem);
  assert.match(text, /Version: 3 \(0x2\)/);
  assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
  assert.match(text, /Key Usage: critical\s+Digital Signature\n/);
  assert.match(text, /Extended Key Usage: \s+TLS Web Client Authentication\n/);
  assert.match(text, new RegExp(`Subject Alternative Name: \\s+URI:${agentUri}\n`));
  assert.match(text, /Authority Key Identifier/);
});

Deno.test("openssl verifies issued client certificates for sslclient, not sslserver", async () => {
  await withTempDir(async (dir) => {
    const ca = await createCa();
    const agent = await createAgentKey();
    const csrPem = await createCsr({ cluster, agentId, keys: agent.keys });
    const { certPem } = await verifyAndIssueClientCert({ csrPem, cluster, agentId, ca });
    await Deno.writeTextFile(join(dir, "ca.pem"), ca.certPem);
    await Deno.writeTextFile(join(dir, "agent.pem"), certPem);
    const caFile = join(dir, "ca.pem");
    const leaf = join(dir, "agent.pem");
    await opensslOk(["verify", "-CAfile", caFile, "-x509_strict", "-purpose", "sslclient", leaf]);
    const asServer = await openssl(["verify", "-CAfile", caFile, "-purpose", "sslserver", leaf]);
    assert.notEqual(asServer.code, 0);
    // And against another CA with the same name: must not verify.
    await Deno.writeTextFile(join(dir, "other.pem"), (await createCa()).certPem);
    const foreign = await openssl(["verify", "-CAfile", join(dir, "other.pem"), leaf]);
    assert.notEqual(foreign.code, 0);
  });
});

Deno.test("client certificates issued by an OpenSSL-made CA keep its exact issuer name", async () => {
  await withTempDir(async (dir) => {
    // OpenSSL encodes names as UTF8String, @peculiar/x509 as PrintableString; webpki compares
    // names byte for byte, so the issuer must be copied, not re-encoded.
    await opensslOk([
      "req",
      "-x509",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "ca-key.pem"),
      "-out",
      join(dir, "ca.pem"),
      "-subj",
      "/O=otterscale/CN=otterscale-ca",
    ]);
    const ca = await loadOrCreateCa(dir);
    const agent = await createAgentKey();
    const csrPem = await createCsr({ cluster, agentId, keys: agent.keys });
    const { certPem } = await verifyAndIssueClientCert({ csrPem, cluster, agentId, ca });
    await Deno.writeTextFile(join(dir, "agent.pem"), certPem);
    const issuer = await opensslOk([
      "x509",
      "-in",
      join(dir, "agent.pem"),
      "-noout",
      "-issuer",
      "-nameopt",
      "multiline,show_type",
    ]);
    const subject = await opensslOk([
      "x509",
      "-in",
      join(dir, "ca.pem"),
      "-noout",
      "-subject",
      "-nameopt",
      "multiline,show_type",
    ]);
    assert.match(subject, /UTF8STRING:otterscale-ca/);
    assert.equal(issuer.replace(/^issuer=/, ""), subject.replace(/^subject=/, ""));
    await opensslOk([
      "verify",
      "-CAfile",
      join(dir, "ca.pem"),
      "-purpose",
      "sslclient",
      join(dir, "agent.pem"),
    ]);
  });
});

Deno.test("a P-384 agent key and an RSA-2048 key are accepted", async () => {
  const ca = await createCa({ curve: "P-384" });
  const p384 = await customCsr({
    algorithm: { name: "ECDSA", namedCurve: "P-384" },
    signing: { name: "ECDSA", hash: "SHA-384" },
    uris: [agentUri],
  });
  const issued = await verifyAndIssueClientCert({
    csrPem: p384,
    cluster,
    agentId,
    ca,
    validityMs: 3_600_000,
  });
  assert.equal(
    issued.cert.notAfter.getTime() - issued.cert.notBefore.getTime(),
    3_600_000 + clockSkewAllowanceMs,
  );
  assert.match(await opensslOk(["x509", "-text", "-noout"], issued.certPem), /ecdsa-with-SHA384/);
  const rsa2048 = await customCsr({ algorithm: rsa(2048), signing: { name: "RSASSA-PKCS1-v1_5" } });
  const rsaIssued = await verifyAndIssueClientCert({ csrPem: rsa2048, cluster, agentId, ca });
  // The hub adds the SAN URI even when the CSR did not ask for one.
  assert.deepEqual(
    rsaIssued.cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON(),
    [{ type: "url", value: agentUri }],
  );
});

Deno.test("a CSR whose signature does not match its content is refused", async () => {
  const ca = await createCa();
  const agent = await createAgentKey();
  const der = decodeSinglePemBlock(await createCsr({ cluster, agentId, keys: agent.keys }), "csr").der;

  const badSignature = der.slice();
  badSignature[badSignature.length - 1] ^= 0x01;
  await assertRejectsPki(
    verifyAndIssueClientCert({
      csrPem: encodePem("CERTIFICATE REQUEST", badSignature),
      cluster,
      agentId,
      ca,
    }),
    "invalid_argument",
    "self-signature does not verify",
  );

  // Rewrite the CN from agent-1 to agent-2 and ask for agent-2: only the signature can catch it.
  const renamed = der.slice();
  const at = new TextDecoder("latin1").decode(renamed).indexOf("agent-1");
  assert.ok(at > 0);
  renamed[at + 6] = "2".charCodeAt(0);
  await assertRejectsPki(
    verifyAndIssueClientCert({
      csrPem: encodePem("CERTIFICATE REQUEST", renamed),
      cluster,
      agentId: "agent-2",
      ca,
    }),
    "invalid_argument",
    "self-signature does not verify",
  );
});

Deno.test("malformed CSR input is refused as invalid_argument", async () => {
  const ca = await createCa();
  const agent = await createAgentKey();
  const csrPem = await createCsr({ cluster, agentId, keys: agent.keys });
  const der = decodeSinglePemBlock(csrPem, "csr").der;
  const issue = (pem: string) => verifyAndIssueClientCert({ csrPem: pem, cluster, agentId, ca });

  await assertRejectsPki(issue(encodePem("CERTIFICATE", der)), "invalid_argument", "PEM type is CERTIFICATE");
  await assertRejectsPki(issue(""), "invalid_argument", "no PEM block");
  await assertRejectsPki(issue(csrPem + csrPem), "invalid_argument", "expected one PEM block");
  await assertRejectsPki(
    issue(encodePem("CERTIFICATE REQUEST", der.slice(0, 40))),
    "invalid_argument",
    "not a PKCS#10 request",
  );
  await assertRejectsPki(issue("x".repeat(20_000)), "invalid_argument", "larger than");
});

Deno.test("weak or unsupported CSR keys are refused", async () => {
  const ca = await createCa();
  const issue = (csrPem: string) => verifyAndIssueClientCert({ csrPem, cluster, agentId, ca });
  await assertRejectsPki(
    issue(await customCsr({ algorithm: rsa(1024), signing: { name: "RSASSA-PKCS1-v1_5" } })),
    "invalid_argument",
    "RSA key of 1024 bits",
  );
  await assertRejectsPki(
    issue(
      await customCsr({
        algorithm: { name: "ECDSA", namedCurve: "P-521" },
        signing: { name: "ECDSA", hash: "SHA-512" },
      }),
    ),
    "invalid_argument",
    "EC curve P-521",
  );
  const ed25519Key = await opensslOk(["genpkey", "-algorithm", "ed25519"]);
  const ed25519Csr = await opensslOk([
    "req",
    "-new",
    "-key",
    "/dev/stdin",
    "-subj",
    `/O=otterscale/CN=${agentId}`,
  ], ed25519Key);
  await assertRejectsPki(issue(ed25519Csr), "invalid_argument", "key algorithm");
});

Deno.test("a CSR that claims another identity is refused", async () => {
  const ca = await createCa();
  const agent = await createAgentKey();
  const issue = (csrPem: string) => verifyAndIssueClientCert({ csrPem, cluster, agentId, ca });

  await assertRejectsPki(
    issue(await createCsr({ cluster, agentId: "someone-else", keys: agent.keys })),
    "invalid_argument",
    "does not match agent id",
  );
  await assertRejectsPki(
    issue(await createCsr({ cluster: "cluster-b", agentId, keys: agent.keys })),
    "invalid_argument",
    "spiffe://otterscale/cluster/cluster-b/agent/agent-1",
  );
  const p256 = {
    algorithm: { name: "ECDSA", namedCurve: "P-256" },
    signing: { name: "ECDSA", hash: "SHA-256" },
  };
  await assertRejectsPki(
    issue(await customCsr({ ...p256, uris: [agentUri, "spiffe://otterscale/cluster/other/agent/agent-1"] })),
    "invalid_argument",
    "does not match",
  );
  await assertRejectsPki(
    issue(await customCsr({ ...p256, name: "O=otterscale" })),
    "invalid_argument",
    "CN []",
  );
  // The identity the hub passes in is validated too: it becomes part of a URI.
  const csrPem = await createCsr({ cluster, agentId, keys: agent.keys });
  await assertRejectsPki(
    verifyAndIssueClientCert({ csrPem, cluster: "Bad/Cluster", agentId, ca }),
    "invalid_argument",
    "invalid cluster",
  );
  await assertRejectsPki(
    verifyAndIssueClientCert({ csrPem, cluster, agentId: "a/../b", ca }),
    "invalid_argument",
    "invalid agent id",
  );
});
