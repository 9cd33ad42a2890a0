import assert from "node:assert/strict";
import { caCertificateProblem, createCa } from "./ca.ts";
import { clockSkewAllowanceMs } from "./cert_fields.ts";
import { opensslOk } from "./test_helpers.ts";
import * as x509 from "./x509.ts";

Deno.test("createCa makes a self-signed v3 P-256 CA with the specified fields", async () => {
  const now = new Date("2030-01-02T03:04:05.678Z");
  const ca = await createCa({ now });
  const { cert } = ca;

  assert.equal(cert.subject, "O=otterscale, CN=otterscale-ca");
  assert.equal(cert.issuer, cert.subject);
  assert.ok(await cert.isSelfSigned());
  assert.ok(await cert.verify({ signatureOnly: true }));
  assert.equal(cert.notBefore.getTime(), Date.parse("2030-01-02T03:04:05Z") - clockSkewAllowanceMs);
  assert.equal(cert.notAfter.getTime(), Date.parse("2030-01-02T03:04:05Z") + 3650 * 86_400_000);
  // 128 random bits, positive: at most 16 significant bytes once a sign byte is dropped.
  assert.match(cert.serialNumber, /^[0-9a-f]{1,32}$/);
  assert.notEqual(cert.serialNumber, (await createCa({ now })).cert.serialNumber);

  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  assert.ok(constraints?.critical && constraints.ca);
  assert.equal(constraints.pathLength, 0);
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  assert.ok(keyUsage?.critical);
  assert.equal(keyUsage.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  assert.equal(caCertificateProblem(cert, now), undefined);

  const text = await opensslOk(["x509", "-text", "-noout"], ca.certPem);
  assert.match(text, /Version: 3 \(0x2\)/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /NIST CURVE: P-256/);
  assert.match(text, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  assert.match(text, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(text, /Subject Key Identifier/);
});

Deno.test("createCa with P-384 signs with SHA-384", async () => {
  const ca = await createCa({ curve: "P-384" });
  const text = await opensslOk(["x509", "-text", "-noout"], ca.certPem);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA384/);
  assert.match(text, /NIST CURVE: P-384/);
});

Deno.test("caCertificateProblem rejects an expired CA and a non-CA certificate", async () => {
  const ca = await createCa({ now: new Date("2000-01-01T00:00:00Z") });
  assert.match(caCertificateProblem(ca.cert, new Date()) ?? "", /expired/);

  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const leaf = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=leaf",
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  assert.match(caCertificateProblem(leaf, new Date()) ?? "", /not a CA/);
});
