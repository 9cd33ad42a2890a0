import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ensureClusterPki } from "./certs.ts";

Deno.test("cluster PKI: leaves chain to the cluster CA with the identities Kubernetes reads", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pki = await ensureClusterPki(dir, "unit", "10.96.0.1");
    const cert = async (file: string) => new X509Certificate(await readFile(file));
    const ca = await cert(pki.caCert);
    assert.ok(ca.ca);

    const admin = await cert(pki.adminCert);
    assert.ok(admin.verify(ca.publicKey));
    assert.match(admin.subject, /O=system:masters/);

    const apiserver = await cert(pki.apiserverCert);
    assert.ok(apiserver.verify(ca.publicKey));
    assert.ok(apiserver.checkIP("127.0.0.1"));
    assert.ok(apiserver.checkIP("10.96.0.1"));
    assert.ok(apiserver.checkHost("kubernetes.default.svc"));

    const kwok = await cert(pki.kwokServingCert);
    assert.ok(kwok.checkIP("127.0.0.1"));

    // A second call keeps what exists: same CA, same leaves.
    const again = await ensureClusterPki(dir, "unit", "10.96.0.1");
    assert.equal((await cert(again.caCert)).fingerprint256, ca.fingerprint256);
    assert.equal((await cert(again.adminCert)).fingerprint256, admin.fingerprint256);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
