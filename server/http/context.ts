/**
 * Values the HTTP layer puts on every call for the handlers: who is calling
 * and under which request id to log.
 */
import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Identity } from "../auth/identity.ts";

export const identityKey = createContextKey<Identity | undefined>(undefined, {
  description: "caller identity",
});
export const requestIdKey = createContextKey<string>("", { description: "request id" });

/** The authenticated caller; public procedures have none. */
export function requireIdentity(ctx: HandlerContext): Identity {
  const identity = ctx.values.get(identityKey);
  if (!identity) throw new ConnectError("this call needs a bearer token", Code.Unauthenticated);
  return identity;
}
