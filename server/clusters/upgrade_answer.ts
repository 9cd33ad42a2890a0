/**
 * The HTTP/1.1 side of an upgrade (WebSocket or SPDY/3.1) on a raw stream: writing the request head, and
 * reading the server's answer head and, when it refuses, the error body (usually an apiserver Status).
 */
import { concatBytes } from "../../shared/bytes.ts";
import { indexOfHeadEnd, parseHeadLines } from "../../shared/http1/response_head.ts";

/** Longest answer head accepted, and how much of a refusal's body is kept. */
export const MAX_HEAD_BYTES = 64 * 1024;
export const MAX_REFUSAL_BODY_BYTES = 64 * 1024;

/** What every upgrade request (WebSocket, SPDY) names. */
export interface UpgradeRequest {
  /** Request target: path and query. */
  path: string;
  host: string;
  /** Subprotocols offered, preferred first. */
  protocols: readonly string[];
  /** Extra request headers; a name may repeat. */
  headers?: readonly (readonly [string, string])[];
  signal?: AbortSignal;
  /** Time limit for the server's answer to the upgrade request (default 30 s). */
  timeoutMs?: number;
}

export interface ResponseHead {
  status: number;
  statusText: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
}

/**
 * The request head as bytes; throws a TypeError when a line holds a line break or NUL, which would let a
 * header value smuggle in headers of its own.
 */
export function encodeRequestHead(lines: readonly string[], what: string): Uint8Array {
  const unsafe = lines.find((line) => /[\r\n\0]/.test(line));
  if (unsafe !== undefined) {
    throw new TypeError(`a ${what} request line holds a line break: ${JSON.stringify(unsafe)}`);
  }
  return new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
}

export { indexOfHeadEnd };

/** The status line and headers, or undefined when the text is not an HTTP/1.x answer. */
export function parseHead(text: string): ResponseHead | undefined {
  const lines = parseHeadLines(text);
  if (!lines) return undefined;
  const headers: Record<string, string> = {};
  for (const [field, value] of lines.fields) {
    const name = field.toLowerCase();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: lines.status, statusText: lines.statusText, headers };
}

/** The server answered an upgrade request with something other than 101. */
export class UpgradeRefusedError extends Error {
  constructor(
    /** What the upgrade was to, for the message: "WebSocket", "SPDY". */
    upgrade: string,
    readonly status: number,
    readonly statusText: string,
    readonly headers: Readonly<Record<string, string>>,
    readonly body: Uint8Array,
  ) {
    super(`the server refused the ${upgrade} upgrade: HTTP ${status} ${statusText}`);
    this.name = "UpgradeRefusedError";
  }
}

/** Whether `body` (the bytes after a refusal's head so far) holds all of the refusal's body worth keeping. */
export function refusalBodyComplete(head: ResponseHead, body: Uint8Array): boolean {
  if (body.length >= MAX_REFUSAL_BODY_BYTES) return true;
  const length = Number(head.headers["content-length"] ?? NaN);
  if (Number.isFinite(length)) return body.length >= length;
  if (isChunked(head)) return new TextDecoder("latin1").decode(body).includes("\r\n0\r\n");
  return false;
}

/** A refusal's body from the bytes after its head: cut to its length and limit, chunked coding removed. */
export function refusalBody(head: ResponseHead, bytes: Uint8Array): Uint8Array {
  let body = bytes.subarray(0, MAX_REFUSAL_BODY_BYTES);
  const length = Number(head.headers["content-length"] ?? NaN);
  if (Number.isFinite(length)) body = body.subarray(0, length);
  return isChunked(head) ? dechunk(body) : body;
}

function isChunked(head: ResponseHead): boolean {
  return /chunked/i.test(head.headers["transfer-encoding"] ?? "");
}

/** Decodes a chunked body as far as it goes (a cut one keeps what arrived). */
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
  return concatBytes(parts);
}
