import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  codeForKubeStatus,
  httpStatusError,
  isKubeStatus,
  KUBE_REASON_CODES,
  kubeStatusError,
  RELIST_MESSAGE,
  relistError,
  scrubAddresses,
  toConnectError,
} from "./errors.ts";

Deno.test("every Kubernetes reason the issue names has its own code", () => {
  const expected: Record<string, Code> = {
    NotFound: Code.NotFound,
    AlreadyExists: Code.AlreadyExists,
    Conflict: Code.Aborted,
    Forbidden: Code.PermissionDenied,
    Unauthorized: Code.Unauthenticated,
    Invalid: Code.InvalidArgument,
    Gone: Code.OutOfRange,
    Expired: Code.OutOfRange,
    TooManyRequests: Code.ResourceExhausted,
    Timeout: Code.DeadlineExceeded,
    ServerTimeout: Code.DeadlineExceeded,
    ServiceUnavailable: Code.Unavailable,
    BadRequest: Code.InvalidArgument,
    MethodNotAllowed: Code.Unimplemented,
    RequestEntityTooLarge: Code.ResourceExhausted,
    InternalError: Code.Internal,
  };
  for (const [reason, code] of Object.entries(expected)) {
    assert.equal(KUBE_REASON_CODES[reason], code, reason);
    assert.equal(codeForKubeStatus({ kind: "Status", reason }), code, reason);
  }
});

Deno.test("the HTTP status decides when the reason is missing or unknown; else internal", () => {
  assert.equal(codeForKubeStatus({ message: "404 page not found" }, 404), Code.NotFound);
  assert.equal(codeForKubeStatus({ reason: "SomethingNew", code: 403 }), Code.PermissionDenied);
  assert.equal(codeForKubeStatus({ reason: "SomethingNew" }), Code.Internal);
  assert.equal(codeForKubeStatus({}, 418), Code.Internal);
  assert.equal(codeForKubeStatus({}, 422), Code.InvalidArgument);
});

Deno.test("the agent's 502 and 503 mean unavailable whatever reason they carry", () => {
  assert.equal(codeForKubeStatus({ reason: "InternalError", code: 502 }), Code.Unavailable);
  assert.equal(codeForKubeStatus({ reason: "ServiceUnavailable" }, 503), Code.Unavailable);
  assert.equal(codeForKubeStatus({ reason: "InternalError" }, 500), Code.Internal);
});

Deno.test("kubeStatusError keeps the Kubernetes message, scrubbed; Gone says relist", () => {
  const notFound = kubeStatusError(
    { kind: "Status", reason: "NotFound", message: 'pods "x" not found' },
    404,
  );
  assert.equal(notFound.code, Code.NotFound);
  assert.equal(notFound.rawMessage, 'pods "x" not found');

  const gone = kubeStatusError({ reason: "Expired", message: "too old resource version: 5 (10)" }, 410);
  assert.equal(gone.code, Code.OutOfRange);
  assert.equal(gone.rawMessage, `${RELIST_MESSAGE}: too old resource version: 5 (10)`);

  const webhook = kubeStatusError({
    reason: "InternalError",
    message: 'Internal error occurred: failed calling webhook "v.example.com": Post ' +
      '"https://svc.ns.svc:443/validate?timeout=10s": dial tcp 10.96.0.5:443: connect: connection refused',
  }, 500);
  assert.equal(webhook.code, Code.Internal);
  assert.equal(
    webhook.rawMessage,
    'Internal error occurred: failed calling webhook "v.example.com": Post "<url>": dial tcp <address>: ' +
      "connect: connection refused",
  );

  const empty = kubeStatusError({}, 503);
  assert.equal(empty.rawMessage, "the cluster answered HTTP 503");
});

Deno.test("httpStatusError: text bodies become a short one-line message", () => {
  const error = httpStatusError(404, "404 page not found\n");
  assert.equal(error.code, Code.NotFound);
  assert.equal(error.rawMessage, "404 page not found");
  assert.equal(httpStatusError(500, "x".repeat(1000)).rawMessage.length, 300);
  assert.equal(httpStatusError(502, "  ").rawMessage, "the cluster answered HTTP 502");
});

