import assert from "node:assert/strict";
import { Code, type ConnectError } from "@connectrpc/connect";
import { LOG_CHUNK_BYTES, podLogPath, streamPodLog } from "./pod_log.ts";
import { type FakeCluster, sendStatus, startFakeCluster, testIdentity } from "./test_cluster.ts";

const base = {
  namespace: "demo",
  pod: "app",
  container: "",
  follow: false,
  previous: false,
  timestamps: false,
};

Deno.test("log query: only the options that are set, and an explicit 0 is sent", () => {
  assert.equal(podLogPath(base), "/api/v1/namespaces/demo/pods/app/log");
  const zeros = new URL(
    podLogPath({ ...base, tailLines: 0n, sinceSeconds: 0n, limitBytes: 0n }),
    "http://x",
  ).searchParams;
  assert.deepEqual([zeros.get("tailLines"), zeros.get("sinceSeconds"), zeros.get("limitBytes")], [
    "0",
    "0",
    "0",
  ]);
  const all = new URL(
    podLogPath({
      ...base,
      container: "c",
      follow: true,
      previous: true,
      timestamps: true,
      tailLines: 10n,
      sinceTime: new Date("2026-01-02T03:04:05Z"),
      limitBytes: 4096n,
    }),
    "http://x",
  ).searchParams;
  assert.deepEqual(Object.fromEntries(all), {
    container: "c",
    follow: "true",
    previous: "true",
    timestamps: "true",
    tailLines: "10",
    sinceTime: "2026-01-02T03:04:05Z",
    limitBytes: "4096",
  });
  assert.equal(
    new URL(podLogPath({ ...base, sinceTime: new Date("2026-01-02T03:04:05.250Z") }), "http://x").searchParams
      .get(
        "sinceTime",
      ),
    "2026-01-02T03:04:05.250Z",
  );
});

Deno.test("log path: names that would leave their path segment are refused", () => {
  assert.throws(() => podLogPath({ ...base, pod: "../secrets" }), /not a valid path segment/);
  assert.throws(() => podLogPath({ ...base, namespace: "" }), /namespace/);
});

// ---- streaming, through a real tunnel to a scripted apiserver ----

const caller = (fake: FakeCluster) => ({ access: fake.access, cluster: fake.name, identity: testIdentity });
const options = { ...base, follow: true, tailLines: 0n };

Deno.test("the log streams in chunks of at most 32 KiB and ends with the body", async () => {
  const text = "x".repeat(100 * 1024 - 1) + "\n";
  await using fake = await startFakeCluster("alpha", (_request, response) => {
    response.writeHead(200, { "content-type": "text/plain" });
    response.end(text);
  });
  const chunks: Uint8Array[] = [];
  for await (const chunk of streamPodLog(caller(fake), options, new AbortController().signal)) {
    chunks.push(chunk);
  }
  assert.ok(chunks.every((chunk) => chunk.length > 0 && chunk.length <= LOG_CHUNK_BYTES));
  assert.equal(chunks.map((chunk) => new TextDecoder().decode(chunk)).join(""), text);
  assert.equal(fake.requests[0].path, "/api/v1/namespaces/demo/pods/app/log?follow=true&tailLines=0");
  assert.deepEqual(fake.requests[0].headers["impersonate-user"], "tester");
});

Deno.test("a caller's cancel ends the stream and the upstream request", async () => {
  const upstreamClosed = Promise.withResolvers<void>();
  await using fake = await startFakeCluster("alpha", (_request, response) => {
    response.writeHead(200, { "content-type": "text/plain" });
    response.write("first line\n");
    response.once("close", () => upstreamClosed.resolve());
  });
  const controller = new AbortController();
  const stream = streamPodLog(caller(fake), options, controller.signal);
  assert.equal(new TextDecoder().decode((await stream.next()).value as Uint8Array), "first line\n");
  const pending = stream.next();
  controller.abort();
  await assert.rejects(pending, (error: ConnectError) => error.code === Code.Canceled);
  await upstreamClosed.promise;
});

Deno.test("an error answer maps through the error table; a cut-off body is unavailable", async () => {
  await using refused = await startFakeCluster("alpha", (_request, response) => {
    sendStatus(response, 400, "BadRequest", 'previous terminated container "app" in pod "app" not found');
  });
  const drain = async (fake: FakeCluster) => {
    for await (
      const _ of streamPodLog(caller(fake), { ...base, previous: true }, new AbortController().signal)
    ) {
      // consume
    }
  };
  await assert.rejects(
    drain(refused),
    (error: ConnectError) =>
      error.code === Code.InvalidArgument && /previous terminated container/.test(error.rawMessage),
  );
  await using cut = await startFakeCluster("alpha", (_request, response) => {
    response.writeHead(200, { "content-type": "text/plain", "content-length": "100" });
    response.write("only ten b");
    setTimeout(() => response.destroy(), 10);
  });
  await assert.rejects(drain(cut), (error: ConnectError) => error.code === Code.Unavailable);
});
