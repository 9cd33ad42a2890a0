import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { silentLogger } from "../../shared/log.ts";
import { DiscoveryCache } from "./discovery.ts";
import { AGGREGATED_DISCOVERY_ACCEPT } from "./discovery_documents.ts";
import { type FakeCluster, sendJson, sendStatus, startFakeCluster, testIdentity } from "./test_cluster.ts";

type Json = Record<string, unknown>;

function aggregatedList(items: Json[]): Json {
  return { kind: "APIGroupDiscoveryList", apiVersion: "apidiscovery.k8s.io/v2", metadata: {}, items };
}

function groupItem(name: string, version: string, resources: Json[], freshness = "Current"): Json {
  return { metadata: name ? { name } : {}, versions: [{ version, resources, freshness }] };
}

function resource(
  name: string,
  kind: string,
  scope: "Namespaced" | "Cluster",
  subresources: string[] = [],
  shortNames: string[] = [],
): Json {
  return {
    resource: name,
    responseKind: { group: "", version: "", kind },
    scope,
    verbs: ["get", "list", "watch"],
    shortNames,
    subresources: subresources.map((sub) => ({ subresource: sub, responseKind: { kind }, verbs: ["get"] })),
  };
}

/** A fake apiserver serving aggregated discovery from mutable lists. */
function aggregatedServer(state: { core: Json[]; groups: Json[] }) {
  return (
    request: { path: string; headers: Record<string, unknown> },
    response: Parameters<typeof sendJson>[0],
  ) => {
    const ct = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    if (request.path === "/api") return sendJson(response, 200, aggregatedList(state.core), ct);
    if (request.path === "/apis") return sendJson(response, 200, aggregatedList(state.groups), ct);
    sendStatus(response, 404, "NotFound", "the server could not find the requested resource");
  };
}

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function cacheFor(cluster: FakeCluster, now: () => number) {
  return new DiscoveryCache({
    access: cluster.access,
    clusters: cluster.clusters,
    log: silentLogger,
    now,
    missRefreshMs: 3_000,
    maxAgeMs: 60_000,
  });
}

async function assertRejects(promise: Promise<unknown>, code: Code, message: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConnectError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.rawMessage, message);
    return true;
  });
}

const coreResources = [
  resource("pods", "Pod", "Namespaced", ["log", "exec"]),
  resource("nodes", "Node", "Cluster"),
];
const appsGroup = groupItem("apps", "v1", [
  resource("deployments", "Deployment", "Namespaced", ["scale"], ["deploy"]),
]);

Deno.test("aggregated discovery: two requests as the caller, subresources listed, stale APIs skipped", async () => {
  const state = {
    core: [groupItem("", "v1", coreResources)],
    groups: [appsGroup, groupItem("metrics.k8s.io", "v1beta1", [], "Stale")],
  };
  await using cluster = await startFakeCluster("alpha", aggregatedServer(state));
  const cache = cacheFor(cluster, clock().now);
  const snapshot = await cache.snapshot("alpha", testIdentity);
  assert.deepEqual(snapshot.resources().map((r) => `${r.group}/${r.version}/${r.resource}`), [
    "/v1/pods",
    "/v1/pods/log",
    "/v1/pods/exec",
    "/v1/nodes",
    "apps/v1/deployments",
    "apps/v1/deployments/scale",
  ]);
  assert.deepEqual(cluster.requests.map((r) => r.path).sort(), ["/api", "/apis"]);
  for (const request of cluster.requests) {
    assert.equal(request.headers.accept, AGGREGATED_DISCOVERY_ACCEPT);
    assert.equal(request.headers["impersonate-user"], testIdentity.user);
  }

  const pods = await cache.resolve("alpha", testIdentity, { group: "", version: "v1", resource: "pods" });
  assert.deepEqual([pods.kind, pods.namespaced], ["Pod", true]);
  const nodes = await cache.resolve("alpha", testIdentity, { group: "", version: "v1", resource: "nodes" });
  assert.equal(nodes.namespaced, false);
  await assertRejects(
    cache.resolve("alpha", testIdentity, { group: "metrics.k8s.io", version: "v1beta1", resource: "pods" }),
    Code.Unavailable,
    /discovery of "metrics.k8s.io\/v1beta1" failed: .*stale on cluster "alpha"/,
  );
  // Served from the cache: no more requests.
  assert.equal(cluster.requests.length, 2);
});

