/**
 * `GET /fleet/manifest/{token}`: the agent manifest as YAML, for `kubectl apply -f <url>`. Public: the
 * token is the credential. Every refusal is the same 401, so a guesser learns nothing.
 */
import type { PlainRoute } from "../http/request_handler.ts";
import { type AgentManifests, manifestPathPrefix } from "./agent_manifests.ts";

export function manifestRoute(manifests: AgentManifests): PlainRoute {
  return async (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (!path.startsWith(manifestPathPrefix)) return false;
    const send = (status: number, headers: Record<string, string>, body?: string) => {
      res.statusCode = status;
      // The manifest holds an enrolment token: no cache may keep it.
      res.setHeader("cache-control", "no-store");
      res.setHeader("x-content-type-options", "nosniff");
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      if (body === undefined || req.method === "HEAD") res.end();
      else res.end(body);
    };
    const text = { "content-type": "text/plain; charset=utf-8" };
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(405, { ...text, allow: "GET, HEAD" }, "method not allowed\n");
      return true;
    }
    let manifest: string | undefined;
    try {
      manifest = await manifests.download(decodeSegment(path.slice(manifestPathPrefix.length)));
    } catch {
      // download logged the cause
      send(500, text, "failed to render manifest\n");
      return true;
    }
    if (manifest === undefined) {
      send(401, text, "invalid or expired token\n");
      return true;
    }
    send(200, { "content-type": "text/yaml; charset=utf-8" }, manifest);
    return true;
  };
}

/** Tokens need no escaping, but a client may still percent-encode; a broken escape is just a bad token. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return "";
  }
}
