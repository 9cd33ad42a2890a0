import assert from "node:assert/strict";
import { join } from "node:path";
import { createCa } from "./ca.ts";
import { caCertFileName, caKeyFileName, loadOrCreateCa } from "./ca_store.ts";
import { ecPublicPoint, exportEcPrivateKeySec1Pem, exportPkcs8Pem, generateEcKeyPair } from "./keys.ts";
import { decodeSinglePemBlock, encodePem } from "./pem.ts";
import { assertRejectsPki, openssl, opensslOk, withTempDir } from "./test_helpers.ts";
import * as x509 from "./x509.ts";

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function snapshot(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const name of await listDir(dir)) {
    const info = await Deno.stat(join(dir, name));
    if (info.isFile) files.set(name, await Deno.readFile(join(dir, name)));
  }
  return files;
}

/** Runs `loadOrCreateCa` expecting a ca_store error that names `file`; the directory must not change. */
async function assertRefusedWithoutChanges(dir: string, file: string, fragment: string): Promise<void> {
  const before = await snapshot(dir);
  const error = await assertRejectsPki(loadOrCreateCa(dir), "ca_store", fragment);
  assert.ok(error.message.includes(join(dir, file)), `message should name ${file}: ${error.message}`);
  assert.deepEqual(await snapshot(dir), before);
}

async function writeStore(dir: string, certPem: string, keyPem: string): Promise<void> {
  await Deno.writeTextFile(join(dir, caCertFileName), certPem);
  await Deno.writeTextFile(join(dir, caKeyFileName), keyPem);
}

Deno.test("loadOrCreateCa creates a CA once, with private permissions, then loads the same CA", async () => {
  await withTempDir(async (parent) => {
    const dir = join(parent, "state", "ca");
    const created = await loadOrCreateCa(dir);
    assert.equal(created.created, true);

    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    // Only the two files: the temp files were renamed, none left behind.
    assert.deepEqual(await listDir(dir), [caKeyFileName, caCertFileName].sort());
    for (const name of [caCertFileName, caKeyFileName]) {
      assert.equal((await Deno.stat(join(dir, name))).mode! & 0o777, 0o600, name);
    }
    const keyText = await Deno.readTextFile(join(dir, caKeyFileName));
    assert.match(keyText, /^-----BEGIN EC PRIVATE KEY-----\n/);
    await opensslOk(["ec", "-check", "-noout"], keyText);
    assert.equal(await Deno.readTextFile(join(dir, caCertFileName)), created.certPem);

    const loaded = await loadOrCreateCa(dir);
    assert.equal(loaded.created, false);
    assert.equal(loaded.certPem, created.certPem);
    assert.ok(loaded.cert.equal(created.cert));
    assert.deepEqual(await ecPublicPoint(loaded.key), await ecPublicPoint(created.key));
  });
});

Deno.test("loadOrCreateCa leaves the mode of an existing directory alone", async () => {
  await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o755);
    await loadOrCreateCa(dir);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o755);
  });
});

Deno.test("loadOrCreateCa refuses when only one of the two files exists", async () => {
  await withTempDir(async (dir) => {
    const ca = await createCa();
    await Deno.writeTextFile(join(dir, caCertFileName), ca.certPem);
    await assertRefusedWithoutChanges(dir, caKeyFileName, "is missing");
    await Deno.remove(join(dir, caCertFileName));
    await Deno.writeTextFile(join(dir, caKeyFileName), await exportEcPrivateKeySec1Pem(ca.key));
    await assertRefusedWithoutChanges(dir, caCertFileName, "is missing");
  });
});

