import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as http from "node:http";
import type { Duplex } from "node:stream";
import { sessionPair } from "../tunnel/test_util.ts";
import type { YamuxStream } from "../tunnel/stream.ts";
import { type HttpResponse, KeepAliveHttpClient, requestHead } from "./client.ts";

interface Agent extends AsyncDisposable {
  client: KeepAliveHttpClient;
  /** Streams the agent side accepted, in order. */
  streams: YamuxStream[];
  /** Requests the agent side's server received: method, url, headers, body. */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
}

/** A KeepAliveHttpClient whose streams reach a node:http server, as the agent's proxy does. */
async function agentWith(handler: (request: http.IncomingMessage, response: http.ServerResponse) => void) {
  const seen: Agent["seen"] = [];
  const server = http.createServer(async (request, response) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of request) chunks.push(chunk);
    seen.push({
      method: request.method!,
      url: request.url!,
      headers: request.headers,
      body: Buffer.concat(chunks).toString(),
    });
    handler(request, response);
  });
  // Fed with streams instead of a listener (see test_cluster.ts).
  Object.defineProperty(server, "listening", { get: () => true });
  const streams: YamuxStream[] = [];
  const pair = await sessionPair({ keepAliveIntervalMs: 0 }, {
    keepAliveIntervalMs: 0,
    onStream: (stream) => {
      streams.push(stream);
      server.emit("connection", stream as Duplex);
    },
  });
  const agent: Agent = {
    client: new KeepAliveHttpClient(() => pair.client.openStream(), "alpha"),
    streams,
    seen,
    async [Symbol.asyncDispose]() {
      agent.client.close();
      await pair[Symbol.asyncDispose]();
    },
  };
  return agent;
}

async function text(response: HttpResponse): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of response) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

const get = { method: "GET", path: "/api/v1/namespaces", headers: { accept: "application/json" } };

Deno.test("bodiless requests reuse one kept-alive stream; headers and bodies arrive as sent", async () => {
  await using agent = await agentWith((request, response) => {
    const body = `you asked for ${request.url}`;
    response.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    response.end(body);
  });
  for (let i = 0; i < 3; i++) {
    const response = await agent.client.request({
      ...get,
      path: `/api/v1/namespaces/n${i}?limit=1`,
      headers: { "impersonate-user": "alice", "impersonate-group": ["a", "b"], "content-length": "99" },
    });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers["content-type"], "text/plain");
    assert.equal(await text(response), `you asked for /api/v1/namespaces/n${i}?limit=1`);
    assert.equal(response.complete, true);
  }
  assert.equal(agent.streams.length, 1);
  assert.equal(agent.seen[0].headers["impersonate-group"], "a, b");
  // The framing is the client's own: a caller's Content-Length is not sent.
  assert.equal(agent.seen[0].headers["content-length"], undefined);
});

Deno.test("a request with a body goes on a stream of its own, and is sent once", async () => {
  await using agent = await agentWith((_request, response) => {
    response.writeHead(201, { "content-type": "application/json" });
    response.end("{}");
  });
  await text(await agent.client.request(get));
  const body = JSON.stringify({ metadata: { name: "é".repeat(1000) } });
  const created = await agent.client.request({ ...get, method: "POST", body });
  assert.equal(created.statusCode, 201);
  assert.equal(await text(created), "{}");
  await text(await agent.client.request(get));
  assert.equal(agent.streams.length, 2, "GETs share one stream, the POST had its own");
  assert.deepEqual(agent.seen.map((r) => r.method), ["GET", "POST", "GET"]);
  assert.equal(agent.seen[1].body, body);
  assert.equal(agent.seen[1].headers["content-length"], String(Buffer.byteLength(body)));
});

Deno.test("a kept-alive stream the agent closed meanwhile is replaced, and the GET succeeds", async () => {
  await using agent = await agentWith((_request, response) => {
    response.writeHead(200, { "content-length": 2 });
    response.end("ok");
  });
  assert.equal(await text(await agent.client.request(get)), "ok");
  agent.streams[0].destroy();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(await text(await agent.client.request(get)), "ok");
  assert.equal(agent.streams.length, 2);
});

Deno.test("a large body streams through intact, chunked, and the stream is reused after it", async () => {
  const big = Buffer.alloc(3 * 1024 * 1024 + 7);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  await using agent = await agentWith((_request, response) => {
    response.writeHead(200);
    for (let at = 0; at < big.length; at += 100_000) response.write(big.subarray(at, at + 100_000));
    response.end();
  });
  const response = await agent.client.request(get);
  assert.equal(response.headers["transfer-encoding"], "chunked");
  const chunks: Uint8Array[] = [];
  for await (const chunk of response) {
    chunks.push(chunk);
    // A slow reader: the tunnel must hold the rest back, not lose it.
    if (chunks.length % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.ok(Buffer.concat(chunks).equals(big));
  await text(await agent.client.request(get));
  assert.equal(agent.streams.length, 1);
});

Deno.test("aborting ends the response with the signal's reason and drops the stream", async () => {
  let release = () => {};
  await using agent = await agentWith((request, response) => {
    if (request.url !== "/slow") return response.end("quick");
    response.writeHead(200);
    response.write("first part");
    release = () => response.end();
  });
  const controller = new AbortController();
  const response = await agent.client.request({ ...get, path: "/slow", signal: controller.signal });
  const first = await new Promise<string>((resolve) =>
    response.once("data", (chunk) => resolve(String(chunk)))
  );
  assert.equal(first, "first part");
  const ended = new Promise<Error>((resolve) => response.once("error", resolve));
  controller.abort(new Error("the caller went away"));
  assert.equal((await ended).message, "the caller went away");
  release();
  assert.equal(await text(await agent.client.request(get)), "quick");
  assert.equal(agent.streams.length, 2, "the aborted stream was not reused");
});

Deno.test("a request already aborted is not sent", async () => {
  await using agent = await agentWith((_request, response) => response.end());
  const controller = new AbortController();
  controller.abort(new DOMException("no", "AbortError"));
  await assert.rejects(agent.client.request({ ...get, signal: controller.signal }), { name: "AbortError" });
  assert.equal(agent.seen.length, 0);
});

Deno.test("the request head refuses what would break the framing", () => {
  assert.throws(() => requestHead({ ...get, path: "/a b" }, "alpha"), /invalid request path/);
  assert.throws(() => requestHead({ ...get, path: "/a\r\nX-Evil: 1" }, "alpha"), /invalid request path/);
  assert.throws(() => requestHead({ ...get, path: "a" }, "alpha"), /invalid request path/);
  assert.throws(() => requestHead({ ...get, headers: { "bad name": "x" } }, "alpha"), /invalid header name/);
  assert.throws(() => requestHead(get, "alpha\r\nX-Evil: 1"), /invalid host/);
  assert.throws(
    () => requestHead({ ...get, headers: { "x-a": "1\r\nX-Evil: 1" } }, "alpha"),
    /invalid character/,
  );
  assert.throws(
    () => requestHead({ ...get, headers: { "impersonate-user": "名前" } }, "alpha"),
    /invalid character/,
  );
  assert.equal(
    requestHead({ ...get, headers: { "impersonate-group": ["a", "b"] } }, "alpha"),
    "GET /api/v1/namespaces HTTP/1.1\r\nhost: alpha\r\nimpersonate-group: a\r\nimpersonate-group: b\r\n\r\n",
  );
});
