/**
 * Sign-in with Keycloak from a browser page: the OAuth 2.0 authorization code flow with PKCE
 * for a public client (no secret in the page). The page redirects to Keycloak's login page,
 * Keycloak redirects back with a code, and the page trades code and verifier for tokens.
 */

export interface OidcClient {
  /** e.g. http://127.0.0.1:18080/realms/otterscale */
  realmUrl: string;
  /** A public client with the standard flow enabled (the test realm's `otterscale-web`). */
  clientId: string;
  /** Where Keycloak sends the browser back; must be one of the client's redirect URIs. */
  redirectUri: string;
}

/** What the page remembers between leaving for Keycloak and coming back. */
export interface PendingSignIn {
  state: string;
  verifier: string;
}

export interface Tokens {
  accessToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function randomText(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** RFC 7636 S256: base64url(SHA-256(verifier)). */
export async function codeChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** A fresh state and verifier, and the Keycloak URL to send the browser to. */
export async function beginSignIn(client: OidcClient): Promise<{ pending: PendingSignIn; url: URL }> {
  const pending = { state: randomText(16), verifier: randomText(32) };
  const url = new URL(`${client.realmUrl}/protocol/openid-connect/auth`);
  url.search = new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: "code",
    scope: "openid",
    state: pending.state,
    code_challenge: await codeChallenge(pending.verifier),
    code_challenge_method: "S256",
  }).toString();
  return { pending, url };
}

/** The code Keycloak sent back, or undefined when the URL carries none. Throws on a login error. */
export function returnedCode(location: URL, pending: PendingSignIn | undefined): string | undefined {
  const error = location.searchParams.get("error");
  if (error) {
    throw new Error(
      `Keycloak refused the sign-in: ${error} ${location.searchParams.get("error_description") ?? ""}`,
    );
  }
  const code = location.searchParams.get("code");
  if (!code) return undefined;
  // The state proves the answer belongs to a sign-in this page started (no login CSRF).
  if (!pending || location.searchParams.get("state") !== pending.state) {
    throw new Error("the sign-in answer does not match the sign-in this page started");
  }
  return code;
}

/** Trades the code for tokens at Keycloak's token endpoint (a cross-origin call Keycloak allows). */
export async function exchangeCode(
  client: OidcClient,
  code: string,
  pending: PendingSignIn,
  fetcher: typeof fetch = fetch,
): Promise<Tokens> {
  const tokenUrl = `${client.realmUrl}/protocol/openid-connect/token`;
  const response = await fetcher(tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: client.redirectUri,
      client_id: client.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.access_token !== "string") {
    throw new Error(`token request to ${tokenUrl} failed: ${response.status} ${body.error ?? ""}`);
  }
  return { accessToken: body.access_token, expiresAt: Date.now() + Number(body.expires_in ?? 0) * 1000 };
}

/** The token's claims, unverified: only for showing who signed in; the hub verifies the token. */
export function claimsOf(accessToken: string): Record<string, unknown> {
  const payload = accessToken.split(".")[1] ?? "";
  const json = atob(payload.replaceAll("-", "+").replaceAll("_", "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}
