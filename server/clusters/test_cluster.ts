/**
 * For tests of the hub's cluster layer: a scripted apiserver behind a real tunnel (yamux over loopback
 * TCP), registered in a real ClusterRegistry and reached through a real ClusterAccess, so that caches
 * and error mapping are tested on the path they run on. `reconnect()` attaches a new tunnel, as an agent
 * that reconnects does.
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import type { Duplex } from "node:stream";
import { sessionPair } from "../../shared/tunnel/test_util.ts";
import type { SessionPair } from "../../shared/tunnel/test_util.ts";
import type { Identity } from "../auth/identity.ts";
import { ClusterAccess } from "./kube.ts";
import { ClusterRegistry } from "./registry.ts";

export interface SeenRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type FakeApiHandler = (request: SeenRequest, response: http.ServerResponse) => void | Promise<void>;

export interface FakeCluster extends AsyncDisposable {
  name: string;
  clusters: ClusterRegistry;
  access: ClusterAccess;
  /** Every request the fake apiserver received, in order. */
  requests: SeenRequest[];
  /** Replaces the tunnel with a new one (the old one is closed), like an agent reconnecting. */
  reconnect(): Promise<void>;
  /** Closes the tunnel without a replacement: the cluster is no longer connected. */
  disconnect(): Promise<void>;
}

export const testIdentity: Identity = { user: "tester", groups: ["system:authenticated", "oidc:testers"] };

export async function startFakeCluster(name: string, handler: FakeApiHandler): Promise<FakeCluster> {
  const requests: SeenRequest[] = [];
  const server = http.createServer(async (request, response) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of request) chunks.push(chunk);
    const seen = {
      method: request.method ?? "",
      path: request.url ?? "",
      headers: request.headers,
      body: new TextDecoder().decode(Buffer.concat(chunks)),
    };
    requests.push(seen);
    await handler(seen, response);
  });
  // Fed with tunnel streams instead of a listener; Deno's node:http drops kept-alive sockets otherwise.
  Object.defineProperty(server, "listening", { get: () => true });
  const connections = new Set<Duplex>();
  const serve = (stream: Duplex) => {
    connections.add(stream);
    stream.once("close", () => connections.delete(stream));
    server.emit("connection", stream);
  };

  const clusters = new ClusterRegistry();
  const access = new ClusterAccess(clusters);
  const pairs: SessionPair[] = [];
  const connect = async () => {
    const pair = await sessionPair({ keepAliveIntervalMs: 0 }, { keepAliveIntervalMs: 0, onStream: serve });
    pairs.push(pair);
    clusters.attach(name, "fake-agent", pair.client);
  };
  await connect();

  const closeAll = async () => {
    for (const connection of connections) connection.destroy();
    await Promise.all(pairs.map((pair) => pair[Symbol.asyncDispose]()));
  };
  return {
    name,
    clusters,
    access,
    requests,
    reconnect: connect,
    disconnect: closeAll,
    [Symbol.asyncDispose]: closeAll,
  };
}

/** Answers with JSON. */
export function sendJson(
  response: http.ServerResponse,
  status: number,
  body: unknown,
  contentType = "application/json",
) {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
  response.end(text);
}

/** A Kubernetes Status error answer. */
export function sendStatus(response: http.ServerResponse, code: number, reason: string, message: string) {
  sendJson(response, code, { kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code });
}