Deno.test("loadOrCreateCa refuses a corrupt key or certificate and does not touch the files", async () => {
  await withTempDir(async (dir) => {
    await loadOrCreateCa(dir);
    const goodKey = await Deno.readTextFile(join(dir, caKeyFileName));
    const goodCert = await Deno.readTextFile(join(dir, caCertFileName));

    await Deno.writeTextFile(join(dir, caKeyFileName), goodKey.replace(/\n[A-Za-z0-9+/]{8}/, "\n!!!!!!!!"));
    await assertRefusedWithoutChanges(dir, caKeyFileName, "not a usable EC private key");
    await Deno.writeTextFile(join(dir, caKeyFileName), "");
    await assertRefusedWithoutChanges(dir, caKeyFileName, "no PEM block");
    // Valid PEM and DER, but one byte of the private scalar changed.
    const der = decodeSinglePemBlock(goodKey, "key").der;
    der[10] ^= 0xff;
    await Deno.writeTextFile(join(dir, caKeyFileName), encodePem("EC PRIVATE KEY", der));
    await assertRefusedWithoutChanges(dir, caKeyFileName, "Refusing to create a new CA");

    await writeStore(dir, goodCert.slice(0, 200) + goodCert.slice(260), goodKey);
    await assertRefusedWithoutChanges(dir, caCertFileName, "is invalid");
    await writeStore(dir, goodKey, goodKey);
    await assertRefusedWithoutChanges(dir, caCertFileName, "not CERTIFICATE");
  });
});

Deno.test("loadOrCreateCa refuses a path that is not a regular file", async () => {
  await withTempDir(async (dir) => {
    await loadOrCreateCa(dir);
    await Deno.remove(join(dir, caKeyFileName));
    await Deno.mkdir(join(dir, caKeyFileName));
    await assertRefusedWithoutChanges(dir, caKeyFileName, "not a regular file");
  });
});

Deno.test("loadOrCreateCa refuses a key that does not belong to the certificate", async () => {
  await withTempDir(async (dir) => {
    const ca = await createCa();
    const otherKey = (await generateEcKeyPair("P-256")).privateKey;
    await writeStore(dir, ca.certPem, await exportEcPrivateKeySec1Pem(otherKey));
    await assertRefusedWithoutChanges(dir, caKeyFileName, "does not hold the private key");
    // Same curve mismatch as well as a different curve.
    await writeStore(
      dir,
      ca.certPem,
      await exportEcPrivateKeySec1Pem((await generateEcKeyPair("P-384")).privateKey),
    );
    await assertRefusedWithoutChanges(dir, caKeyFileName, "does not hold the private key");
  });
});

Deno.test("loadOrCreateCa refuses a certificate that is not a CA", async () => {
  await withTempDir(async (dir) => {
    const keys = await generateEcKeyPair("P-256");
    const leaf = await x509.X509CertificateGenerator.createSelfSigned({
      name: "O=otterscale, CN=not-a-ca",
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    await writeStore(dir, leaf.toString("pem"), await exportEcPrivateKeySec1Pem(keys.privateKey));
    await assertRefusedWithoutChanges(dir, caCertFileName, "not a CA");
  });
});

Deno.test("loadOrCreateCa loads a PKCS#8 key file and an OpenSSL-made CA", async () => {
  await withTempDir(async (dir) => {
    const ca = await createCa({ curve: "P-384" });
    await writeStore(dir, ca.certPem, await exportPkcs8Pem(ca.key));
    const loaded = await loadOrCreateCa(dir);
    assert.equal(loaded.created, false);
    assert.deepEqual(await ecPublicPoint(loaded.key), await ecPublicPoint(ca.key));
  });
  await withTempDir(async (dir) => {
    const result = await openssl([
      "req",
      "-x509",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "pkcs8.pem"),
      "-out",
      join(dir, caCertFileName),
      "-subj",
      "/O=otterscale/CN=otterscale-ca",
      "-days",
      "30",
    ]);
    assert.equal(result.code, 0, result.stderr);
    // The reference Go server writes SEC1; convert OpenSSL's PKCS#8 output to that form.
    await opensslOk(["ec", "-in", join(dir, "pkcs8.pem"), "-out", join(dir, caKeyFileName)]);
    await Deno.remove(join(dir, "pkcs8.pem"));
    assert.match(await Deno.readTextFile(join(dir, caKeyFileName)), /BEGIN EC PRIVATE KEY/);
    const loaded = await loadOrCreateCa(dir);
    assert.equal(loaded.created, false);
    assert.equal(loaded.cert.subject, "O=otterscale, CN=otterscale-ca");
  });
});
