/**
 * CORS for browser clients on other origins. Only configured origins get a
 * grant; everyone else gets no CORS headers at all, so the browser blocks the
 * response.
 */
import { cors as connectCors } from "@connectrpc/connect";

export interface CorsPolicy {
  /** Exact origins such as `https://app.example.com`, or `*` for any. */
  allowedOrigins: readonly string[];
}

const allowMethods = [...new Set([...connectCors.allowedMethods, "OPTIONS"])].join(", ");
// Authorization carries the OIDC bearer token; the reference forgot it, which
// broke every cross-origin browser client (its bug B14).
const allowHeaders = [...new Set([...connectCors.allowedHeaders, "Authorization", "X-Request-Id"])].join(
  ", ",
);
const exposeHeaders = [...new Set([...connectCors.exposedHeaders, "X-Request-Id"])].join(", ");
const preflightMaxAgeSeconds = "7200";

export function originAllowed(policy: CorsPolicy, origin: string | undefined): origin is string {
  if (!origin) return false;
  return policy.allowedOrigins.includes("*") || policy.allowedOrigins.includes(origin);
}

export function isPreflight(method: string | undefined, headers: Record<string, unknown>): boolean {
  return method === "OPTIONS" && typeof headers["access-control-request-method"] === "string";
}

/** Headers for a preflight answer, or undefined when the origin gets no grant. */
export function preflightHeaders(
  policy: CorsPolicy,
  origin: string | undefined,
): Record<string, string> | undefined {
  if (!originAllowed(policy, origin)) return undefined;
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-methods": allowMethods,
    "access-control-allow-headers": allowHeaders,
    "access-control-max-age": preflightMaxAgeSeconds,
    "vary": "Origin",
  };
}

/** Headers added to an actual (non-preflight) response. */
export function responseHeaders(policy: CorsPolicy, origin: string | undefined): Record<string, string> {
  if (!originAllowed(policy, origin)) return {};
  return {
    "access-control-allow-origin": origin,
    "access-control-expose-headers": exposeHeaders,
    "vary": "Origin",
  };
}
