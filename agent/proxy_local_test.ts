// The agent's reverse proxy against a local HTTP server standing in for the apiserver, where the test can see
// exactly what arrives upstream and make the upstream misbehave. proxy_test.ts covers the real apiserver.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { silentLogger } from "../shared/log.ts";
import type { KubeTarget } from "./kube_target.ts";
import { createKubeProxy, type KubeProxy } from "./proxy.ts";
import { ProxyClient, type RequestHeaders } from "./proxy_test_helpers.ts";

const ALICE: RequestHeaders = {
  "impersonate-user": "alice",
  "impersonate-group": ["system:authenticated", "oidc:platform-admins"],
};

interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
  bodySha256: string;
  connection: number;
}

type Handler = (request: http.IncomingMessage, response: http.ServerResponse, seen: Seen) => void;

/** A local upstream that records each request (with which connection it came on) and lets `handler` answer. */
async function localUpstream(handler: Handler) {
  const seen: Seen[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = http.createServer(async (request, response) => {
    const hash = createHash("sha256");
    for await (const chunk of request) hash.update(chunk);
    const entry: Seen = {
      method: request.method ?? "",
      url: request.url ?? "",
      rawHeaders: request.rawHeaders,
      bodySha256: hash.digest("hex"),
      connection: (request.socket as net.Socket & { id?: number }).id ?? 0,
    };
    seen.push(entry);
    handler(request, response, entry);
  });
  server.on("connection", (socket: net.Socket & { id?: number }) => {
    socket.id = ++connections;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    seen,
    port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function fakeTarget(port: number, token: string | undefined, basePath = "") {
  const target = {
    url: new URL(`http://127.0.0.1:${port}${basePath}`),
    tls: { rejectUnauthorized: true },
    source: "test",
    rejections: 0,
    authorization: () => (token ? `Bearer ${token}` : undefined),
    credentialsRejected: () => {
      target.rejections++;
    },
  };
  return target satisfies KubeTarget;
}

function valuesOf(rawHeaders: string[], name: string): string[] {
  return rawHeaders.flatMap((
    value,
    i,
  ) => (i % 2 === 0 && value.toLowerCase() === name ? [rawHeaders[i + 1]] : []));
}

async function withProxy(
  target: KubeTarget,
  run: (client: ProxyClient, proxy: KubeProxy) => Promise<void>,
  connectTimeoutMs?: number,
) {
  const proxy = createKubeProxy({ target, log: silentLogger, connectTimeoutMs });
  const client = new ProxyClient(proxy);
  try {
    await run(client, proxy);
  } finally {
    client.close();
    await proxy.close();
  }
}

Deno.test("proxy (local upstream): what is forwarded and what is not", async () => {
  const upstream = await localUpstream((_request, response) => response.end("ok"));
  try {
    await withProxy(fakeTarget(upstream.port, "agent-token", "/prefix/"), async (client) => {
      const reply = await client.request("GET", "/api/v1/pods?labelSelector=a%3Db&limit=2", {
        ...ALICE,
        authorization: "Bearer from-the-hub",
        "proxy-authorization": "Basic eDp5",
        connection: "keep-alive, x-per-hop",
        "x-per-hop": "dropped",
        "keep-alive": "timeout=5",
        te: "trailers",
        "x-custom": "kept",
        accept: "application/json;as=Table;g=meta.k8s.io;v=v1",
      });
      assert.equal(reply.status, 200);
    });
    const [seen] = upstream.seen;
    assert.equal(seen.method, "GET");
    assert.equal(seen.url, "/prefix/api/v1/pods?labelSelector=a%3Db&limit=2");
    const headers = seen.rawHeaders;
    assert.deepEqual(valuesOf(headers, "authorization"), ["Bearer agent-token"]);
    assert.deepEqual(valuesOf(headers, "impersonate-user"), ["alice"]);
    assert.deepEqual(valuesOf(headers, "impersonate-group"), [
      "system:authenticated",
      "oidc:platform-admins",
    ]);
    assert.deepEqual(valuesOf(headers, "x-custom"), ["kept"]);
    assert.deepEqual(valuesOf(headers, "accept"), ["application/json;as=Table;g=meta.k8s.io;v=v1"]);
    assert.deepEqual(valuesOf(headers, "host"), [`127.0.0.1:${upstream.port}`]);
    for (const name of ["proxy-authorization", "x-per-hop", "keep-alive", "te"]) {
      assert.deepEqual(valuesOf(headers, name), [], `${name} is not forwarded`);
    }
  } finally {
    await upstream.close();
  }
});

Deno.test("proxy (local upstream): with a client-certificate identity no Authorization goes upstream", async () => {
  const upstream = await localUpstream((_request, response) => response.end("ok"));
  try {
    await withProxy(fakeTarget(upstream.port, undefined), async (client) => {
      const reply = await client.request("GET", "/api", { ...ALICE, authorization: "Bearer from-the-hub" });
      assert.equal(reply.status, 200);
    });
    assert.deepEqual(valuesOf(upstream.seen[0].rawHeaders, "authorization"), []);
  } finally {
    await upstream.close();
  }
});

Deno.test("proxy (local upstream): bodies stream both ways unchanged, encoding untouched", async () => {
  const gzipped = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]);
  const upstream = await localUpstream((_request, response) => {
    response.writeHead(200, {
      "content-type": "application/json",
      "content-encoding": "gzip",
      "set-cookie": ["a=1", "b=2"],
      connection: "x-upstream-hop",
      "x-upstream-hop": "dropped",
    });
    response.end(gzipped);
  });
  const body = "x".repeat(1024 * 1024);
  try {
    await withProxy(fakeTarget(upstream.port, "agent-token"), async (client) => {
      const reply = await rawReply(client, "POST", "/api/v1/namespaces/demo/configmaps", ALICE, body);
      assert.equal(reply.status, 200);
      assert.deepEqual(new Uint8Array(reply.body), gzipped, "bytes as the upstream sent them");
      assert.equal(reply.headers["content-encoding"], "gzip");
      assert.deepEqual(reply.headers["set-cookie"], ["a=1", "b=2"]);
      assert.equal(reply.headers["x-upstream-hop"], undefined);
    });
    assert.equal(upstream.seen[0].bodySha256, createHash("sha256").update(body).digest("hex"));
  } finally {
    await upstream.close();
  }
});

Deno.test("proxy (local upstream): a 401 makes the target re-read its credentials", async () => {
  const upstream = await localUpstream((_request, response) => {
    response.writeHead(401, { "content-type": "application/json" });
    response.end("{}");
  });
  const target = fakeTarget(upstream.port, "stale");
  try {
    await withProxy(target, async (client) => {
      assert.equal((await client.request("GET", "/api", ALICE)).status, 401);
    });
    assert.equal(target.rejections, 1);
  } finally {
    await upstream.close();
  }
});

Deno.test("proxy (local upstream): a response cut off upstream is cut off downstream", async () => {
  const upstream = await localUpstream((_request, response) => {
    response.writeHead(200, { "content-length": "100" });
    response.write("only ten b");
    setTimeout(() => response.socket?.destroy(), 20);
  });
  try {
    await withProxy(fakeTarget(upstream.port, "agent-token"), async (client, proxy) => {
      await assert.rejects(client.request("GET", "/api", ALICE), /aborted|reset|hang up|closed/i);
      assert.equal(proxy.stats().activeRequests, 0);
    });
  } finally {
    await upstream.close();
  }
});

Deno.test("proxy (local upstream): a connection the upstream drops without answering is 502", async () => {
  const upstream = await localUpstream((request) => request.socket.destroy());
  try {
    await withProxy(fakeTarget(upstream.port, "agent-token"), async (client, proxy) => {
      const reply = await client.request("POST", "/api/v1/namespaces", ALICE, "{}");
      assert.equal(reply.status, 502);
      const status = JSON.parse(reply.text);
      assert.equal(status.kind, "Status");
      assert.equal(status.code, 502);
      assert.equal(status.message, "the kube-apiserver connection failed (ECONNRESET)");
      assert.equal(proxy.stats().upstreamErrors, 1);
    });
  } finally {
    await upstream.close();
  }
});

Deno.test("proxy (local upstream): a GET on a dropped pooled connection is retried; a POST is never resent", async () => {
  // The second request on each upstream connection finds it closed, as when the apiserver drops an idle
  // keep-alive connection just as the agent reuses it.
  const served = new Map<number, number>();
  const upstream = await localUpstream((request, response, seen) => {
    const count = (served.get(seen.connection) ?? 0) + 1;
    served.set(seen.connection, count);
    if (count > 1) request.socket.destroy();
    else response.end(`fresh ${seen.connection}`);
  });
  try {
    await withProxy(fakeTarget(upstream.port, "agent-token"), async (client) => {
      assert.equal((await client.request("GET", "/api", ALICE)).text, "fresh 1");
      const retried = await client.request("GET", "/api", ALICE);
      assert.equal(retried.status, 200);
      assert.equal(retried.text, "fresh 2", "sent again on a new connection");
      assert.deepEqual(upstream.seen.map((seen) => seen.connection), [1, 1, 2]);
      // With a body: a connection of its own, which nothing else has used (so no retry can be needed).
      for (let i = 0; i < 2; i++) {
        const posted = await client.request("POST", "/api/v1/namespaces", ALICE, "{}");
        assert.equal(posted.status, 200);
        assert.equal(posted.text, `fresh ${3 + i}`);
      }
      assert.equal(upstream.seen.length, 5);
    });
  } finally {
    await upstream.close();
  }
});

Deno.test("proxy (local upstream): an apiserver that never completes the TLS handshake is 503 after the timeout", async () => {
  // Accepts TCP connections and then says nothing.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const { port } = silent.address() as net.AddressInfo;
  const target = { ...fakeTarget(port, "agent-token"), url: new URL(`https://127.0.0.1:${port}`) };
  try {
    await withProxy(target, async (client) => {
      const started = performance.now();
      const reply = await client.request("GET", "/api", ALICE);
      const elapsed = performance.now() - started;
      assert.equal(reply.status, 503);
      assert.equal(
        JSON.parse(reply.text).message,
        "the agent cannot reach the kube-apiserver (ConnectError)",
      );
      assert.ok(elapsed >= 190 && elapsed < 10_000, `answered after ${elapsed} ms`);
    }, 200);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

/** Like ProxyClient.request, but the body as bytes. */
function rawReply(client: ProxyClient, method: string, path: string, headers: RequestHeaders, body?: string) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>(
    (resolve, reject) => {
      const request = http.request(
        { agent: client.agent, host: "cluster.tunnel", method, path, headers },
        (res) => {
          const chunks: Uint8Array[] = [];
          res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
          res.on(
            "end",
            () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on("error", reject);
        },
      );
      request.on("error", reject);
      request.end(body);
    },
  );
}
