/**
 * Remembers tokens that verified, so a client's next calls skip the signature
 * check (ES256/RS256 verification is most of an authenticated call's cost on
 * the hub, ~0.7 ms). An entry lives until the token's own expiry or `maxAgeMs`,
 * whichever comes first, so a withdrawn signing key stops being honoured
 * within `maxAgeMs`. Failures are never remembered.
 */
import { decodeJwt } from "jose";
import type { Identity } from "./identity.ts";

export interface TokenVerifier {
  verify(token: string): Promise<Identity>;
}

export interface VerifiedTokenCacheOptions {
  maxEntries?: number;
  maxAgeMs?: number;
  now?: () => number;
}

interface Entry {
  identity: Identity;
  expiresAt: number;
}

export function cacheVerifiedTokens(
  verifier: TokenVerifier,
  options: VerifiedTokenCacheOptions = {},
): TokenVerifier {
  const maxEntries = options.maxEntries ?? 10_000;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order; re-inserting on a hit makes it an LRU.
  const entries = new Map<string, Entry>();

  return {
    async verify(token) {
      const cached = entries.get(token);
      if (cached && cached.expiresAt > now()) {
        entries.delete(token);
        entries.set(token, cached);
        return cached.identity;
      }
      entries.delete(token);
      const identity = await verifier.verify(token);
      const exp = decodeJwt(token).exp;
      const expiresAt = Math.min(now() + maxAgeMs, typeof exp === "number" ? exp * 1000 : 0);
      if (expiresAt > now()) {
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
        entries.set(token, { identity, expiresAt });
      }
      return identity;
    },
  };
}
