import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { silentLogger } from "../../shared/log.ts";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { WatchEvent_Type, WatchEventSchema } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import {
  type FakeCluster,
  type SeenRequest,
  sendStatus,
  startFakeCluster,
  testIdentity,
} from "./test_cluster.ts";
import { WatchListSupport, watchResource } from "./watch.ts";
import type { WatchEventInit } from "./watch_events.ts";

const configMaps = { group: "", version: "v1", resource: "configmaps", namespace: "demo" };

function eventLine(type: string, name: string, resourceVersion: string): string {
  return JSON.stringify({ type, object: { kind: "ConfigMap", metadata: { name, resourceVersion } } }) + "\n";
}

function query(request: SeenRequest): Record<string, string> {
  return Object.fromEntries(new URL(request.path, "http://x").searchParams);
}

/** A scripted watch endpoint: each watch request gets the next script. */
type Script = (request: SeenRequest, response: ServerResponse) => void;

async function watchServer(scripts: Script[]): Promise<FakeCluster> {
  let next = 0;
  return await startFakeCluster("alpha", (request, response) => {
    const script = scripts[next++];
    if (!script) return sendStatus(response, 500, "InternalError", "no more scripts");
    script(request, response);
  });
}

function streamHead(response: ServerResponse) {
  response.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
  response.flushHeaders();
}

interface Collected {
  events: WatchEventInit[];
  error?: ConnectError;
}

async function collect(generator: AsyncGenerator<WatchEventInit>, stopAfter = Infinity): Promise<Collected> {
  const events: WatchEventInit[] = [];
  try {
    for await (const event of generator) {
      events.push(event);
      if (events.length >= stopAfter) break;
    }
  } catch (error) {
    return { events, error: error as ConnectError };
  }
  return { events };
}

function params(
  cluster: FakeCluster,
  extra: { resourceVersion?: string; signal?: AbortSignal; support?: WatchListSupport },
) {
  return {
    resolve: () =>
      Promise.resolve({
        caller: { access: cluster.access, cluster: "alpha", identity: testIdentity },
        target: configMaps,
      }),
    labelSelector: "app=web",
    resourceVersion: extra.resourceVersion,
    signal: extra.signal ?? new AbortController().signal,
    watchList: extra.support ?? new WatchListSupport(cluster.clusters),
    log: silentLogger,
  };
}

Deno.test("watch asks for WatchList and bookmarks, with no time limit; an upstream end is unavailable + rv", async () => {
  await using cluster = await watchServer([(_request, response) => {
    streamHead(response);
    response.write(eventLine("ADDED", "a", "10"));
    response.write(eventLine("ADDED", "b", "11").slice(0, 20));
    response.write(eventLine("ADDED", "b", "11").slice(20));
    response.end(
      JSON.stringify({
        type: "BOOKMARK",
        object: { metadata: { resourceVersion: "11", annotations: { "k8s.io/initial-events-end": "true" } } },
      }) + "\n",
    );
  }]);
  const result = await collect(watchResource(params(cluster, {})));
  assert.deepEqual(query(cluster.requests[0]), {
    watch: "true",
    allowWatchBookmarks: "true",
    labelSelector: "app=web",
    sendInitialEvents: "true",
    resourceVersionMatch: "NotOlderThan",
  });
  assert.match(cluster.requests[0].path, /^\/api\/v1\/namespaces\/demo\/configmaps\?/);
  assert.deepEqual(result.events.map((e) => [e.type, e.resourceVersion]), [
    [WatchEvent_Type.ADDED, "10"],
    [WatchEvent_Type.ADDED, "11"],
    [WatchEvent_Type.BOOKMARK, "11"],
  ]);
  assert.equal(result.error?.code, Code.Unavailable);
  assert.match(result.error?.rawMessage ?? "", /the watch ended upstream; resume from resource_version "11"/);
});

Deno.test("a resource_version resumes a classic watch from it", async () => {
  await using cluster = await watchServer([(_request, response) => {
    streamHead(response);
    response.end(eventLine("MODIFIED", "a", "12"));
  }]);
  const result = await collect(watchResource(params(cluster, { resourceVersion: "11" })));
  assert.deepEqual(query(cluster.requests[0]), {
    watch: "true",
    allowWatchBookmarks: "true",
    labelSelector: "app=web",
    resourceVersion: "11",
  });
  assert.equal(result.events.length, 1);
  assert.match(result.error?.rawMessage ?? "", /resume from resource_version "12"/);
});

