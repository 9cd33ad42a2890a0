import type { JsonName } from "./x509.ts";

/** Every certificate we issue is backdated by this much to tolerate clock skew between hosts. */
export const clockSkewAllowanceMs = 5 * 60 * 1000;

export const organization = "otterscale";

/** Subject `O=otterscale, CN=<commonName>` (RDNs in that order, as the reference writes them). */
export function otterscaleName(commonName: string): JsonName {
  return [{ O: [organization] }, { CN: [commonName] }];
}

/** A random positive 128-bit serial number in hex (RFC 5280 asks for unpredictable serials). */
export function randomSerialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  // An all-zero serial is invalid; the odds are nil, but make it impossible.
  bytes[15] |= bytes.every((byte) => byte === 0) ? 1 : 0;
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** NotBefore/NotAfter for a certificate valid for `lifetimeMs` from `now`, backdated for skew. */
export function validityWindow(now: Date, lifetimeMs: number): { notBefore: Date; notAfter: Date } {
  // X.509 times have whole seconds; truncating keeps what we compute equal to what we encode.
  const seconds = Math.floor(now.getTime() / 1000) * 1000;
  return { notBefore: new Date(seconds - clockSkewAllowanceMs), notAfter: new Date(seconds + lifetimeMs) };
}
