import { fetchJson, type FetchJsonOptions } from "./fetch_json.ts";

/** The parts of an OpenID Provider's metadata the hub uses. */
export type ProviderMetadata = { issuer: string; jwksUri: string };

/** `<issuer>/.well-known/openid-configuration`, with any trailing slash of the issuer dropped first. */
export function discoveryUrl(issuerUrl: string): string {
  return `${issuerUrl.replace(/\/+$/, "")}/.well-known/openid-configuration`;
}

/**
 * Fetches the provider metadata of `issuerUrl` and checks it. The document's `issuer` must equal
 * `issuerUrl` exactly — a trailing-slash difference is a mismatch too — because tokens are later checked
 * against that exact string and a lenient match here would only move the failure to every request.
 */
export async function discoverProvider(
  issuerUrl: string,
  options: FetchJsonOptions,
): Promise<ProviderMetadata> {
  const url = discoveryUrl(issuerUrl);
  const document = await fetchJson(url, options);
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new Error(`OIDC discovery document at ${url} is not a JSON object`);
  }
  const { issuer, jwks_uri: jwksUri } = document as Record<string, unknown>;
  if (issuer !== issuerUrl) {
    throw new Error(
      `OIDC discovery document at ${url} names issuer ${JSON.stringify(issuer)}, expected exactly ` +
        JSON.stringify(issuerUrl),
    );
  }
  if (typeof jwksUri !== "string" || !isHttpUrl(jwksUri)) {
    throw new Error(
      `OIDC discovery document at ${url} has no valid "jwks_uri" (got ${JSON.stringify(jwksUri)})`,
    );
  }
  return { issuer, jwksUri };
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === "https:" || protocol === "http:";
  } catch {
    return false;
  }
}
