/**
 * Authenticates every call except the public ones, and puts the caller's
 * identity on the call for the handlers.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { bearerToken } from "../auth/bearer.ts";
import type { TokenVerifier } from "../auth/verified_token_cache.ts";
import { identityKey } from "./context.ts";

export type { TokenVerifier };

/**
 * Calls that must work without a user: agents enrol before they have any
 * identity (Register checks its own enrolment token), and probes and API
 * explorers call health and reflection.
 */
export const publicServices: ReadonlySet<string> = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);
export const publicProcedures: ReadonlySet<string> = new Set([
  "/otterscale.fleet.v1.FleetService/Register",
]);

export function isPublic(serviceTypeName: string, methodName: string): boolean {
  return publicServices.has(serviceTypeName) || publicProcedures.has(`/${serviceTypeName}/${methodName}`);
}

export function createAuthInterceptor(verifier: TokenVerifier): Interceptor {
  return (next) => async (req) => {
    if (isPublic(req.service.typeName, req.method.name)) return next(req);
    const token = bearerToken(req.header.get("authorization"));
    if (!token) throw new ConnectError("missing bearer token", Code.Unauthenticated);
    req.contextValues.set(identityKey, await verifier.verify(token));
    return next(req);
  };
}
