import assert from "node:assert/strict";
import { join } from "node:path";
import { createCa } from "./ca.ts";
import { clockSkewAllowanceMs } from "./cert_fields.ts";
import { issueServerCert, serverNames } from "./issue_server.ts";
import { assertRejectsPki, openssl, opensslOk, withTempDir } from "./test_helpers.ts";
import * as x509 from "./x509.ts";

Deno.test("serverNames sorts IPs from DNS names and skips wildcard listen addresses", () => {
  assert.deepEqual(
    serverNames(["hub.example.com", "0.0.0.0", "[::1]", "::", "10.0.0.5", "HUB.example.com.", " ", "tunnel"]),
    { ips: ["::1", "10.0.0.5"], dnsNames: ["hub.example.com", "tunnel"] },
  );
});

Deno.test("serverNames refuses malformed hosts and an empty result", async () => {
  await assertRejectsPki(
    () => serverNames(["0.0.0.0", "::"]),
    "invalid_argument",
    "at least one usable host",
  );
  await assertRejectsPki(() => serverNames([]), "invalid_argument", "at least one usable host");
  await assertRejectsPki(
    () => serverNames(["hub.example.com:8443"]),
    "invalid_argument",
    "not an IP or DNS name",
  );
  await assertRejectsPki(() => serverNames(["bad host"]), "invalid_argument", "not an IP or DNS name");
  await assertRejectsPki(
    () => serverNames(["-leading.example"]),
    "invalid_argument",
    "not an IP or DNS name",
  );
});

Deno.test("issueServerCert makes a serverAuth certificate for the given names with a fresh key", async () => {
  const ca = await createCa();
  const now = new Date("2032-03-04T05:06:07Z");
  const hosts = ["hub.example.com", "127.0.0.1", "::1", "0.0.0.0"];
  const server = await issueServerCert({ ca, hosts, now });
  const { cert } = server;

  assert.equal(cert.subject, "O=otterscale, CN=otterscale-tunnel");
  assert.equal(cert.issuer, ca.cert.subject);
  assert.ok(await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }));
  assert.equal(cert.notBefore.getTime(), now.getTime() - clockSkewAllowanceMs);
  assert.equal(cert.notAfter.getTime(), now.getTime() + 365 * 86_400_000);
  assert.ok(!cert.getExtension(x509.BasicConstraintsExtension)?.ca);
  assert.deepEqual([...cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []], [
    x509.ExtendedKeyUsage.serverAuth,
  ]);
  assert.deepEqual(cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON(), [
    { type: "dns", value: "hub.example.com" },
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
  ]);
  assert.match(server.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);

  const again = await issueServerCert({ ca, hosts });
  assert.ok(!again.cert.publicKey.equal(cert.publicKey), "every call must use a new key");
  const shortLived = await issueServerCert({ ca, hosts, validityMs: 60_000, now });
  assert.equal(shortLived.cert.notAfter.getTime(), now.getTime() + 60_000);
});

Deno.test("openssl verifies the server certificate for its names and its key pair", async () => {
  await withTempDir(async (dir) => {
    const ca = await createCa();
    const server = await issueServerCert({ ca, hosts: ["hub.example.com", "127.0.0.1"] });
    const caFile = join(dir, "ca.pem");
    const certFile = join(dir, "server.pem");
    await Deno.writeTextFile(caFile, ca.certPem);
    await Deno.writeTextFile(certFile, server.certPem);
    const verify = (...extra: string[]) =>
      openssl(["verify", "-CAfile", caFile, "-x509_strict", "-purpose", "sslserver", ...extra, certFile]);

    assert.equal((await verify("-verify_hostname", "hub.example.com")).code, 0);
    assert.equal((await verify("-verify_ip", "127.0.0.1")).code, 0);
    assert.notEqual((await verify("-verify_hostname", "other.example.com")).code, 0);
    assert.notEqual((await verify("-verify_ip", "127.0.0.2")).code, 0);
    const asClient = await openssl(["verify", "-CAfile", caFile, "-purpose", "sslclient", certFile]);
    assert.notEqual(asClient.code, 0);

    const keyPublic = await opensslOk(["pkey", "-pubout"], server.keyPem);
    const certPublic = await opensslOk(["x509", "-pubkey", "-noout"], server.certPem);
    assert.equal(keyPublic, certPublic);
  });
});
