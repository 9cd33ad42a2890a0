// The ResourceService handlers against a scripted apiserver behind a real tunnel: which requests they
// make (paths, queries, bodies, headers) and how they shape answers and errors. The real cluster path is
// covered by tests/e2e/resource_test.ts.
import assert from "node:assert/strict";
import type { JsonObject } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type Interceptor,
} from "@connectrpc/connect";
import { silentLogger } from "../../shared/log.ts";
import { ResourceService } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import {
  type FakeApiHandler,
  type FakeCluster,
  type SeenRequest,
  sendJson,
  sendStatus,
  startFakeCluster,
  testIdentity,
} from "../clusters/test_cluster.ts";
import { identityKey } from "../http/context.ts";
import { DiscoveryCache } from "../clusters/discovery.ts";
import { registerResourceService } from "./resource.ts";

const encoder = new TextEncoder();
const discoveryType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

function discoveryList(items: unknown[]) {
  return { kind: "APIGroupDiscoveryList", apiVersion: "apidiscovery.k8s.io/v2", metadata: {}, items };
}

const coreGroup = {
  metadata: {},
  versions: [{
    version: "v1",
    freshness: "Current",
    resources: [
      {
        resource: "configmaps",
        responseKind: { kind: "ConfigMap" },
        scope: "Namespaced",
        verbs: ["get", "list"],
      },
      { resource: "nodes", responseKind: { kind: "Node" }, scope: "Cluster", verbs: ["get", "list"] },
      { resource: "events", responseKind: { kind: "Event" }, scope: "Namespaced", verbs: ["list"] },
    ],
  }],
};

function configMap(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name,
      namespace: "demo",
      uid: `uid-${name}`,
      resourceVersion: "7",
      managedFields: [{ manager: "kubectl" }],
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
      ...extra,
    },
  };
}

/** Discovery plus `routes`: path (without query) → handler. */
async function apiserver(routes: Record<string, FakeApiHandler>): Promise<FakeCluster> {
  return await startFakeCluster("alpha", (request, response) => {
    const path = request.path.split("?")[0];
    if (path === "/api") return sendJson(response, 200, discoveryList([coreGroup]), discoveryType);
    if (path === "/apis") return sendJson(response, 200, discoveryList([]), discoveryType);
    const route = routes[`${request.method} ${path}`];
    if (!route) return sendStatus(response, 404, "NotFound", `no route for ${request.method} ${path}`);
    return route(request, response);
  });
}

function clientFor(
  cluster: FakeCluster,
  identity: typeof testIdentity | null = testIdentity,
  useBinaryFormat = true,
) {
  const setIdentity: Interceptor = (next) => (req) => {
    if (identity) req.contextValues.set(identityKey, identity);
    return next(req);
  };
  const transport = createRouterTransport(
    (router) =>
      registerResourceService(router, {
        access: cluster.access,
        clusters: cluster.clusters,
        discovery: new DiscoveryCache({
          access: cluster.access,
          clusters: cluster.clusters,
          log: silentLogger,
        }),
        log: silentLogger,
      }),
    { router: { interceptors: [setIdentity] }, transport: { useBinaryFormat } },
  );
  return createClient(ResourceService, transport);
}

function query(request: SeenRequest): Record<string, string> {
  return Object.fromEntries(new URL(request.path, "http://x").searchParams);
}

function lastRequest(cluster: FakeCluster, method: string): SeenRequest {
  const found = cluster.requests.findLast((r) => r.method === method && !r.path.startsWith("/api?"));
  assert.ok(found, `no ${method} request`);
  return found;
}

async function expectCode(promise: Promise<unknown>, code: Code, message?: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    const connect = ConnectError.from(error);
    assert.equal(Code[connect.code], Code[code], connect.rawMessage);
    if (message) assert.match(connect.rawMessage, message);
    return true;
  });
}

