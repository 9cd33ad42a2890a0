import assert from "node:assert/strict";
import {
  downstreamResponseHeaders,
  kubeStatusBody,
  rawResponse,
  rawSwitchingProtocolsHead,
  upstreamRequestHeaders,
} from "./proxy_headers.ts";

const decoder = new TextDecoder();

Deno.test("proxy headers: requests keep repeated headers and lose hop-by-hop and caller credentials", () => {
  const headers = upstreamRequestHeaders([
    "Host",
    "cluster.tunnel",
    "Connection",
    "keep-alive, X-Trace",
    "X-Trace",
    "1",
    "Keep-Alive",
    "timeout=5",
    "Authorization",
    "Bearer caller",
    "Proxy-Authorization",
    "Basic x",
    "Expect",
    "100-continue",
    "Impersonate-Group",
    "system:authenticated",
    "Impersonate-Group",
    "oidc:a",
    "Content-Type",
    "application/json",
    "Upgrade",
    "websocket",
  ], false);
  assert.deepEqual(headers, {
    "impersonate-group": ["system:authenticated", "oidc:a"],
    "content-type": ["application/json"],
  });
});

Deno.test("proxy headers: an upgrade keeps Connection: Upgrade and the Upgrade header", () => {
  const headers = upstreamRequestHeaders([
    "Connection",
    "Upgrade",
    "Upgrade",
    "websocket",
    "Sec-WebSocket-Protocol",
    "v5.channel.k8s.io",
    "Sec-WebSocket-Key",
    "abc",
  ], true);
  assert.deepEqual(headers, {
    connection: ["Upgrade"],
    upgrade: ["websocket"],
    "sec-websocket-protocol": ["v5.channel.k8s.io"],
    "sec-websocket-key": ["abc"],
  });
});

Deno.test("proxy headers: responses lose hop-by-hop headers only", () => {
  const headers = downstreamResponseHeaders([
    "Content-Type",
    "application/json",
    "Transfer-Encoding",
    "chunked",
    "Connection",
    "close",
    "Set-Cookie",
    "a=1",
    "Set-Cookie",
    "b=2",
    "Audit-Id",
    "42",
  ]);
  assert.deepEqual(headers, {
    "content-type": ["application/json"],
    "set-cookie": ["a=1", "b=2"],
    "audit-id": ["42"],
  });
});

Deno.test("proxy headers: Status bodies and raw responses", () => {
  assert.deepEqual(JSON.parse(kubeStatusBody(403, "Forbidden", "no")), {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: "no",
    reason: "Forbidden",
    code: 403,
  });
  const text = decoder.decode(rawResponse(503, "Service Unavailable", "application/json", '{"é":1}'));
  assert.equal(
    text,
    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 8\r\n" +
      'connection: close\r\n\r\n{"é":1}',
  );
  const head = decoder.decode(
    rawSwitchingProtocolsHead("Switching Protocols", ["Upgrade", "websocket", "X", "1"]),
  );
  assert.equal(head, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX: 1\r\n\r\n");
});
