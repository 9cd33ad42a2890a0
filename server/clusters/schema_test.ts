import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { silentLogger } from "../../shared/log.ts";
import { SchemaCache } from "./schema.ts";
import { sendJson, sendStatus, startFakeCluster, testIdentity } from "./test_cluster.ts";

const ref = (name: string) => ({ allOf: [{ $ref: `#/components/schemas/${name}` }], default: {} });

function appsDocument(replicasDescription: string) {
  return {
    openapi: "3.0.0",
    components: {
      schemas: {
        "io.k8s.api.apps.v1.Deployment": {
          type: "object",
          properties: { spec: ref("io.k8s.api.apps.v1.DeploymentSpec") },
          "x-kubernetes-group-version-kind": [{ group: "apps", kind: "Deployment", version: "v1" }],
        },
        "io.k8s.api.apps.v1.DeploymentSpec": {
          type: "object",
          properties: { replicas: { type: "integer", description: replicasDescription } },
        },
      },
    },
  };
}

/** A fake apiserver with an OpenAPI index whose apps/v1 hash and content tests can change. */
function openApiServer(
  state: { hash: string; description: string; forbidden?: boolean; failDocument?: boolean },
) {
  return (request: { path: string }, response: Parameters<typeof sendJson>[0]) => {
    if (request.path === "/openapi/v3") {
      if (state.forbidden) return sendStatus(response, 403, "Forbidden", 'cannot get path "/openapi/v3"');
      return sendJson(response, 200, {
        paths: {
          "api/v1": { serverRelativeURL: "/openapi/v3/api/v1?hash=CORE" },
          "apis/apps/v1": { serverRelativeURL: `/openapi/v3/apis/apps/v1?hash=${state.hash}` },
        },
      });
    }
    if (request.path.startsWith("/openapi/v3/apis/apps/v1?hash=")) {
      if (state.failDocument) return sendStatus(response, 503, "ServiceUnavailable", "try later");
      return sendJson(response, 200, appsDocument(state.description));
    }
    sendStatus(response, 404, "NotFound", "not found");
  };
}

const deployment = { group: "apps", version: "v1", kind: "Deployment" };

function documentFetches(requests: { path: string }[]): number {
  return requests.filter((r) => r.path.startsWith("/openapi/v3/apis/")).length;
}

function replicasDescription(schema: Record<string, unknown>): unknown {
  const spec = (schema.properties as Record<string, Record<string, unknown>>).spec;
  return (spec.properties as Record<string, Record<string, unknown>>).replicas.description;
}

async function assertRejects(promise: Promise<unknown>, code: Code, message: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConnectError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.rawMessage, message);
    return true;
  });
}

Deno.test("schema: inlined, the index read as every caller, the document fetched once", async () => {
  const state = { hash: "A", description: "first" };
  await using cluster = await startFakeCluster("alpha", openApiServer(state));
  const cache = new SchemaCache({ access: cluster.access, clusters: cluster.clusters, log: silentLogger });
  const other = { user: "other", groups: ["system:authenticated"] };
  const results = await Promise.all([
    ...Array.from({ length: 4 }, () => cache.schema("alpha", testIdentity, deployment)),
    cache.schema("alpha", other, deployment),
  ]);
  for (const schema of results) assert.equal(replicasDescription(schema), "first");
  assert.equal(documentFetches(cluster.requests), 1);
  const indexReads = cluster.requests.filter((r) => r.path === "/openapi/v3");
  assert.equal(indexReads.length, 5);
  assert.deepEqual(
    indexReads.map((r) => r.headers["impersonate-user"]).sort(),
    ["other", "tester", "tester", "tester", "tester"],
  );
  assert.equal(cache.size, 1);
});