Deno.test("List: query parameters, list metadata and sanitised items", async () => {
  await using cluster = await apiserver({
    "GET /api/v1/namespaces/demo/configmaps": (_request, response) =>
      sendJson(response, 200, {
        kind: "ConfigMapList",
        apiVersion: "v1",
        metadata: { resourceVersion: "99", continue: "next-page", remainingItemCount: 12 },
        items: [configMap("a"), configMap("b", { annotations: { keep: "me" } })],
      }),
  });
  const list = await clientFor(cluster).list({
    cluster: "alpha",
    version: "v1",
    resource: "configmaps",
    namespace: "demo",
    labelSelector: "app=web",
    fieldSelector: "metadata.name!=x",
    limit: 2n,
    continue: "page-1",
  });
  assert.deepEqual(query(lastRequest(cluster, "GET")), {
    labelSelector: "app=web",
    fieldSelector: "metadata.name!=x",
    limit: "2",
    continue: "page-1",
  });
  assert.equal(lastRequest(cluster, "GET").headers["impersonate-user"], testIdentity.user);
  assert.deepEqual([list.resourceVersion, list.continue, list.remainingItemCount], ["99", "next-page", 12n]);
  assert.deepEqual(list.items.map((item) => item.object?.metadata), [
    { name: "a", namespace: "demo", uid: "uid-a", resourceVersion: "7" },
    { name: "b", namespace: "demo", uid: "uid-b", resourceVersion: "7", annotations: { keep: "me" } },
  ]);
});

Deno.test("List: all namespaces without one; scope and field validation", async () => {
  await using cluster = await apiserver({
    "GET /api/v1/configmaps": (_request, response) =>
      sendJson(response, 200, { kind: "ConfigMapList", items: [] }),
  });
  const client = clientFor(cluster);
  const all = await client.list({ cluster: "alpha", version: "v1", resource: "configmaps" });
  assert.deepEqual([all.items.length, all.resourceVersion, all.remainingItemCount], [0, "", 0n]);
  await expectCode(
    client.list({ cluster: "alpha", version: "v1", resource: "nodes", namespace: "demo" }),
    Code.InvalidArgument,
    /"nodes" is cluster-scoped/,
  );
  await expectCode(
    client.list({ version: "v1" }),
    Code.InvalidArgument,
    /missing required field\(s\): cluster, resource/,
  );
  await expectCode(
    client.list({ cluster: "alpha", version: "v1", resource: "configmaps", limit: -1n }),
    Code.InvalidArgument,
    /limit/,
  );
});

Deno.test("List: a body cut off by the tunnel is unavailable, not a short list", async () => {
  await using cluster = await apiserver({
    "GET /api/v1/configmaps": (_request, response) => {
      const body = JSON.stringify({ kind: "ConfigMapList", items: [configMap("a"), configMap("b")] });
      response.writeHead(200, { "content-type": "application/json", "content-length": body.length + 100 });
      response.write(body.slice(0, 120));
      setTimeout(() => response.destroy(), 20);
    },
  });
  await expectCode(
    clientFor(cluster).list({ cluster: "alpha", version: "v1", resource: "configmaps" }),
    Code.Unavailable,
  );
});

Deno.test("Get: namespaced resources need a namespace; errors keep the Kubernetes message, scrubbed", async () => {
  await using cluster = await apiserver({
    "GET /api/v1/namespaces/demo/configmaps/a": (_request, response) =>
      sendJson(response, 200, configMap("a")),
    "GET /api/v1/namespaces/demo/configmaps/broken": (_request, response) =>
      sendStatus(response, 500, "InternalError", "etcdserver: leader at https://10.0.0.2:2379 lost"),
  });
  const client = clientFor(cluster);
  const got = await client.get({
    cluster: "alpha",
    version: "v1",
    resource: "configmaps",
    namespace: "demo",
    name: "a",
  });
  assert.deepEqual(got.object?.metadata, {
    name: "a",
    namespace: "demo",
    uid: "uid-a",
    resourceVersion: "7",
  });
  await expectCode(
    client.get({ cluster: "alpha", version: "v1", resource: "configmaps", name: "a" }),
    Code.InvalidArgument,
    /namespace: required/,
  );
  await expectCode(
    client.get({
      cluster: "alpha",
      version: "v1",
      resource: "configmaps",
      namespace: "demo",
      name: "missing",
    }),
    Code.NotFound,
  );
  await expectCode(
    client.get({
      cluster: "alpha",
      version: "v1",
      resource: "configmaps",
      namespace: "demo",
      name: "broken",
    }),
    Code.Internal,
    /^etcdserver: leader at <url> lost$/,
  );
});

