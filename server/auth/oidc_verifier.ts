import { Code, ConnectError } from "@connectrpc/connect";
import { errors, jwtVerify, type JWTVerifyOptions, type JWTVerifyResult } from "jose";
import { backoffDelayMs, type BackoffPolicy } from "../../shared/backoff.ts";
import { messageOf } from "./fetch_json.ts";
import { type Identity, identityFromClaims } from "./identity.ts";
import { JwksCache } from "./jwks_cache.ts";
import { type AuthLogger, noopLogger } from "./logger.ts";
import { discoverProvider } from "./oidc_discovery.ts";

/**
 * Asymmetric JWS algorithms only: `none` and HS* are never accepted, whatever the token header or the
 * provider metadata say (HS* with a public key as the secret is the classic key-confusion forgery).
 */
export const ALLOWED_ALGORITHMS: readonly string[] = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

export const DEFAULT_CLOCK_SKEW_SECONDS = 30;
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };
// Far above any real OIDC token (Keycloak's with many groups stay under 8 KiB); bounds parsing work.
export const DEFAULT_MAX_TOKEN_LENGTH = 64 * 1024;

export type OidcVerifierOptions = {
  /** The realm URL, e.g. `https://keycloak.example/realms/otterscale`; must equal the provider's `issuer`. */
  issuerUrl: string;
  /** Required in every token's `aud`. */
  clientId: string;
  /** Tolerance for `exp`, `nbf` and `iat`. Default 30. */
  clockSkewSeconds?: number;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch; drives token time checks and JWKS cache ages. */
  now?: () => number;
  /** In [0, 1); jitter source for the discovery backoff. */
  random?: () => number;
  log?: AuthLogger;
  /** Retry delays while discovery (or the first JWKS fetch) fails. Default 0.5 s doubling up to 30 s. */
  backoff?: BackoffPolicy;
  /** Timeout of each discovery or JWKS request. Default 10 s. */
  requestTimeoutMs?: number;
  jwksRefetchCooldownMs?: number;
  jwksMaxAgeMs?: number;
  maxTokenLength?: number;
};

/** What the health service reports: whether tokens can be verified, and why not. */
export type Readiness = { ready: boolean; detail: string };

export type ReadinessListener = (readiness: Readiness) => void;

type Provider = { issuer: string; jwks: JwksCache };

/**
 * Verifies OIDC bearer tokens and maps them to an Identity.
 *
 * Discovery and the first JWKS fetch run in the background with backoff, so the hub starts even while
 * the IdP is briefly unreachable; until they succeed `verify` rejects every token. Once ready it stays
 * ready: later JWKS failures keep the keys already loaded.
 */
export class OidcVerifier {
  #options: OidcVerifierOptions;
  #now: () => number;
  #log: AuthLogger;
  #skewSeconds: number;
  #maxTokenLength: number;

