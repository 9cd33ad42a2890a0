// Resource-owner password grant: the quickest way for tests to get a real user's tokens without a browser.

export interface TokenClient {
  realmUrl: string;
  clientId: string;
  clientSecret?: string;
}

export interface TokenResponse {
  access_token: string;
  expires_in: number;
  token_type: string;
  id_token?: string;
  refresh_token?: string;
  refresh_expires_in?: number;
  scope?: string;
  [field: string]: unknown;
}

export function tokenEndpoint(realmUrl: string): string {
  return `${realmUrl}/protocol/openid-connect/token`;
}

/** Asks the realm for tokens with the user's password; throws with the server's error text when refused. */
export async function passwordGrant(
  client: TokenClient,
  username: string,
  password: string,
): Promise<TokenResponse> {
  const form = new URLSearchParams({
    grant_type: "password",
    client_id: client.clientId,
    username,
    password,
  });
  // `openid` adds an ID token beside the access token, which a browser client would also get.
  form.set("scope", "openid");
  if (client.clientSecret !== undefined) form.set("client_secret", client.clientSecret);
  const response = await fetch(tokenEndpoint(client.realmUrl), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: form,
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(
      `password grant for '${username}' at ${
        tokenEndpoint(client.realmUrl)
      } failed: ${response.status} ${text}`,
    );
  }
  const body = JSON.parse(text) as TokenResponse;
  if (typeof body.access_token !== "string") {
    throw new Error(`password grant for '${username}': response has no access_token: ${text.slice(0, 500)}`);
  }
  return body;
}