Deno.test("Describe: events by the object's uid in its namespace; events it may not read are left out", async () => {
  let eventsAllowed = true;
  await using cluster = await apiserver({
    "GET /api/v1/namespaces/demo/configmaps/a": (_request, response) =>
      sendJson(response, 200, configMap("a")),
    "GET /api/v1/namespaces/demo/events": (_request, response) =>
      eventsAllowed
        ? sendJson(response, 200, {
          kind: "EventList",
          items: [{ kind: "Event", metadata: { name: "e1", managedFields: [] }, reason: "Created" }],
        })
        : sendStatus(response, 403, "Forbidden", 'events is forbidden: User "tester" cannot list'),
  });
  const client = clientFor(cluster);
  const request = { cluster: "alpha", version: "v1", resource: "configmaps", namespace: "demo", name: "a" };
  const described = await client.describe(request);
  assert.deepEqual(query(lastRequest(cluster, "GET")), {
    fieldSelector: "involvedObject.uid=uid-a",
    limit: "500",
  });
  assert.equal(
    described.resource?.object?.metadata && (described.resource.object.metadata as { uid: string }).uid,
    "uid-a",
  );
  assert.deepEqual(described.events.map((e) => e.object), [{
    kind: "Event",
    metadata: { name: "e1" },
    reason: "Created",
  }]);
  eventsAllowed = false;
  assert.deepEqual((await client.describe(request)).events, []);
});

Deno.test("Create: JSON body, field manager, namespace from the request or the manifest", async () => {
  await using cluster = await apiserver({
    "POST /api/v1/namespaces/demo/configmaps": (request, response) =>
      sendJson(response, 201, {
        ...JSON.parse(request.body),
        metadata: { ...JSON.parse(request.body).metadata, uid: "new" },
      }),
  });
  const client = clientFor(cluster);
  const created = await client.create({
    cluster: "alpha",
    version: "v1",
    resource: "configmaps",
    manifest: encoder.encode(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: demo\ndata:\n  on: yes\n",
    ),
  });
  const post = lastRequest(cluster, "POST");
  assert.equal(post.headers["content-type"], "application/json");
  assert.deepEqual(query(post), { fieldManager: "otterscale" });
  assert.deepEqual(JSON.parse(post.body), {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "x", namespace: "demo" },
    data: { on: "yes" },
  });
  assert.equal((created.object?.metadata as { uid: string }).uid, "new");
  await expectCode(
    client.create({
      cluster: "alpha",
      version: "v1",
      resource: "configmaps",
      manifest: encoder.encode("kind: X\n"),
    }),
    Code.InvalidArgument,
    /invalid manifest: apiVersion is missing/,
  );
});

Deno.test("Apply: apply-patch content type, default field manager, force only when asked", async () => {
  await using cluster = await apiserver({
    "PATCH /api/v1/namespaces/demo/configmaps/x": (request, response) =>
      sendJson(response, 200, JSON.parse(request.body)),
  });
  const client = clientFor(cluster);
  const manifest = encoder.encode(
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"1"}}',
  );
  await client.apply({
    cluster: "alpha",
    version: "v1",
    resource: "configmaps",
    namespace: "demo",
    name: "x",
    manifest,
  });
  let patch = lastRequest(cluster, "PATCH");
  assert.equal(patch.headers["content-type"], "application/apply-patch+yaml");
  assert.deepEqual(query(patch), { fieldManager: "otterscale" });
  await client.apply({
    cluster: "alpha",
    version: "v1",
    resource: "configmaps",
    namespace: "demo",
    manifest,
    force: true,
    fieldManager: "ci",
  });
  patch = lastRequest(cluster, "PATCH");
  assert.deepEqual(query(patch), { fieldManager: "ci", force: "true" });
  assert.equal(patch.path.split("?")[0], "/api/v1/namespaces/demo/configmaps/x", "name from the manifest");
});