Deno.test("a cluster refusing WatchList is watched the classic way, and remembered until it reconnects", async () => {
  const refuse: Script = (_request, response) =>
    sendStatus(
      response,
      422,
      "Invalid",
      'ConfigMap.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden ' +
        "for watch unless the WatchList feature gate is enabled",
    );
  const classic: Script = (_request, response) => {
    streamHead(response);
    response.end(eventLine("ADDED", "a", "5"));
  };
  await using cluster = await watchServer([refuse, classic, classic, refuse, classic]);
  const support = new WatchListSupport(cluster.clusters);
  const first = await collect(watchResource(params(cluster, { support })));
  assert.equal(first.events.length, 1);
  assert.equal(query(cluster.requests[0]).sendInitialEvents, "true");
  assert.equal(query(cluster.requests[1]).sendInitialEvents, undefined);

  await collect(watchResource(params(cluster, { support })));
  assert.equal(cluster.requests.length, 3, "no second attempt at WatchList");
  assert.equal(query(cluster.requests[2]).sendInitialEvents, undefined);

  await cluster.reconnect();
  await collect(watchResource(params(cluster, { support })));
  assert.equal(query(cluster.requests[3]).sendInitialEvents, "true", "a reconnected agent is asked again");
});

Deno.test("410 on open is out_of_range (relist); other errors keep their code", async () => {
  await using cluster = await watchServer([
    (_request, response) => sendStatus(response, 410, "Expired", "too old resource version: 3 (900)"),
    (_request, response) => sendStatus(response, 403, "Forbidden", 'configmaps is forbidden: User "tester"'),
  ]);
  const gone = await collect(watchResource(params(cluster, { resourceVersion: "3" })));
  assert.equal(gone.error?.code, Code.OutOfRange);
  assert.equal(gone.error?.rawMessage, "resource version too old; relist: too old resource version: 3 (900)");
  const denied = await collect(watchResource(params(cluster, {})));
  assert.equal(denied.error?.code, Code.PermissionDenied);
});

Deno.test("the client leaving ends the watch quietly and closes the upstream request", async () => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
  await using cluster = await watchServer([(_request, response) => {
    streamHead(response);
    response.write(eventLine("ADDED", "a", "1"));
    response.once("close", upstreamClosed);
  }]);
  const client = new AbortController();
  const generator = watchResource(params(cluster, { signal: client.signal }));
  const first = await generator.next();
  assert.equal(first.value?.resourceVersion, "1");
  const pending = generator.next();
  client.abort();
  assert.deepEqual(await pending, { done: true, value: undefined });
  await closed;
});

Deno.test("a consumer that stops reading (return) also closes the upstream request", async () => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
  await using cluster = await watchServer([(_request, response) => {
    streamHead(response);
    response.write(eventLine("ADDED", "a", "1") + eventLine("ADDED", "b", "2"));
    response.once("close", upstreamClosed);
  }]);
  const result = await collect(watchResource(params(cluster, {})), 1);
  assert.equal(result.events.length, 1);
  await closed;
});

Deno.test("a tunnel that drops mid-watch is unavailable, naming the resource_version to resume from", async () => {
  await using cluster = await watchServer([(_request, response) => {
    streamHead(response);
    response.write(eventLine("ADDED", "a", "41"));
    response.write(eventLine("MODIFIED", "a", "42"));
  }]);
  const generator = watchResource(params(cluster, {}));
  const events = [(await generator.next()).value, (await generator.next()).value];
  assert.deepEqual(events.map((event) => event?.resourceVersion), ["41", "42"]);
  await cluster.disconnect();
  const result = await collect(generator);
  assert.equal(result.events.length, 0);
  assert.equal(result.error?.code, Code.Unavailable);
  assert.match(result.error?.rawMessage ?? "", /resume from resource_version "42"/);
  assert.doesNotMatch(result.error?.rawMessage ?? "", /127\.0\.0\.1/);
});

Deno.test("binary callers get encoded events that decode to the same events, and resume from the last", async () => {
  const script: Script = (_request, response) => {
    streamHead(response);
    response.write(eventLine("ADDED", "a", "10"));
    response.write(eventLine("MODIFIED", "a", "12").slice(0, 25));
    response.end(eventLine("MODIFIED", "a", "12").slice(25));
  };
  await using plainCluster = await watchServer([script]);
  await using binaryCluster = await watchServer([script]);
  const plain = await collect(watchResource(params(plainCluster, {})));
  const binary = await collect(watchResource({ ...params(binaryCluster, {}), binary: true }));
  const decoded = binary.events.map((event) =>
    fromBinary(WatchEventSchema, toBinary(WatchEventSchema, create(WatchEventSchema, event)))
  );
  assert.deepEqual(
    decoded.map((e) => [e.type, e.resourceVersion, e.resource?.object]),
    plain.events.map((e) => [e.type, e.resourceVersion, e.resource?.object]),
  );
  assert.equal(decoded.length, 2);
  assert.match(binary.error?.rawMessage ?? "", /resume from resource_version "12"/);
});
