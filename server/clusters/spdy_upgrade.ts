/**
 * The HTTP/1.1 request that turns a connection into SPDY/3.1 (`Upgrade: SPDY/3.1`), the way Kubernetes'
 * older streaming transport opens exec, attach and port-forward: the stream protocols the client speaks go in
 * `X-Stream-Protocol-Version` headers, and the server's 101 names the one it chose. A refusal comes back as
 * UpgradeRefusedError with its status and body (the apiserver's Status), like a refused WebSocket.
 */
import type { Duplex } from "node:stream";
import { SpdyProtocolError } from "./spdy_frames.ts";
import { concatBytes } from "../../shared/bytes.ts";
import {
  encodeRequestHead,
  indexOfHeadEnd,
  MAX_HEAD_BYTES,
  parseHead,
  refusalBody,
  refusalBodyComplete,
  type ResponseHead,
  UpgradeRefusedError,
  type UpgradeRequest,
} from "./upgrade_answer.ts";

export const SPDY_UPGRADE = "SPDY/3.1";
export const STREAM_PROTOCOL_HEADER = "X-Stream-Protocol-Version";

/** The stream protocols go out as X-Stream-Protocol-Version headers, one each. */
export type SpdyUpgradeRequest = UpgradeRequest;

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
  let requestHead: Uint8Array;
  try {
    requestHead = encodeRequestHead(lines, "SPDY upgrade");
  } catch (error) {
    return Promise.reject(error);
  }

  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let buffered = 0;
    let head: ResponseHead | undefined;
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
    const bodySoFar = () => concatBytes(chunks, buffered).subarray(headLength);
    const refuse = () => {
      const parsed = head!;
      const body = refusalBody(parsed, bodySoFar());
      fail(new UpgradeRefusedError("SPDY", parsed.status, parsed.statusText, parsed.headers, body));
    };
    const refusalComplete = () => refusalBodyComplete(head!, bodySoFar());
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
      const bytes = concatBytes(chunks, buffered);
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
    socket.write(requestHead);
  });
}
