/**
 * The HTTP/1.1 request that turns a connection into SPDY/3.1 (`Upgrade: SPDY/3.1`), the way Kubernetes'
 * older streaming transport opens exec, attach and port-forward: the stream protocols the client speaks go in
 * `X-Stream-Protocol-Version` headers, and the server's 101 names the one it chose. A refusal comes back as
 * UpgradeRefusedError with its status and body (the apiserver's Status), like a refused WebSocket.
 */
import type { Duplex } from "node:stream";
import { UpgradeRefusedError } from "./websocket.ts";
import { SpdyProtocolError } from "./spdy_frames.ts";

export const SPDY_UPGRADE = "SPDY/3.1";
export const STREAM_PROTOCOL_HEADER = "X-Stream-Protocol-Version";

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_REFUSAL_BODY_BYTES = 64 * 1024;

export interface SpdyUpgradeRequest {
  /** Request target: path and query. */
  path: string;
  host: string;
  /** Stream protocols offered, preferred first (one header each). */
  protocols: readonly string[];
  /** Extra request headers; a name may repeat. */
  headers?: readonly (readonly [string, string])[];
  signal?: AbortSignal;
  /** Time limit for the server's answer (default 30 s). */
  timeoutMs?: number;
}

export interface SpdyUpgraded {
  /** The stream protocol the server chose ("" when it named none). */
  protocol: string;
  /** Bytes that arrived after the 101's head: the first SPDY frames. */
  rest: Uint8Array;
}

/**
 * Sends the upgrade request on `socket` and resolves once the server has switched to SPDY/3.1. Kubernetes
 * clients POST these upgrades; the apiserver authorizes that as `create` on the subresource.
 */
export function requestSpdyUpgrade(socket: Duplex, request: SpdyUpgradeRequest): Promise<SpdyUpgraded> {
  const lines = [
    `POST ${request.path} HTTP/1.1`,
    `Host: ${request.host}`,
    "Connection: Upgrade",
    `Upgrade: ${SPDY_UPGRADE}`,
    "Content-Length: 0",
  ];
  for (const protocol of request.protocols) lines.push(`${STREAM_PROTOCOL_HEADER}: ${protocol}`);
  for (const [name, value] of request.headers ?? []) lines.push(`${name}: ${value}`);
  const unsafe = lines.find((line) => /[\r\n\0]/.test(line));
  if (unsafe !== undefined) {
    return Promise.reject(
      new TypeError(`a SPDY upgrade request line holds a line break: ${JSON.stringify(unsafe)}`),
    );
  }

  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let buffered = 0;
    let head: ParsedHead | undefined;
    let headLength = 0;
    const timeoutMs = request.timeoutMs ?? 30_000;
    const timer = setTimeout(
      () => fail(new DOMException(`no answer to the SPDY upgrade within ${timeoutMs} ms`, "TimeoutError")),
      timeoutMs,
    );
    const onAbort = () => fail(request.signal?.reason ?? new DOMException("aborted", "AbortError"));
    const cleanup = () => {
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onAbort);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", fail);
    };
    function fail(error: Error): void {
      cleanup();
      socket.destroy();
      reject(error);
    }
    const refuse = () => {
      const parsed = head!;
      let body = concat(chunks, buffered).subarray(headLength, headLength + MAX_REFUSAL_BODY_BYTES);
      const length = Number(parsed.headers["content-length"] ?? NaN);
      if (Number.isFinite(length)) body = body.subarray(0, length);
      if (/chunked/i.test(parsed.headers["transfer-encoding"] ?? "")) body = dechunk(body);
      const refusal = new UpgradeRefusedError(parsed.status, parsed.statusText, parsed.headers, body);
      refusal.message = `the server refused the SPDY upgrade: HTTP ${parsed.status} ${parsed.statusText}`;
      fail(refusal);
    };
    const refusalComplete = (): boolean => {
      const bodyBytes = buffered - headLength;
      const length = Number(head!.headers["content-length"] ?? NaN);
      if (bodyBytes >= MAX_REFUSAL_BODY_BYTES) return true;
      if (Number.isFinite(length)) return bodyBytes >= length;
      if (/chunked/i.test(head!.headers["transfer-encoding"] ?? "")) {
        return new TextDecoder("latin1").decode(concat(chunks, buffered).subarray(headLength)).includes(
          "\r\n0\r\n",
        );
      }
      return false;
    };
    function onEnd(): void {
      if (head) refuse();
      else fail(new SpdyProtocolError("the connection ended before the answer to the SPDY upgrade"));
    }
    function onData(chunk: Uint8Array): void {
      chunks.push(chunk);
      buffered += chunk.length;
      if (head) {
        if (refusalComplete()) refuse();
        return;
      }
      const bytes = concat(chunks, buffered);
      const end = indexOfHeadEnd(bytes.subarray(0, MAX_HEAD_BYTES + 4));
      if (end < 0) {
        if (buffered > MAX_HEAD_BYTES) {
          fail(new SpdyProtocolError(`the upgrade answer's head exceeds ${MAX_HEAD_BYTES} bytes`));
        }
        return;
      }
      const parsed = parseHead(new TextDecoder().decode(bytes.subarray(0, end)));
      if (!parsed) return fail(new SpdyProtocolError("the answer to the SPDY upgrade is not HTTP/1.1"));
      head = parsed;
      headLength = end + 4;
      if (parsed.status !== 101) {
        if (refusalComplete()) refuse();
        return;
      }
      if (parsed.headers["upgrade"]?.toLowerCase() !== SPDY_UPGRADE.toLowerCase()) {
        return fail(
          new SpdyProtocolError(
            `the server switched to ${parsed.headers["upgrade"] ?? "nothing"}, not SPDY/3.1`,
          ),
        );
      }
      const protocol = parsed.headers[STREAM_PROTOCOL_HEADER.toLowerCase()] ?? "";
      if (protocol !== "" && !request.protocols.includes(protocol)) {
        return fail(
          new SpdyProtocolError(
            `the server chose stream protocol ${JSON.stringify(protocol)}, which was not offered`,
          ),
        );
      }
      cleanup();
      // Held until the SPDY connection listens, so no frame is emitted to nobody.
      socket.pause();
      resolve({ protocol, rest: bytes.slice(headLength) });
    }

    if (request.signal?.aborted) return onAbort();
    request.signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.on("error", fail);
    socket.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
  });
}

interface ParsedHead {
  status: number;
  statusText: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
}

function parseHead(text: string): ParsedHead | undefined {
  const [statusLine, ...lines] = text.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!match) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(match[1]), statusText: match[2] ?? "", headers };
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

/** Decodes a chunked error body as far as it goes. */
function dechunk(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const latin1 = new TextDecoder("latin1");
  let offset = 0;
  while (offset < bytes.length) {
    let lineEnd = offset;
    while (lineEnd + 1 < bytes.length && !(bytes[lineEnd] === 13 && bytes[lineEnd + 1] === 10)) lineEnd++;
    const size = parseInt(latin1.decode(bytes.subarray(offset, lineEnd)), 16);
    if (!Number.isFinite(size) || size === 0) break;
    const start = lineEnd + 2;
    parts.push(bytes.subarray(start, Math.min(bytes.length, start + size)));
    offset = start + size + 2;
  }
  return concat(parts, parts.reduce((sum, part) => sum + part.length, 0));
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