Deno.test("Delete: background propagation; gracePeriodSeconds sent only when set, 0 included", async () => {
  await using cluster = await apiserver({
    "DELETE /api/v1/namespaces/demo/configmaps/x": (_request, response) =>
      sendJson(response, 200, { kind: "Status", status: "Success" }),
  });
  const client = clientFor(cluster);
  const request = { cluster: "alpha", version: "v1", resource: "configmaps", namespace: "demo", name: "x" };
  await client.delete(request);
  assert.deepEqual(JSON.parse(lastRequest(cluster, "DELETE").body), {
    kind: "DeleteOptions",
    apiVersion: "v1",
    propagationPolicy: "Background",
  });
  await client.delete({ ...request, gracePeriodSeconds: 0n });
  assert.equal(JSON.parse(lastRequest(cluster, "DELETE").body).gracePeriodSeconds, 0);
  await client.delete({ ...request, gracePeriodSeconds: 30n });
  assert.equal(JSON.parse(lastRequest(cluster, "DELETE").body).gracePeriodSeconds, 30);
});

Deno.test("Watch: events stream to the client; validation errors come first", async () => {
  await using cluster = await apiserver({
    "GET /api/v1/namespaces/demo/configmaps": (_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({ type: "ADDED", object: configMap("a") }) + "\n" +
          JSON.stringify({
            type: "BOOKMARK",
            object: {
              metadata: { resourceVersion: "8", annotations: { "k8s.io/initial-events-end": "true" } },
            },
          }) + "\n",
      );
    },
  });
  const client = clientFor(cluster);
  const events = [];
  let ended: ConnectError | undefined;
  try {
    for await (
      const event of client.watch({
        cluster: "alpha",
        version: "v1",
        resource: "configmaps",
        namespace: "demo",
      })
    ) {
      events.push(event);
    }
  } catch (error) {
    ended = ConnectError.from(error);
  }
  assert.deepEqual(events.map((e) => e.resourceVersion), ["7", "8"]);
  assert.deepEqual(events[0].resource?.object?.metadata, {
    name: "a",
    namespace: "demo",
    uid: "uid-a",
    resourceVersion: "7",
  });
  assert.equal(ended?.code, Code.Unavailable);
  await expectCode(
    (async () => {
      for await (const _ of client.watch({ cluster: "alpha", version: "v1", resource: "pods/log" })) {
        // never reached
      }
    })(),
    Code.InvalidArgument,
    /subresource/,
  );
});

Deno.test("List and Watch answer JSON callers with the same objects as binary ones", async () => {
  const items = [configMap("a"), configMap("b", { annotations: { keep: "me", "x": 'quote " ü' } })];
  await using cluster = await apiserver({
    "GET /api/v1/namespaces/demo/configmaps": (request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      const body = request.path.includes("watch=true")
        ? items.map((object) => JSON.stringify({ type: "ADDED", object }) + "\n").join("")
        : JSON.stringify({ kind: "ConfigMapList", metadata: { resourceVersion: "9" }, items });
      response.end(body);
    },
  });
  const request = { cluster: "alpha", version: "v1", resource: "configmaps", namespace: "demo" };
  const answers = [];
  for (const binary of [true, false]) {
    const client = clientFor(cluster, testIdentity, binary);
    const list = await client.list(request);
    const events = [];
    try {
      for await (const event of client.watch(request)) {
        events.push([event.type, event.resourceVersion, event.resource]);
      }
    } catch (error) {
      assert.equal(ConnectError.from(error).code, Code.Unavailable, "the fake watch ends");
    }
    answers.push({ list: [list.resourceVersion, list.items], events });
  }
  assert.deepEqual(answers[1], answers[0]);
  assert.equal(answers[0].events.length, 2);
  assert.deepEqual((answers[0].list[1] as { object?: JsonObject }[])[1].object?.metadata, {
    name: "b",
    namespace: "demo",
    uid: "uid-b",
    resourceVersion: "7",
    annotations: { keep: "me", x: 'quote " ü' },
  });
});

Deno.test("every RPC needs an identity", async () => {
  await using cluster = await apiserver({});
  const anonymous = clientFor(cluster, null);
  await expectCode(anonymous.discovery({ cluster: "alpha" }), Code.Unauthenticated);
  await expectCode(
    anonymous.list({ cluster: "alpha", version: "v1", resource: "configmaps" }),
    Code.Unauthenticated,
  );
});
