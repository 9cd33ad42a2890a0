/**
 * One request to a cluster as one caller, with every failure already a ConnectError from the one error
 * table: transport failures (unavailable), timeouts (deadline_exceeded), the caller going away, and
 * non-2xx answers (their Status).
 */
import type { IncomingResponse } from "../../shared/http1/client.ts";
import type { JsonValue } from "@bufbuild/protobuf";
import { toConnectError } from "../../shared/errors.ts";
import type { Identity } from "../auth/identity.ts";
import type { ClusterAccess, KubeRequest } from "./kube.ts";
import { errorFromResponse, readJson } from "./kube_json.ts";

/** Who asks which cluster. */
export interface ClusterCaller {
  access: ClusterAccess;
  cluster: string;
  identity: Identity;
}

/**
 * A unary call that gets no answer within this time fails with deadline_exceeded, even when the client
 * set no deadline: a stuck agent must not hold handlers forever. Watch has no such limit.
 */
export const UNARY_TIMEOUT_MS = 60_000;

/** The largest JSON answer read whole (single objects, discovery, OpenAPI documents). */
export const JSON_BODY_LIMIT = 64 * 1024 * 1024;

/**
 * Sends `request` and resolves with a 2xx response whose body is still to be read. `action` says what
 * was attempted, for error messages (e.g. `list pods on cluster "alpha"`).
 */
export async function send(
  caller: ClusterCaller,
  request: KubeRequest,
  action: string,
): Promise<IncomingResponse> {
  let response: IncomingResponse;
  try {
    response = await caller.access.request(caller.cluster, caller.identity, request);
  } catch (error) {
    throw toConnectError(error, { action, signal: request.signal });
  }
  const status = response.statusCode ?? 0;
  if (status >= 200 && status < 300) return response;
  throw await errorFromResponse(response);
}

export interface JsonCallOptions {
  action: string;
  /** The caller's signal (client cancel or deadline). */
  signal?: AbortSignal;
  timeoutMs?: number;
  limitBytes?: number;
}

/** A request whose JSON answer is read whole, under a time limit. */
export function callJson(
  caller: ClusterCaller,
  request: KubeRequest,
  options: JsonCallOptions,
): Promise<JsonValue> {
  const limit = options.limitBytes ?? JSON_BODY_LIMIT;
  return call(caller, request, options, (response) => readJson(response, limit, options.action));
}

/**
 * A request whose 2xx answer `read` consumes, under a time limit that covers reading the body too.
 * Whatever fails (sending, the answer, reading) comes out as a ConnectError.
 */
export function call<T>(
  caller: ClusterCaller,
  request: KubeRequest,
  options: Omit<JsonCallOptions, "limitBytes">,
  read: (response: IncomingResponse) => Promise<T>,
): Promise<T> {
  return withTimeout(options.signal, options.timeoutMs ?? UNARY_TIMEOUT_MS, async (signal) => {
    try {
      return await read(await send(caller, { ...request, signal }, options.action));
    } catch (error) {
      throw toConnectError(error, { action: options.action, signal });
    }
  });
}

/**
 * Runs `run` with a signal that aborts when `parent` does or after `timeoutMs`, whichever comes first
 * (the timeout's reason is a TimeoutError, which the error table maps to deadline_exceeded).
 */
export async function withTimeout<T>(
  parent: AbortSignal | undefined,
  timeoutMs: number,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const forward = () => controller.abort(parent?.reason);
  if (parent?.aborted) forward();
  else parent?.addEventListener("abort", forward, { once: true });
  const timer = setTimeout(
    () => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError")),
    timeoutMs,
  );
  try {
    return await run(controller.signal);
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener("abort", forward);
  }
}
