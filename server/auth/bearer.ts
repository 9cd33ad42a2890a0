// `\S+` keeps a token with embedded spaces (e.g. "Bearer a b") from being half-accepted.
const BEARER = /^\s*bearer\s+(\S+)\s*$/i;

/**
 * Returns the token of an `Authorization` header value of the form `Bearer <token>` (scheme matched
 * case-insensitively, surrounding whitespace ignored), or undefined for anything else.
 */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  if (!authorization) return undefined;
  return BEARER.exec(authorization)?.[1];
}