Deno.test("schema: a new hash, an expired entry or a reconnect fetch the document again", async () => {
  const state = { hash: "A", description: "first" };
  await using cluster = await startFakeCluster("alpha", openApiServer(state));
  let now = 0;
  const cache = new SchemaCache({
    access: cluster.access,
    clusters: cluster.clusters,
    log: silentLogger,
    now: () => now,
    ttlMs: 600_000,
  });
  await cache.schema("alpha", testIdentity, deployment);
  now += 599_000;
  await cache.schema("alpha", testIdentity, deployment);
  assert.equal(documentFetches(cluster.requests), 1, "still fresh");

  state.hash = "B";
  state.description = "second";
  assert.equal(replicasDescription(await cache.schema("alpha", testIdentity, deployment)), "second");
  assert.equal(documentFetches(cluster.requests), 2, "new hash");

  now += 600_000;
  await cache.schema("alpha", testIdentity, deployment);
  assert.equal(documentFetches(cluster.requests), 3, "expired");

  await cluster.reconnect();
  await cache.schema("alpha", testIdentity, deployment);
  assert.equal(documentFetches(cluster.requests), 4, "reconnected");
  assert.equal(cache.size, 1);
});

Deno.test("schema: unknown group-versions and kinds are not_found; denied callers get nothing", async () => {
  const state = { hash: "A", description: "x", forbidden: false };
  await using cluster = await startFakeCluster("alpha", openApiServer(state));
  const cache = new SchemaCache({ access: cluster.access, clusters: cluster.clusters, log: silentLogger });
  await assertRejects(
    cache.schema("alpha", testIdentity, { group: "batch", version: "v1", kind: "Job" }),
    Code.NotFound,
    /cluster "alpha" publishes no OpenAPI schema for group\/version "batch\/v1"/,
  );
  await assertRejects(
    cache.schema("alpha", testIdentity, { group: "apps", version: "v1", kind: "StatefulSet" }),
    Code.NotFound,
    /no schema for kind "StatefulSet" in "apps\/v1"/,
  );
  // The document is cached now, but a caller the cluster refuses still cannot read from it.
  state.forbidden = true;
  await assertRejects(
    cache.schema("alpha", testIdentity, deployment),
    Code.PermissionDenied,
    /cannot get path/,
  );
});

Deno.test("schema: a failed document fetch is not cached", async () => {
  const state = { hash: "A", description: "ok", failDocument: true };
  await using cluster = await startFakeCluster("alpha", openApiServer(state));
  const cache = new SchemaCache({ access: cluster.access, clusters: cluster.clusters, log: silentLogger });
  await assertRejects(cache.schema("alpha", testIdentity, deployment), Code.Unavailable, /try later/);
  state.failDocument = false;
  assert.equal(replicasDescription(await cache.schema("alpha", testIdentity, deployment)), "ok");
  assert.equal(documentFetches(cluster.requests), 2);
});

Deno.test("schema: the cache keeps at most maxEntries documents", async () => {
  await using cluster = await startFakeCluster("alpha", (request, response) => {
    if (request.path === "/openapi/v3") {
      const paths: Record<string, unknown> = {};
      for (const group of ["a", "b", "c"]) {
        paths[`apis/${group}/v1`] = { serverRelativeURL: `/openapi/v3/apis/${group}/v1` };
      }
      return sendJson(response, 200, { paths });
    }
    const group = request.path.split("/")[4];
    sendJson(response, 200, {
      components: {
        schemas: {
          [group]: {
            type: "object",
            "x-kubernetes-group-version-kind": [{ group, version: "v1", kind: "K" }],
          },
        },
      },
    });
  });
  const cache = new SchemaCache({
    access: cluster.access,
    clusters: cluster.clusters,
    log: silentLogger,
    maxEntries: 2,
  });
  for (const group of ["a", "b", "c"]) {
    await cache.schema("alpha", testIdentity, { group, version: "v1", kind: "K" });
  }
  assert.equal(cache.size, 2);
  await cache.schema("alpha", testIdentity, { group: "c", version: "v1", kind: "K" });
  assert.equal(documentFetches(cluster.requests), 3, "the newest stayed");
  await cache.schema("alpha", testIdentity, { group: "a", version: "v1", kind: "K" });
  assert.equal(documentFetches(cluster.requests), 4, "the oldest was dropped");
});
