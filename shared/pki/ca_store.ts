import { basename, join } from "node:path";
import { type Ca, caCertificateProblem, createCa } from "./ca.ts";
import { errorMessage, parseCertificate } from "./certificate.ts";
import { PkiError } from "./errors.ts";
import {
  type EcCurve,
  type EcPublicPoint,
  ecPublicPoint,
  exportEcPrivateKeySec1Pem,
  importEcPrivateKeyPem,
} from "./keys.ts";
import type * as x509 from "./x509.ts";

export const caCertFileName = "ca.pem";
export const caKeyFileName = "ca-key.pem";

export interface LoadOrCreateCaOptions {
  /** Curve for a newly created CA (default P-256); a loaded CA keeps its own. */
  curve?: EcCurve;
  now?: Date;
}

export interface StoredCa extends Ca {
  /** True when this call generated the CA (worth a log line: agents must enrol against it). */
  created: boolean;
}

/**
 * Loads the CA from `dir`, or creates it there when neither file exists.
 *
 * Any other state (one file only, unreadable, corrupt, not a CA, expired, key not matching the
 * certificate) throws PkiError(ca_store) naming the file and leaves the files untouched:
 * replacing a CA silently would cut off every enrolled agent, so that decision is the operator's.
 *
 * Files: `ca.pem` (PEM CERTIFICATE) and `ca-key.pem` (PEM EC PRIVATE KEY, SEC1, as the reference Go
 * server reads it; a PKCS#8 PRIVATE KEY is accepted on load too).
 */
export async function loadOrCreateCa(dir: string, options: LoadOrCreateCaOptions = {}): Promise<StoredCa> {
  const certPath = join(dir, caCertFileName);
  const keyPath = join(dir, caKeyFileName);
  const [certExists, keyExists] = await Promise.all([fileExists(certPath), fileExists(keyPath)]);
  if (!certExists && !keyExists) return await createAndStoreCa(dir, certPath, keyPath, options);
  if (!certExists) throw refuseToReplace(certPath, `is missing while ${keyPath} exists`);
  if (!keyExists) throw refuseToReplace(keyPath, `is missing while ${certPath} exists`);
  return { ...(await loadCa(certPath, keyPath, options.now ?? new Date())), created: false };
}

async function loadCa(certPath: string, keyPath: string, now: Date): Promise<Ca> {
  const certPem = await readText(certPath);
  const cert = parseCaCertificate(certPath, certPem, now);
  const key = await importCaKey(keyPath, await readText(keyPath));
  const certPoint = await certificatePublicPoint(certPath, cert);
  const keyPoint = await ecPublicPoint(key);
  if (certPoint.curve !== keyPoint.curve || certPoint.x !== keyPoint.x || certPoint.y !== keyPoint.y) {
    throw refuseToReplace(keyPath, `does not hold the private key of the certificate in ${certPath}`);
  }
  return { cert, key, certPem };
}

function parseCaCertificate(certPath: string, certPem: string, now: Date): x509.X509Certificate {
  let cert: x509.X509Certificate;
  try {
    cert = parseCertificate(certPem, "certificate");
  } catch (error) {
    throw refuseToReplace(certPath, `is invalid: ${errorMessage(error)}`, error);
  }
  const problem = caCertificateProblem(cert, now);
  if (problem) throw refuseToReplace(certPath, `is unusable: ${problem}`);
  return cert;
}

async function importCaKey(keyPath: string, keyPem: string): Promise<CryptoKey> {
  try {
    return await importEcPrivateKeyPem(keyPem);
  } catch (error) {
    throw refuseToReplace(keyPath, `is not a usable EC private key: ${errorMessage(error)}`, error);
  }
}

async function certificatePublicPoint(certPath: string, cert: x509.X509Certificate): Promise<EcPublicPoint> {
  try {
    return await ecPublicPoint(await cert.publicKey.export());
  } catch (error) {
    throw refuseToReplace(certPath, `has an unusable public key: ${errorMessage(error)}`, error);
  }
}

async function createAndStoreCa(
  dir: string,
  certPath: string,
  keyPath: string,
  options: LoadOrCreateCaOptions,
): Promise<StoredCa> {
  // mode applies only to directories created here; an existing directory keeps its mode.
  await attemptAsync(dir, () => Deno.mkdir(dir, { recursive: true, mode: 0o700 }), "cannot be created");
  const ca = await createCa(options);
  const keyPem = await exportEcPrivateKeySec1Pem(ca.key);
  // Key first: a crash in between leaves a key without a certificate, which the next start reports
  // instead of guessing.
  await writeFileAtomically(dir, keyPath, keyPem);
  await writeFileAtomically(dir, certPath, ca.certPem);
  return { ...ca, created: true };
}

/** Temp file in the same directory, 0600 before any byte is written, synced, then renamed over. */
async function writeFileAtomically(dir: string, path: string, text: string): Promise<void> {
  const tempPath = await attemptAsync(
    dir,
    () => Deno.makeTempFile({ dir, prefix: `${basename(path)}.tmp.` }),
    "cannot hold a new file",
  );
  try {
    await Deno.chmod(tempPath, 0o600);
    const file = await Deno.open(tempPath, { write: true, truncate: true });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tempPath, path);
  } catch (error) {
    await Deno.remove(tempPath).catch(() => {});
    throw storeError(path, `cannot be written: ${errorMessage(error)}`, error);
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw refuseToReplace(path, "is not a regular file");
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    if (error instanceof PkiError) throw error;
    throw refuseToReplace(path, `cannot be inspected: ${errorMessage(error)}`, error);
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw refuseToReplace(path, `cannot be read: ${errorMessage(error)}`, error);
  }
}

async function attemptAsync<T>(path: string, action: () => Promise<T>, what: string): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw storeError(path, `${what}: ${errorMessage(error)}`, error);
  }
}

function storeError(path: string, problem: string, cause?: unknown): PkiError {
  return new PkiError(
    "ca_store",
    `CA store: ${path} ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

/** A broken existing CA: say what to do, because the fix (a new CA) has consequences. */
function refuseToReplace(path: string, problem: string, cause?: unknown): PkiError {
  return storeError(
    path,
    `${problem}. Refusing to create a new CA over it: restore the file, or remove both ${caCertFileName} and ` +
      `${caKeyFileName} to create a new CA (every agent must then enrol again)`,
    cause,
  );
}
