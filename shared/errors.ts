/**
 * The one mapping from what goes wrong on the way to a cluster to Connect codes: Kubernetes `Status`
 * reasons, HTTP statuses without a usable reason, and failures that never reached the apiserver:
 *
 * | failure                                           | code                                             |
 * | ------------------------------------------------- | ------------------------------------------------ |
 * | cluster not connected (ClusterRegistry.connected) | unavailable                                      |
 * | tunnel or agent failure, the agent's 502/503      | unavailable                                      |
 * | no answer in time (ours or the caller's deadline) | deadline_exceeded                                |
 * | the caller went away                              | canceled                                         |
 * | resource version or continue token too old (410)  | out_of_range: "resource version too old; relist" |
 * | any other Kubernetes Status                       | KUBE_REASON_CODES, else HTTP_STATUS_CODES        |
 *
 * Messages keep the Kubernetes wording (it names the object and the verb), but addresses and URLs are
 * replaced: a client of the hub must not learn the cluster's internal network (webhook URLs, node IPs,
 * the apiserver's host and port).
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** The parts of a Kubernetes `metav1.Status` the mapping reads. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: Record<string, unknown>;
}

/**
 * Kubernetes `Status.reason` → Connect code. Gone and Expired both mean "the resource version or continue
 * token you hold is too old": OutOfRange tells the client to relist, distinct from a missing object.
 * Conflict is an optimistic-concurrency failure (resourceVersion mismatch, or an apply field conflict):
 * Aborted, so the client re-reads and retries, or applies with force.
 */
export const KUBE_REASON_CODES: Readonly<Record<string, Code>> = {
  Unauthorized: Code.Unauthenticated,
  Forbidden: Code.PermissionDenied,
  NotFound: Code.NotFound,
  AlreadyExists: Code.AlreadyExists,
  Conflict: Code.Aborted,
  Gone: Code.OutOfRange,
  Expired: Code.OutOfRange,
  Invalid: Code.InvalidArgument,
  BadRequest: Code.InvalidArgument,
  NotAcceptable: Code.InvalidArgument,
  UnsupportedMediaType: Code.InvalidArgument,
  MethodNotAllowed: Code.Unimplemented,
  RequestEntityTooLarge: Code.ResourceExhausted,
  TooManyRequests: Code.ResourceExhausted,
  ServerTimeout: Code.DeadlineExceeded,
  Timeout: Code.DeadlineExceeded,
  ServiceUnavailable: Code.Unavailable,
  InternalError: Code.Internal,
  StoreReadError: Code.Internal,
};

/** HTTP status → Connect code, for answers whose body carries no known reason (e.g. "404 page not found"). */
export const HTTP_STATUS_CODES: Readonly<Record<number, Code>> = {
  400: Code.InvalidArgument,
  401: Code.Unauthenticated,
  403: Code.PermissionDenied,
  404: Code.NotFound,
  405: Code.Unimplemented,
  406: Code.InvalidArgument,
  409: Code.Aborted,
  410: Code.OutOfRange,
  413: Code.ResourceExhausted,
  415: Code.InvalidArgument,
  422: Code.InvalidArgument,
  429: Code.ResourceExhausted,
  500: Code.Internal,
  501: Code.Unimplemented,
  502: Code.Unavailable,
  503: Code.Unavailable,
  504: Code.DeadlineExceeded,
};

/**
 * 502 and 503 come from the agent when it cannot reach or lost its apiserver (its Status then says
 * InternalError or ServiceUnavailable), or from an apiserver that is not ready: either way the cluster is
 * unavailable right now, whatever reason the body gives.
 */
const UNAVAILABLE_HTTP_STATUSES = new Set([502, 503]);

/** What Watch ends with when the apiserver no longer has the requested resource version (410 Gone). */
export const RELIST_MESSAGE = "resource version too old; relist";

/** The Connect code of a Kubernetes answer: reason first, then the HTTP status, else internal. */
export function codeForKubeStatus(status: KubeStatus, httpStatus?: number): Code {
  const http = httpStatus ?? status.code;
  if (http !== undefined && UNAVAILABLE_HTTP_STATUSES.has(http)) return Code.Unavailable;
  const byReason = status.reason ? KUBE_REASON_CODES[status.reason] : undefined;
  if (byReason !== undefined) return byReason;
  return (http !== undefined ? HTTP_STATUS_CODES[http] : undefined) ?? Code.Internal;
}

