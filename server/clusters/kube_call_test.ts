import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { callJson, type ClusterCaller } from "./kube_call.ts";
import { type FakeCluster, sendJson, sendStatus, startFakeCluster, testIdentity } from "./test_cluster.ts";

function callerOf(cluster: FakeCluster, name = "alpha"): ClusterCaller {
  return { access: cluster.access, cluster: name, identity: testIdentity };
}

async function expectCode(promise: Promise<unknown>, code: Code, message: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConnectError, String(error));
    assert.equal(Code[error.code], Code[code], error.rawMessage);
    assert.match(error.rawMessage, message);
    return true;
  });
}

Deno.test("callJson: answers, Status errors, text errors and the agent's 502", async () => {
  await using cluster = await startFakeCluster("alpha", (request, response) => {
    switch (request.path) {
      case "/ok":
        return sendJson(response, 200, { kind: "Pod" });
      case "/status":
        return sendStatus(response, 409, "AlreadyExists", 'pods "x" already exists');
      case "/text":
        response.writeHead(404, { "content-type": "text/plain" });
        response.end("404 page not found\n");
        return;
      default:
        return sendStatus(
          response,
          502,
          "InternalError",
          "the kube-apiserver connection failed: read ECONNRESET from 192.168.7.1:6443",
        );
    }
  });
  const get = (path: string) =>
    callJson(callerOf(cluster), { method: "GET", path }, { action: `get ${path}` });
  assert.deepEqual(await get("/ok"), { kind: "Pod" });
  await expectCode(get("/status"), Code.AlreadyExists, /^pods "x" already exists$/);
  await expectCode(get("/text"), Code.NotFound, /^404 page not found$/);
  await expectCode(
    get("/agent"),
    Code.Unavailable,
    /^the kube-apiserver connection failed: read ECONNRESET from <address>$/,
  );
});

Deno.test("callJson: a cluster that never answers is deadline_exceeded; a caller who leaves is canceled", async () => {
  await using cluster = await startFakeCluster("alpha", () => {
    // Never answers.
  });
  await expectCode(
    callJson(callerOf(cluster), { method: "GET", path: "/slow" }, { action: "get /slow", timeoutMs: 100 }),
    Code.DeadlineExceeded,
    /get \/slow: the cluster did not answer in time/,
  );
  const caller = new AbortController();
  const pending = callJson(callerOf(cluster), { method: "GET", path: "/slow" }, {
    action: "get /slow",
    signal: caller.signal,
  });
  setTimeout(() => caller.abort(), 20);
  await expectCode(pending, Code.Canceled, /get \/slow: canceled/);
  await cluster.disconnect();
});

Deno.test("callJson: bodies over the limit and clusters that are not connected", async () => {
  await using cluster = await startFakeCluster("alpha", (_request, response) => {
    sendJson(response, 200, { data: "x".repeat(4096) });
  });
  await expectCode(
    callJson(callerOf(cluster), { method: "GET", path: "/big" }, { action: "get /big", limitBytes: 1024 }),
    Code.ResourceExhausted,
    /get \/big: the answer exceeds 1024 bytes/,
  );
  await expectCode(
    callJson(callerOf(cluster, "gamma"), { method: "GET", path: "/x" }, { action: "get /x" }),
    Code.Unavailable,
    /cluster "gamma" is not connected/,
  );
  await cluster.disconnect();
  await expectCode(
    callJson(callerOf(cluster), { method: "GET", path: "/x" }, { action: "get /x" }),
    Code.Unavailable,
    /cluster "alpha" is not connected/,
  );
});