Deno.test("isKubeStatus recognises Status bodies, not objects with a status field", () => {
  assert.ok(isKubeStatus({ kind: "Status", status: "Failure" }));
  assert.ok(isKubeStatus({ status: "Failure", message: "x" }));
  assert.ok(!isKubeStatus({ kind: "Pod", status: { phase: "Running" } }));
  assert.ok(!isKubeStatus(null));
  assert.ok(!isKubeStatus([]));
});

Deno.test("scrubAddresses removes IPs, host:port and URLs but keeps Kubernetes wording", () => {
  const cases: [string, string][] = [
    [
      "dial tcp 127.0.0.1:16443: connect: connection refused",
      "dial tcp <address>: connect: connection refused",
    ],
    ["node 10.0.0.7 is down", "node <address> is down"],
    ["Get https://kube.internal:6443/api/v1?timeout=32s: EOF", "Get <url>: EOF"],
    ["lookup apiserver.cluster.local:6443 failed", "lookup <address> failed"],
    ["localhost:8080 refused", "<address> refused"],
    ["dial [fd00::1]:443 failed", "dial <address> failed"],
    ["from fe80::1ff:fe23:4567:890a now", "from <address> now"],
    ["at 2001:db8:0:0:0:0:2:1 ok", "at <address> ok"],
    ['pods "web-1" is forbidden: User "bob" cannot list resource "pods" in API group ""', ""],
    ["started at 12:30:45 on v1.36.1", ""],
    ['Operation cannot be fulfilled on configmaps "a": the object has been modified', ""],
    ["apps/v1, Resource=deployments", ""],
  ];
  for (const [input, expected] of cases) assert.equal(scrubAddresses(input), expected || input, input);
});

Deno.test("toConnectError: ConnectErrors pass through, scrubbed", () => {
  const original = new ConnectError('configmaps "a" not found', Code.NotFound);
  assert.equal(toConnectError(original, { action: "get" }), original);
  const leaky = toConnectError(new ConnectError("agent at 10.1.2.3:9000 failed", Code.Unavailable), {
    action: "get",
  });
  assert.equal(leaky.code, Code.Unavailable);
  assert.equal(leaky.rawMessage, "agent at <address> failed");
});

Deno.test("toConnectError: a caller's abort gives its own reason; timeouts are deadline_exceeded", () => {
  const deadline = new AbortController();
  deadline.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
  const fromDeadline = toConnectError(new Error("aborted"), { action: "list", signal: deadline.signal });
  assert.equal(fromDeadline.code, Code.DeadlineExceeded);

  const canceled = new AbortController();
  canceled.abort();
  assert.equal(
    toConnectError(new Error("x"), { action: "list", signal: canceled.signal }).code,
    Code.Canceled,
  );

  const timeout = new DOMException("signal timed out", "TimeoutError");
  const viaTimeout = new AbortController();
  viaTimeout.abort(timeout);
  const timedOut = toConnectError(new Error("aborted"), {
    action: 'list pods on cluster "a"',
    signal: viaTimeout.signal,
  });
  assert.equal(timedOut.code, Code.DeadlineExceeded);
  assert.match(timedOut.rawMessage, /list pods on cluster "a"/);
  assert.equal(toConnectError(timeout, { action: "x" }).code, Code.DeadlineExceeded);
});

Deno.test("toConnectError: transport failures are unavailable, with context and no address", () => {
  const error = toConnectError(
    Object.assign(new Error("yamux session closed: read ECONNRESET 192.168.1.4:8443"), {
      code: "ECONNRESET",
    }),
    { action: 'get pods on cluster "alpha"' },
  );
  assert.equal(error.code, Code.Unavailable);
  assert.equal(
    error.rawMessage,
    'get pods on cluster "alpha" failed: yamux session closed: read ECONNRESET <address>',
  );
});

Deno.test("relistError is out_of_range with the fixed message first", () => {
  const error = relistError("too old resource version: 1 (2)");
  assert.equal(error.code, Code.OutOfRange);
  assert.ok(error.rawMessage.startsWith(RELIST_MESSAGE));
});
