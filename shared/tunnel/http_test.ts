import assert from "node:assert/strict";
import http from "node:http";
import type { YamuxSession } from "./session.ts";
import { concat, patternBytes, sessionPair, sha256Hex } from "./test_util.ts";

const noKeepAlive = { keepAliveIntervalMs: 0 };

/** An HTTP server fed with yamux streams instead of a listener (the agent side of the tunnel). */
function tunnelHttpServer(): http.Server {
  const server = http.createServer(async (request, response) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of request) chunks.push(chunk);
    const body = concat(chunks);
    response.setHeader("x-path", request.url ?? "");
    response.end(body.length > 0 ? await sha256Hex(body) : "empty");
  });
  // Deno's node:http destroys a keep-alive socket after each response when server.listening is false, and a
  // server fed through emit("connection") never listens.
  Object.defineProperty(server, "listening", { get: () => true });
  return server;
}

/** A keep-alive agent whose connections are new streams on the session (the hub side). */
function tunnelAgent(session: YamuxSession, maxSockets: number): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  Object.assign(agent, { createConnection: () => session.openStream() });
  return agent;
}

function request(agent: http.Agent, path: string, body?: Uint8Array) {
  return new Promise<{ status: number; path: string; text: string }>((resolve, reject) => {
    const req = http.request(
      { agent, host: "cluster.invalid", path, method: body ? "POST" : "GET" },
      (res) => {
        const chunks: Uint8Array[] = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            path: String(res.headers["x-path"]),
            text: new TextDecoder().decode(concat(chunks)),
          }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

Deno.test("node:http keep-alive requests reuse one yamux stream", async () => {
  const server = tunnelHttpServer();
  await using pair = await sessionPair(noKeepAlive, {
    ...noKeepAlive,
    onStream: (stream) => server.emit("connection", stream),
  });
  const agent = tunnelAgent(pair.client, 1);
  try {
    for (let i = 0; i < 20; i++) {
      const reply = await request(agent, `/api/v1/namespaces/${i}`);
      assert.deepEqual(reply, { status: 200, path: `/api/v1/namespaces/${i}`, text: "empty" });
    }
    const body = patternBytes(1024 * 1024, 5);
    const posted = await request(agent, "/upload", body);
    assert.equal(posted.text, await sha256Hex(body));
    assert.equal(pair.client.stats().streamsOpened, 1, "all 21 requests went over one kept-alive stream");
  } finally {
    agent.destroy();
  }
  await waitForNoStreams(pair.client, pair.server);
});

Deno.test("node:http concurrent requests over 16 streams", async () => {
  const server = tunnelHttpServer();
  await using pair = await sessionPair(noKeepAlive, {
    ...noKeepAlive,
    onStream: (stream) => server.emit("connection", stream),
  });
  const agent = tunnelAgent(pair.client, 16);
  try {
    const bodies = Array.from({ length: 64 }, (_, i) => patternBytes(50_000 + i, i + 1));
    const replies = await Promise.all(bodies.map((body, i) => request(agent, `/r/${i}`, body)));
    for (let i = 0; i < bodies.length; i++) {
      assert.equal(replies[i].path, `/r/${i}`);
      assert.equal(replies[i].text, await sha256Hex(bodies[i]));
    }
    assert.ok(pair.client.stats().streamsOpened <= 16, `${pair.client.stats().streamsOpened} streams opened`);
  } finally {
    agent.destroy();
  }
  await waitForNoStreams(pair.client, pair.server);
});

async function waitForNoStreams(...sessions: YamuxSession[]) {
  const deadline = performance.now() + 5_000;
  while (sessions.some((session) => session.stats().openStreams > 0)) {
    if (performance.now() > deadline) {
      throw new Error(`streams left open: ${sessions.map((session) => session.stats().openStreams)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("a pooled stream the server closed is dropped by the agent, not reused", async () => {
  const server = tunnelHttpServer();
  await using pair = await sessionPair(noKeepAlive, {
    ...noKeepAlive,
    onStream: (stream) => {
      server.emit("connection", stream);
      // The server side closes this connection a little after the first response (an idle timeout would).
      setTimeout(() => stream.destroy(), 50);
    },
  });
  const agent = tunnelAgent(pair.client, 1);
  try {
    assert.equal((await request(agent, "/first")).status, 200);
    await waitForNoStreams(pair.client, pair.server);
    assert.equal((await request(agent, "/second")).status, 200);
    assert.equal(pair.client.stats().streamsOpened, 2);
  } finally {
    agent.destroy();
  }
  await waitForNoStreams(pair.client, pair.server);
});