  #provider: Provider | undefined;
  #readiness: Readiness;
  #listeners = new Set<ReadinessListener>();
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #wakeSleeper: (() => void) | undefined;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: OidcVerifierOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? noopLogger;
    this.#skewSeconds = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
    this.#maxTokenLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
    this.#readiness = { ready: false, detail: `OIDC discovery of ${options.issuerUrl} not started` };
  }

  /** Starts background discovery; idempotent. */
  start(): void {
    if (this.#loop || this.#abort.signal.aborted) return;
    this.#loop = this.#discoverUntilReady();
  }

  readiness(): Readiness {
    return { ...this.#readiness };
  }

  /** Calls `listener` whenever `ready` flips. Returns a function that unsubscribes. */
  onChange(listener: ReadinessListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Verifies a bearer token (as returned by `bearerToken`) and returns the caller's Identity. Rejects with
   * ConnectError Unauthenticated and a generic message; the actual reason goes to the debug log only.
   */
  async verify(token: string | undefined): Promise<Identity> {
    if (!token) {
      this.#log("debug", "bearer token rejected", { reason: "missing" });
      throw new ConnectError("missing bearer token", Code.Unauthenticated);
    }
    try {
      return await this.#verifyToken(token);
    } catch (error) {
      this.#log("debug", "bearer token rejected", {
        reason: messageOf(error),
        code: (error as { code?: unknown } | null)?.code,
      });
      throw new ConnectError("invalid bearer token", Code.Unauthenticated);
    }
  }

  /** Stops background discovery and aborts its requests; resolves when nothing is left running. */
  async close(): Promise<void> {
    this.#abort.abort(new Error("OIDC verifier closed"));
    this.#wakeSleeper?.();
    await this.#loop;
    this.#provider = undefined;
    this.#setReadiness({ ready: false, detail: "OIDC verifier closed" });
  }

  async #verifyToken(token: string): Promise<Identity> {
    const provider = this.#provider;
    if (!provider) throw new Error(`OIDC verifier not ready: ${this.#readiness.detail}`);
    if (token.length > this.#maxTokenLength) {
      throw new Error(`token is ${token.length} characters, limit ${this.#maxTokenLength}`);
    }
    const options: JWTVerifyOptions = {
      algorithms: [...ALLOWED_ALGORITHMS],
      issuer: provider.issuer,
      audience: this.#options.clientId,
      requiredClaims: ["exp", "sub"],
      clockTolerance: this.#skewSeconds,
      currentDate: new Date(this.#now()),
    };
    const { payload } = await verifyWithAnyMatchingKey(token, provider.jwks, options);
    // jose checks "iat" only together with maxTokenAge; a token minted in the future means a broken or
    // hostile issuer clock.
    if (typeof payload.iat === "number" && payload.iat > this.#now() / 1000 + this.#skewSeconds) {
      throw new Error(`"iat" ${payload.iat} is in the future`);
    }
    return identityFromClaims(payload);
  }

  async #discoverUntilReady(): Promise<void> {
    const { issuerUrl } = this.#options;
    const signal = this.#abort.signal;
    const timeoutMs = this.#options.requestTimeoutMs ?? 10_000;
    const fetchFn = this.#options.fetch ?? fetch;
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        const metadata = await discoverProvider(issuerUrl, { fetch: fetchFn, timeoutMs, signal });
        const jwks = new JwksCache({
          jwksUri: metadata.jwksUri,
          fetch: fetchFn,
          now: this.#now,
          refetchCooldownMs: this.#options.jwksRefetchCooldownMs,
          maxAgeMs: this.#options.jwksMaxAgeMs,
          timeoutMs,
          signal,
          log: this.#log,
        });
        await jwks.refresh();
        this.#provider = { issuer: metadata.issuer, jwks };
        this.#log("info", "OIDC provider ready", { issuer: metadata.issuer, jwksUri: metadata.jwksUri });
        this.#setReadiness({
          ready: true,
          detail: `issuer ${metadata.issuer}, keys from ${metadata.jwksUri}`,
        });
        return;
      } catch (error) {
        if (signal.aborted) return;
        const delayMs = Math.round(
          backoffDelayMs(attempt, this.#options.backoff ?? DEFAULT_BACKOFF, this.#options.random),
        );
        const detail = `OIDC discovery of ${issuerUrl} failed (attempt ${
          attempt + 1
        }, next in ${delayMs} ms): ${messageOf(error)}`;
        this.#log("warn", "OIDC discovery failed", {
          issuer: issuerUrl,
          attempt: attempt + 1,
          delayMs,
          error: messageOf(error),
        });
        this.#setReadiness({ ready: false, detail });
        await this.#sleep(delayMs);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeSleeper = () => {
        clearTimeout(this.#sleepTimer);
        this.#wakeSleeper = undefined;
        resolve();
      };
      this.#sleepTimer = setTimeout(this.#wakeSleeper, ms);
    });
  }

  #setReadiness(next: Readiness): void {
    const flipped = next.ready !== this.#readiness.ready;
    this.#readiness = next;
    if (!flipped) return;
    for (const listener of this.#listeners) {
      try {
        listener({ ...next });
      } catch (error) {
        this.#log("error", "OIDC readiness listener threw", { error: messageOf(error) });
      }
    }
  }
}

/** Creates a verifier and starts its background discovery. */
export function startOidcVerifier(options: OidcVerifierOptions): OidcVerifier {
  const verifier = new OidcVerifier(options);
  verifier.start();
  return verifier;
}

// A token without "kid" matches every key of its type; jose then reports several candidates and leaves
// trying them to the caller. Tokens with a kid (Keycloak always sets one) take the first path only.
async function verifyWithAnyMatchingKey(
  token: string,
  jwks: JwksCache,
  options: JWTVerifyOptions,
): Promise<JWTVerifyResult> {
  try {
    return await jwtVerify(token, jwks.getKey, options);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    for await (const key of error) {
      try {
        return await jwtVerify(token, key, options);
      } catch (candidateError) {
        if (!(candidateError instanceof errors.JWSSignatureVerificationFailed)) throw candidateError;
      }
    }
    throw new Error("no key of the JWKS verifies the token signature", { cause: error });
  }
}
