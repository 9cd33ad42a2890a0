/**
 * The agent's own small JSON client for its kube-apiserver, as its ServiceAccount (not as a hub user):
 * bootstrap and self-update use it. It uses the proxy's way to the apiserver and its credentials.
 */
import type { IncomingMessage } from "node:http";
import { concatBytes } from "../shared/bytes.ts";
import type { KubeTarget } from "./kube_target.ts";
import { createUpstream } from "./upstream.ts";

export interface KubeResponse {
  status: number;
  /** Parsed JSON, or the text when the body is not JSON. */
  body: unknown;
}

export interface KubeClient {
  /** Never throws for an HTTP status; throws when the apiserver cannot be reached or does not answer. */
  send(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse>;
  close(): void;
}

/** A request that sees no byte for this long is abandoned. */
const idleTimeoutMs = 30_000;

export function createKubeClient(target: KubeTarget): KubeClient {
  const upstream = createUpstream(target);
  return {
    send(method, path, body, contentType = "application/json") {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string[]> = { accept: ["application/json"] };
      if (payload !== undefined) headers["content-type"] = [contentType];
      return new Promise<KubeResponse>((resolve, reject) => {
        const request = upstream.request(method, path, headers);
        request.setTimeout(idleTimeoutMs, () => {
          request.destroy(
            new Error(`${method} ${path}: no answer from the apiserver within ${idleTimeoutMs} ms`),
          );
        });
        request.on(
          "error",
          (error) => reject(new Error(`${method} ${path}: ${error.message}`, { cause: error })),
        );
        request.on("response", (response) => {
          readBody(response).then((text) => {
            if (response.statusCode === 401) target.credentialsRejected();
            resolve({ status: response.statusCode ?? 0, body: parseBody(text) });
          }, reject);
        });
        request.end(payload);
      });
    },
    close() {
      upstream.destroy();
    },
  };
}

/** The apiserver's Status message for an error answer, for logs. */
export function statusMessage(response: KubeResponse): string {
  const body = response.body as { message?: unknown } | string | undefined;
  if (typeof body === "object" && body && typeof body.message === "string") {
    return `${response.status}: ${body.message}`;
  }
  return `${response.status}: ${String(body ?? "").slice(0, 200)}`;
}

async function readBody(response: IncomingMessage): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of response) chunks.push(chunk);
  return new TextDecoder().decode(concatBytes(chunks));
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