/** A ConnectError for a Kubernetes error answer, keeping its (scrubbed) message. */
export function kubeStatusError(status: KubeStatus, httpStatus?: number): ConnectError {
  const code = codeForKubeStatus(status, httpStatus);
  const http = httpStatus ?? status.code;
  const text = status.message?.trim() ||
    (status.reason ? `${status.reason}` : `the cluster answered HTTP ${http ?? "error"}`);
  const message = code === Code.OutOfRange ? `${RELIST_MESSAGE}: ${text}` : text;
  return new ConnectError(scrubAddresses(message), code);
}

/** True for a JSON value shaped like a Kubernetes Status. */
export function isKubeStatus(value: unknown): value is KubeStatus {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const candidate = value as Record<string, unknown>;
  return candidate.kind === "Status" ||
    (typeof candidate.status === "string" && (typeof candidate.reason === "string" ||
      typeof candidate.message === "string"));
}

/**
 * The error for an answer that is not a Status (text bodies such as "404 page not found", or empty ones):
 * the HTTP status decides the code and a short excerpt of the body is the message.
 */
export function httpStatusError(httpStatus: number, bodyText: string): ConnectError {
  const excerpt = bodyText.trim().replace(/\s+/g, " ").slice(0, 300);
  const message = excerpt === "" ? `the cluster answered HTTP ${httpStatus}` : excerpt;
  return kubeStatusError({ message }, httpStatus);
}

/** Watch asked for a resource version the apiserver no longer has. */
export function relistError(detail?: string): ConnectError {
  const message = detail ? `${RELIST_MESSAGE}: ${detail}` : RELIST_MESSAGE;
  return new ConnectError(scrubAddresses(message), Code.OutOfRange);
}

/** Request validation: which fields are wrong, and why. */
export function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

export interface FailureContext {
  /** What was being done, e.g. `list pods on cluster "alpha"`. */
  action: string;
  /** The caller's signal: when it aborted, its reason (a deadline or a cancel) is the answer. */
  signal?: AbortSignal;
}

/**
 * Any failure on the way to a cluster as a ConnectError. ConnectErrors pass through (scrubbed); an
 * aborted caller gets its own reason; a timeout is deadline_exceeded; anything else that happened in
 * transport (stream reset, tunnel closed, socket errors) is unavailable, because the request may well
 * succeed once the agent is back.
 */
export function toConnectError(error: unknown, context: FailureContext): ConnectError {
  if (error instanceof ConnectError) {
    const scrubbed = scrubAddresses(error.rawMessage);
    return scrubbed === error.rawMessage
      ? error
      : new ConnectError(scrubbed, error.code, error.metadata, undefined, error.cause);
  }
  if (context.signal?.aborted) {
    const reason = context.signal.reason;
    if (reason instanceof ConnectError) return reason;
    if (isTimeout(reason)) return deadlineExceeded(context.action);
    return new ConnectError(`${context.action}: canceled`, Code.Canceled);
  }
  if (isTimeout(error)) return deadlineExceeded(context.action);
  const text = error instanceof Error ? error.message : String(error);
  return new ConnectError(
    scrubAddresses(`${context.action} failed: ${text}`),
    Code.Unavailable,
    undefined,
    undefined,
    error,
  );
}

/** Upstream time limits (ours or a caller's) as deadline_exceeded. */
function deadlineExceeded(action: string): ConnectError {
  return new ConnectError(`${action}: the cluster did not answer in time`, Code.DeadlineExceeded);
}

function isTimeout(value: unknown): boolean {
  if (!(value instanceof Error)) return false;
  const code = (value as { code?: unknown }).code;
  return value.name === "TimeoutError" || code === "ETIMEDOUT" || code === "ESOCKETTIMEDOUT";
}

// A URL ends before trailing punctuation, as in `Get https://host/path: EOF`.
const URL_PATTERN = /\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>)\]]*[^\s"'<>)\].,:;]/g;
const BRACKETED_IPV6 = /\[[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(?:%[^\]\s]*)?\](?::\d{1,5})?/g;
// Two or more hex groups around a "::", or eight full groups: a bare IPv6 address (not a time like 12:30:45).
const BARE_IPV6 =
  /(?<![\w:])(?:(?:[0-9a-fA-F]{1,4}:){1,7}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?|::(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)|(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4})(?![\w:])/g;
const IPV4 = /(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])/g;
// host.name:port and localhost:port; a bare "name:123" without a dot is too common in prose to touch.
const HOST_PORT = /(?<![\w.-])(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|localhost):\d{1,5}(?![\w.])/g;

/** Replaces URLs, IP addresses and host:port pairs in a message with placeholders. */
export function scrubAddresses(message: string): string {
  return message
    .replace(URL_PATTERN, "<url>")
    .replace(BRACKETED_IPV6, "<address>")
    .replace(IPV4, "<address>")
    .replace(BARE_IPV6, "<address>")
    .replace(HOST_PORT, "<address>");
}
