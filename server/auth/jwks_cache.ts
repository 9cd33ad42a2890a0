import { createLocalJWKSet, errors, type JSONWebKeySet } from "jose";
import { fetchJson, messageOf } from "./fetch_json.ts";
import { type AuthLogger, noopLogger } from "./logger.ts";

export type JwksCacheOptions = {
  jwksUri: string;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch; injectable so tests can move time. */
  now?: () => number;
  /** Minimum time between two fetches triggered by verification (unknown kid or expiry). Default 30 s. */
  refetchCooldownMs?: number;
  /** Keys older than this are refetched by the next verification that needs a key. Default 10 min. */
  maxAgeMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  log?: AuthLogger;
};

export const DEFAULT_JWKS_REFETCH_COOLDOWN_MS = 30_000;
export const DEFAULT_JWKS_MAX_AGE_MS = 600_000;

// A public JWKS has no business carrying symmetric keys; trusting one would turn a published "oct" key
// into a forging key. jose's local set already refuses HS* algorithms; this drops such keys outright.
const ASYMMETRIC_KEY_TYPES = new Set(["RSA", "EC", "OKP"]);

type KeySet = ReturnType<typeof createLocalJWKSet>;

/**
 * The provider's signing keys, fetched from `jwks_uri` and kept in memory.
 *
 * Fetch rules (the amplification guard of spec S12):
 * - at most one fetch is in flight; every caller that needs one while it runs waits for that one;
 * - verification starts a fetch (for an unknown kid, or because the keys are older than `maxAgeMs`)
 *   only if the previous fetch STARTED at least `refetchCooldownMs` ago, whatever its outcome — so a flood
 *   of tokens with made-up kids costs at most one fetch per cooldown, even while the endpoint fails;
 * - a failed refetch keeps the previous keys.
 * The trade-off: a key rotated in less than the cooldown after the last fetch is rejected until the
 * cooldown ends. Keycloak publishes new keys well before it signs with them, so this does not bite.
 *
 * `refresh()` bypasses the cooldown; it is meant for the initial load only.
 */
export class JwksCache {
  readonly jwksUri: string;
  #fetch: typeof fetch;
  #now: () => number;
  #cooldownMs: number;
  #maxAgeMs: number;
  #timeoutMs: number;
  #signal?: AbortSignal;
  #log: AuthLogger;

  #keys: KeySet | undefined;
  #loadedAt = -Infinity;
  #lastFetchStartedAt = -Infinity;
  #inFlight: Promise<void> | undefined;
  #fetchCount = 0;

  constructor(options: JwksCacheOptions) {
    this.jwksUri = options.jwksUri;
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
    this.#cooldownMs = options.refetchCooldownMs ?? DEFAULT_JWKS_REFETCH_COOLDOWN_MS;
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_JWKS_MAX_AGE_MS;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#signal = options.signal;
    this.#log = options.log ?? noopLogger;
  }

  /** True once a key set has been loaded. */
  get loaded(): boolean {
    return this.#keys !== undefined;
  }

  /** Number of fetches started so far (for metrics and tests). */
  get fetchCount(): number {
    return this.#fetchCount;
  }

  /** Fetches the key set now (joining a fetch already in flight). Rejects if the fetch fails. */
  refresh(): Promise<void> {
    this.#inFlight ??= this.#load().finally(() => this.#inFlight = undefined);
    return this.#inFlight;
  }

  /** Key resolver for jose's `jwtVerify`. */
  readonly getKey = async (...[header, token]: Parameters<KeySet>): ReturnType<KeySet> => {
    if (!this.#keys || this.#now() - this.#loadedAt >= this.#maxAgeMs) {
      await this.#refreshUnlessCoolingDown(this.#keys ? "keys expired" : "no keys loaded");
    }
    const keys = this.#keys;
    if (!keys) throw new Error(`no JWKS loaded from ${this.jwksUri}`);
    try {
      return await keys(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      if (!await this.#refreshUnlessCoolingDown(`unknown kid ${JSON.stringify(header?.kid)}`)) throw error;
      return await this.#keys!(header, token);
    }
  };

  /** Returns true when a fetch ran (or was joined) and succeeded, false when skipped or failed. */
  async #refreshUnlessCoolingDown(reason: string): Promise<boolean> {
    const joining = this.#inFlight !== undefined;
    if (!joining) {
      const sinceLastMs = this.#now() - this.#lastFetchStartedAt;
      if (sinceLastMs < this.#cooldownMs) {
        this.#log("debug", "JWKS refetch skipped: cooling down", {
          reason,
          jwksUri: this.jwksUri,
          sinceLastMs,
        });
        return false;
      }
      this.#log("debug", "refetching JWKS", { reason, jwksUri: this.jwksUri });
    }
    try {
      await this.refresh();
      return true;
    } catch (error) {
      // Only the caller that started the fetch reports it, so a flood yields one warning, not hundreds.
      this.#log(joining ? "debug" : "warn", "JWKS refetch failed; keeping the previous keys", {
        jwksUri: this.jwksUri,
        error: messageOf(error),
      });
      return false;
    }
  }

  async #load(): Promise<void> {
    // Recorded before the request so concurrent callers see the cooldown immediately and a failing endpoint
    // is not retried per request.
    this.#lastFetchStartedAt = this.#now();
    this.#fetchCount++;
    const body = await fetchJson(this.jwksUri, {
      fetch: this.#fetch,
      timeoutMs: this.#timeoutMs,
      signal: this.#signal,
    });
    this.#keys = createLocalJWKSet(usableKeySet(body, this.jwksUri));
    this.#loadedAt = this.#now();
  }
}

function usableKeySet(body: unknown, jwksUri: string): JSONWebKeySet {
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error(`JWKS at ${jwksUri} has no "keys" array`);
  const usable = keys.filter((key) =>
    ASYMMETRIC_KEY_TYPES.has((key as { kty?: unknown } | null)?.kty as string)
  );
  if (usable.length === 0) {
    throw new Error(`JWKS at ${jwksUri} has no asymmetric keys (${keys.length} keys in total)`);
  }
  return { keys: usable };
}