Deno.test("lookups: subresource names, unknown resources and unknown group-versions", async () => {
  const state = { core: [groupItem("", "v1", coreResources)], groups: [appsGroup] };
  await using cluster = await startFakeCluster("alpha", aggregatedServer(state));
  const cache = cacheFor(cluster, clock().now);
  await assertRejects(
    cache.resolve("alpha", testIdentity, { group: "", version: "v1", resource: "pods/log" }),
    Code.InvalidArgument,
    /"pods\/log" is a subresource; name the resource itself \("pods"\)/,
  );
  await assertRejects(
    cache.resolve("alpha", testIdentity, { group: "", version: "v1", resource: "pod" }),
    Code.InvalidArgument,
    /resource: "pod" is not a resource of "v1" \(did you mean "pods"\?\) on cluster "alpha"/,
  );
  await assertRejects(
    cache.resolve("alpha", testIdentity, { group: "apps", version: "v1", resource: "deploy" }),
    Code.InvalidArgument,
    /did you mean "deployments"/,
  );
  await assertRejects(
    cache.resolve("alpha", testIdentity, { group: "apps", version: "v2", resource: "deployments" }),
    Code.NotFound,
    /group\/version "apps\/v2" is not served on cluster "alpha"/,
  );
  await assertRejects(
    cache.resolve("nope", testIdentity, { group: "", version: "v1", resource: "pods" }),
    Code.Unavailable,
    /cluster "nope" is not connected/,
  );
});

Deno.test("a miss refetches at most once per missRefreshMs; a new CRD becomes visible", async () => {
  const state = { core: [groupItem("", "v1", coreResources)], groups: [appsGroup] };
  await using cluster = await startFakeCluster("alpha", aggregatedServer(state));
  const time = clock();
  const cache = cacheFor(cluster, time.now);
  await cache.snapshot("alpha", testIdentity);
  state.groups.push(groupItem("stable.example.com", "v1", [resource("crontabs", "CronTab", "Namespaced")]));
  const crontabs = { group: "stable.example.com", version: "v1", resource: "crontabs" };

  // Too soon after the last fetch: the miss is answered from the cache.
  await assertRejects(cache.resolve("alpha", testIdentity, crontabs), Code.NotFound, /not served/);
  assert.equal(cluster.requests.length, 2);

  time.advance(3_000);
  const found = await cache.resolve("alpha", testIdentity, crontabs);
  assert.equal(found.kind, "CronTab");
  assert.equal(cluster.requests.length, 4);

  // A hit never refetches, and a miss right after a refetch does not either.
  await cache.resolve("alpha", testIdentity, crontabs);
  await assertRejects(
    cache.resolve("alpha", testIdentity, { group: "x.example.com", version: "v1", resource: "y" }),
    Code.NotFound,
    /x.example.com\/v1/,
  );
  assert.equal(cluster.requests.length, 4);
});

Deno.test("concurrent callers share one fetch; an old snapshot is served while it refreshes", async () => {
  const state = { core: [groupItem("", "v1", coreResources)], groups: [appsGroup] };
  await using cluster = await startFakeCluster("alpha", aggregatedServer(state));
  const time = clock();
  const cache = cacheFor(cluster, time.now);
  const snapshots = await Promise.all(
    Array.from({ length: 10 }, () => cache.snapshot("alpha", testIdentity)),
  );
  assert.ok(snapshots.every((s) => s === snapshots[0]));
  assert.equal(cluster.requests.length, 2);

  time.advance(60_000);
  state.groups.push(groupItem("batch", "v1", [resource("jobs", "Job", "Namespaced")]));
  const stale = await cache.snapshot("alpha", testIdentity);
  assert.equal(stale, snapshots[0], "the old snapshot answers at once");
  // The background refresh lands shortly.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && (await cache.snapshot("alpha", testIdentity)) === stale) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const fresh = await cache.snapshot("alpha", testIdentity);
  assert.notEqual(fresh, stale);
  assert.ok(fresh.groupVersion("batch", "v1"));
  assert.equal(cluster.requests.length, 4);
});

