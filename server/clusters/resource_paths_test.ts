import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { groupVersionPath, resourcePath, withQuery } from "./resource_paths.ts";

Deno.test("core and named groups get their own roots", () => {
  assert.equal(groupVersionPath("", "v1"), "/api/v1");
  assert.equal(groupVersionPath("apps", "v1"), "/apis/apps/v1");
  assert.equal(groupVersionPath("stable.example.com", "v1beta1"), "/apis/stable.example.com/v1beta1");
});

Deno.test("resourcePath: collection, namespaced collection, object", () => {
  assert.equal(resourcePath({ group: "", version: "v1", resource: "nodes" }), "/api/v1/nodes");
  assert.equal(
    resourcePath({ group: "", version: "v1", resource: "pods", namespace: "demo" }),
    "/api/v1/namespaces/demo/pods",
  );
  assert.equal(
    resourcePath({ group: "apps", version: "v1", resource: "deployments", namespace: "demo", name: "web" }),
    "/apis/apps/v1/namespaces/demo/deployments/web",
  );
  assert.equal(
    resourcePath({ group: "", version: "v1", resource: "nodes", namespace: "", name: "kwok-0" }),
    "/api/v1/nodes/kwok-0",
  );
});

Deno.test("resourcePath encodes segments and refuses ones that change the path", () => {
  assert.equal(
    resourcePath({ group: "", version: "v1", resource: "configmaps", namespace: "a", name: "x?y#z%" }),
    "/api/v1/namespaces/a/configmaps/x%3Fy%23z%25",
  );
  for (const bad of ["..", ".", "a/b", ""]) {
    assert.throws(
      () =>
        resourcePath({ group: "", version: "v1", resource: "pods", namespace: "demo", name: bad || "x/" }),
      (error: unknown) => error instanceof ConnectError && error.code === Code.InvalidArgument,
      bad,
    );
  }
  assert.throws(
    () => resourcePath({ group: "", version: "v1", resource: "pods", namespace: "../kube-system" }),
    /namespace: "..\/kube-system" is not a valid path segment/,
  );
});

Deno.test("withQuery drops empty values and encodes the rest", () => {
  assert.equal(withQuery("/api/v1/pods", {}), "/api/v1/pods");
  assert.equal(
    withQuery("/api/v1/pods", {
      labelSelector: "app in (a,b)",
      fieldSelector: "",
      limit: 10,
      watch: true,
      force: false,
      continue: undefined,
    }),
    "/api/v1/pods?labelSelector=app+in+%28a%2Cb%29&limit=10&watch=true",
  );
});
