import assert from "node:assert/strict";
import type { JsonObject } from "@bufbuild/protobuf";
import { parseDiscoveryRoot, parseResourceList } from "./discovery_documents.ts";

/** Shapes as a v1.36 apiserver sends them (trimmed). */
const aggregatedCore: JsonObject = {
  kind: "APIGroupDiscoveryList",
  apiVersion: "apidiscovery.k8s.io/v2",
  metadata: {},
  items: [{
    metadata: {},
    versions: [{
      version: "v1",
      resources: [
        {
          resource: "pods",
          responseKind: { group: "", version: "", kind: "Pod" },
          scope: "Namespaced",
          singularResource: "pod",
          verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
          shortNames: ["po"],
          categories: ["all"],
          subresources: [
            { subresource: "log", responseKind: { group: "", version: "", kind: "Pod" }, verbs: ["get"] },
            {
              subresource: "status",
              responseKind: { group: "", version: "", kind: "Pod" },
              verbs: ["get", "patch"],
            },
          ],
        },
        {
          resource: "nodes",
          responseKind: { group: "", version: "", kind: "Node" },
          scope: "Cluster",
          verbs: ["get", "list", "watch"],
          shortNames: ["no"],
        },
      ],
      freshness: "Current",
    }],
  }],
};

const aggregatedGroups: JsonObject = {
  kind: "APIGroupDiscoveryList",
  apiVersion: "apidiscovery.k8s.io/v2",
  metadata: {},
  items: [
    {
      metadata: { name: "apps" },
      versions: [{
        version: "v1",
        resources: [{
          resource: "deployments",
          responseKind: { group: "", version: "", kind: "Deployment" },
          scope: "Namespaced",
          verbs: ["get", "list"],
          shortNames: ["deploy"],
          subresources: [{
            subresource: "scale",
            responseKind: { group: "autoscaling", version: "v1", kind: "Scale" },
            verbs: ["get", "patch", "update"],
          }],
        }],
        freshness: "Current",
      }],
    },
    {
      metadata: { name: "metrics.k8s.io" },
      versions: [{ version: "v1beta1", freshness: "Stale" }],
    },
  ],
};

Deno.test("aggregated discovery: resources, scope, verbs, short names and subresources", () => {
  const root = parseDiscoveryRoot(aggregatedCore, "/api");
  assert.equal(root.kind, "aggregated");
  assert.ok(root.kind === "aggregated");
  assert.deepEqual(root.groupVersions, [{
    group: "",
    version: "v1",
    resources: [
      {
        group: "",
        version: "v1",
        resource: "pods",
        kind: "Pod",
        namespaced: true,
        verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
        shortNames: ["po"],
      },
      {
        group: "",
        version: "v1",
        resource: "pods/log",
        kind: "Pod",
        namespaced: true,
        verbs: ["get"],
        shortNames: [],
      },
      {
        group: "",
        version: "v1",
        resource: "pods/status",
        kind: "Pod",
        namespaced: true,
        verbs: ["get", "patch"],
        shortNames: [],
      },
      {
        group: "",
        version: "v1",
        resource: "nodes",
        kind: "Node",
        namespaced: false,
        verbs: ["get", "list", "watch"],
        shortNames: ["no"],
      },
    ],
  }]);
});

Deno.test("aggregated discovery: named groups; a Stale version is kept as failed, without resources", () => {
  const root = parseDiscoveryRoot(aggregatedGroups, "/apis");
  assert.ok(root.kind === "aggregated");
  assert.deepEqual(
    root.groupVersions.map((gv) => [gv.group, gv.version, gv.resources.map((r) => r.resource)]),
    [
      ["apps", "v1", ["deployments", "deployments/scale"]],
      ["metrics.k8s.io", "v1beta1", []],
    ],
  );
  assert.equal(root.groupVersions[0].resources[1].kind, "Scale");
  assert.match(root.groupVersions[1].error ?? "", /stale/);
});

Deno.test("legacy roots list the group-versions to fetch", () => {
  assert.deepEqual(parseDiscoveryRoot({ kind: "APIVersions", versions: ["v1"] }, "/api"), {
    kind: "legacy",
    groupVersions: [{ group: "", version: "v1" }],
  });
  assert.deepEqual(
    parseDiscoveryRoot({
      kind: "APIGroupList",
      groups: [
        { name: "apps", versions: [{ groupVersion: "apps/v1", version: "v1" }] },
        {
          name: "batch",
          versions: [{ groupVersion: "batch/v1", version: "v1" }, {
            groupVersion: "batch/v2",
            version: "v2",
          }],
        },
      ],
    }, "/apis"),
    {
      kind: "legacy",
      groupVersions: [{ group: "apps", version: "v1" }, { group: "batch", version: "v1" }, {
        group: "batch",
        version: "v2",
      }],
    },
  );
  assert.throws(
    () => parseDiscoveryRoot({ kind: "Status" }, "/apis"),
    /\/apis answered an unknown discovery document/,
  );
});

Deno.test("legacy APIResourceList: subresources are listed by name as they come", () => {
  const resources = parseResourceList(
    {
      kind: "APIResourceList",
      groupVersion: "v1",
      resources: [
        {
          name: "pods",
          singularName: "pod",
          namespaced: true,
          kind: "Pod",
          verbs: ["get", "list"],
          shortNames: ["po"],
        },
        { name: "pods/log", singularName: "", namespaced: true, kind: "Pod", verbs: ["get"] },
        { name: "namespaces", namespaced: false, kind: "Namespace", verbs: ["get"] },
      ],
    },
    "",
    "v1",
  );
  assert.deepEqual(resources.map((r) => [r.resource, r.namespaced, r.shortNames]), [
    ["pods", true, ["po"]],
    ["pods/log", true, []],
    ["namespaces", false, []],
  ]);
  assert.throws(() => parseResourceList({ kind: "Status" }, "", "v1"), /expected an APIResourceList/);
});
