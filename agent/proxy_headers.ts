/**
 * Header plumbing for the agent's reverse proxy: which headers cross the proxy, and the Kubernetes `Status`
 * bodies the agent answers with itself.
 */

/** Headers that describe one hop's connection (RFC 9110 §7.6.1), never forwarded as they are. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Headers the proxy sets itself towards the apiserver. */
/**
 * Headers the proxy sets itself towards the apiserver, or that node:http has already acted on (Expect: the
 * client got its 100 Continue from this server).
 */
const REPLACED_UPSTREAM = new Set(["authorization", "host", "expect"]);

export type HeaderMap = Record<string, string[]>;

/**
 * The request headers to send to the apiserver: every incoming header except hop-by-hop ones (including those
 * the Connection header names), the caller's Authorization and Host. For an upgrade, `Connection: Upgrade` and
 * the `Upgrade` header are kept, since they are the request.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], upgrade: boolean): HeaderMap {
  const dropped = connectionTokens(rawHeaders);
  const headers = collect(
    rawHeaders,
    (name) => !HOP_BY_HOP.has(name) && !dropped.has(name) && !REPLACED_UPSTREAM.has(name),
  );
  if (upgrade) {
    const upgradeValues = valuesOf(rawHeaders, "upgrade");
    if (upgradeValues.length > 0) {
      headers["connection"] = ["Upgrade"];
      headers["upgrade"] = upgradeValues;
    }
  }
  return headers;
}

/** The apiserver's response headers to pass back: all but hop-by-hop ones (node:http frames the body itself). */
export function downstreamResponseHeaders(rawHeaders: readonly string[]): HeaderMap {
  const dropped = connectionTokens(rawHeaders);
  return collect(rawHeaders, (name) => !HOP_BY_HOP.has(name) && !dropped.has(name));
}

export function valuesOf(rawHeaders: readonly string[], lowerName: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === lowerName) values.push(rawHeaders[i + 1]);
  }
  return values;
}

/** Groups raw headers by lower-case name, keeping repeated headers as separate values. */
function collect(rawHeaders: readonly string[], keep: (lowerName: string) => boolean): HeaderMap {
  const headers: HeaderMap = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!keep(name)) continue;
    (headers[name] ??= []).push(rawHeaders[i + 1]);
  }
  return headers;
}

function connectionTokens(rawHeaders: readonly string[]): Set<string> {
  const tokens = new Set<string>();
  for (const value of valuesOf(rawHeaders, "connection")) {
    for (const token of value.split(",")) {
      const name = token.trim().toLowerCase();
      if (name !== "") tokens.add(name);
    }
  }
  return tokens;
}

/** A Kubernetes `Status` object, the body clients of the apiserver know how to read as an error. */
export function kubeStatusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  });
}

/**
 * The head of an HTTP/1.1 response that ends its connection, for sockets node:http has handed over
 * (upgrades). The body, if any, follows and is delimited by its Content-Length or by the close.
 */
export function rawResponseHead(code: number, statusText: string, headers: HeaderMap): Uint8Array {
  const lines = [`HTTP/1.1 ${code} ${statusText}`];
  for (const [name, values] of Object.entries(headers)) {
    if (name === "connection") continue;
    for (const value of values) lines.push(`${name}: ${value}`);
  }
  lines.push("connection: close", "", "");
  return new TextEncoder().encode(lines.join("\r\n"));
}

/** A whole response (head and body) that ends its connection. */
export function rawResponse(code: number, statusText: string, contentType: string, body: string): Uint8Array {
  const bodyBytes = new TextEncoder().encode(body);
  const head = rawResponseHead(code, statusText, {
    "content-type": [contentType],
    "content-length": [String(bodyBytes.length)],
  });
  const bytes = new Uint8Array(head.length + bodyBytes.length);
  bytes.set(head);
  bytes.set(bodyBytes, head.length);
  return bytes;
}

/** The apiserver's 101 answer, re-serialised from node:http's parse with its headers in their order. */
export function rawSwitchingProtocolsHead(
  statusMessage: string | undefined,
  rawHeaders: readonly string[],
): Uint8Array {
  const lines = [`HTTP/1.1 101 ${statusMessage || "Switching Protocols"}`];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`);
  lines.push("", "");
  return new TextEncoder().encode(lines.join("\r\n"));
}