Deno.test("an agent reconnect drops the cluster's snapshot", async () => {
  const state = { core: [groupItem("", "v1", coreResources)], groups: [appsGroup] };
  await using cluster = await startFakeCluster("alpha", aggregatedServer(state));
  const cache = cacheFor(cluster, clock().now);
  const before = await cache.snapshot("alpha", testIdentity);
  await cluster.reconnect();
  const after = await cache.snapshot("alpha", testIdentity);
  assert.notEqual(after, before);
  assert.equal(cluster.requests.length, 4);
});

Deno.test("legacy discovery: one document per group-version; a failing one is skipped, not fatal", async () => {
  await using cluster = await startFakeCluster("legacy", (request, response) => {
    switch (request.path) {
      case "/api":
        return sendJson(response, 200, { kind: "APIVersions", versions: ["v1"] });
      case "/apis":
        return sendJson(response, 200, {
          kind: "APIGroupList",
          groups: [
            { name: "apps", versions: [{ groupVersion: "apps/v1", version: "v1" }] },
            {
              name: "metrics.k8s.io",
              versions: [{ groupVersion: "metrics.k8s.io/v1beta1", version: "v1beta1" }],
            },
          ],
        });
      case "/api/v1":
        return sendJson(response, 200, {
          kind: "APIResourceList",
          groupVersion: "v1",
          resources: [{ name: "pods", namespaced: true, kind: "Pod", verbs: ["get"] }, {
            name: "pods/log",
            namespaced: true,
            kind: "Pod",
            verbs: ["get"],
          }],
        });
      case "/apis/apps/v1":
        return sendJson(response, 200, {
          kind: "APIResourceList",
          groupVersion: "apps/v1",
          resources: [{ name: "deployments", namespaced: true, kind: "Deployment", verbs: ["get"] }],
        });
      default:
        return sendStatus(
          response,
          503,
          "ServiceUnavailable",
          "the server is currently unable to handle the request",
        );
    }
  });
  const cache = cacheFor(cluster, clock().now);
  const snapshot = await cache.snapshot("legacy", testIdentity);
  assert.deepEqual(snapshot.resources().map((r) => `${r.group}/${r.resource}`), [
    "/pods",
    "/pods/log",
    "apps/deployments",
  ]);
  assert.deepEqual(cluster.requests.map((r) => r.path).sort(), [
    "/api",
    "/api/v1",
    "/apis",
    "/apis/apps/v1",
    "/apis/metrics.k8s.io/v1beta1",
  ]);
  await assertRejects(
    cache.resolve("legacy", testIdentity, { group: "metrics.k8s.io", version: "v1beta1", resource: "nodes" }),
    Code.Unavailable,
    /discovery of "metrics.k8s.io\/v1beta1" failed: the server is currently unable/,
  );
});

Deno.test("a failing /apis leaves the core group usable; unknown groups are then unavailable", async () => {
  await using cluster = await startFakeCluster("half", (request, response) => {
    if (request.path === "/api") {
      return sendJson(response, 200, aggregatedList([groupItem("", "v1", coreResources)]));
    }
    sendStatus(response, 500, "InternalError", "etcd is unhappy at 10.0.0.9:2379");
  });
  const cache = cacheFor(cluster, clock().now);
  const pods = await cache.resolve("half", testIdentity, { group: "", version: "v1", resource: "pods" });
  assert.equal(pods.kind, "Pod");
  await assertRejects(
    cache.resolve("half", testIdentity, { group: "apps", version: "v1", resource: "deployments" }),
    Code.Unavailable,
    /"apps\/v1" is unknown and discovery is incomplete: etcd is unhappy at <address>/,
  );
});

Deno.test("when discovery fails entirely the caller gets the cluster's error", async () => {
  await using cluster = await startFakeCluster("denied", (_request, response) => {
    sendStatus(response, 403, "Forbidden", 'forbidden: User "tester" cannot get path "/apis"');
  });
  const cache = cacheFor(cluster, clock().now);
  await assertRejects(cache.snapshot("denied", testIdentity), Code.PermissionDenied, /cannot get path/);
  // Errors are not cached.
  await assertRejects(cache.snapshot("denied", testIdentity), Code.PermissionDenied, /cannot get path/);
  assert.equal(cluster.requests.length, 4);
});
