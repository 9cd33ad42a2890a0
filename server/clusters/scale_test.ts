import assert from "node:assert/strict";
import { Code, type ConnectError } from "@connectrpc/connect";
import { getScale, SCALE_ATTEMPTS, setScale } from "./scale.ts";
import { sendJson, sendStatus, startFakeCluster, testIdentity } from "./test_cluster.ts";

const target = { group: "apps", version: "v1", resource: "deployments", namespace: "web", name: "shop" };
const scalePath = "/apis/apps/v1/namespaces/web/deployments/shop/scale";

function scaleObject(resourceVersion: string, replicas?: number) {
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: { name: "shop", namespace: "web", resourceVersion },
    spec: replicas === undefined ? {} : { replicas },
    status: { replicas: 2, selector: "app=shop" },
  };
}

Deno.test("GetScale reads desired and current replicas; a missing spec.replicas is 0", async () => {
  await using fake = await startFakeCluster(
    "alpha",
    (_request, response) => sendJson(response, 200, scaleObject("7")),
  );
  const caller = { access: fake.access, cluster: fake.name, identity: testIdentity };
  assert.deepEqual(await getScale(caller, target), { replicas: 0, currentReplicas: 2, selector: "app=shop" });
  assert.equal(fake.requests[0].path, scalePath);
});

Deno.test("Scale puts the Scale back with its resourceVersion, and retries a conflict after reading again", async () => {
  let version = 10;
  let conflicts = 2;
  await using fake = await startFakeCluster("alpha", (request, response) => {
    if (request.method === "GET") return sendJson(response, 200, scaleObject(String(version), 1));
    if (conflicts-- > 0) {
      version++;
      return sendStatus(response, 409, "Conflict", "the object has been modified");
    }
    sendJson(response, 200, JSON.parse(request.body));
  });
  const caller = { access: fake.access, cluster: fake.name, identity: testIdentity };
  const state = await setScale(caller, target, 3, "otterscale");
  assert.equal(state.replicas, 3);
  const puts = fake.requests.filter((r) => r.method === "PUT");
  assert.equal(puts.length, 3);
  assert.deepEqual(puts.map((r) => JSON.parse(r.body).metadata.resourceVersion), ["10", "11", "12"]);
  assert.equal(puts[0].path, `${scalePath}?fieldManager=otterscale`);
  assert.equal(JSON.parse(puts[2].body).spec.replicas, 3);
});

Deno.test("a conflict that persists is the answer, mapped by the error table", async () => {
  await using fake = await startFakeCluster("alpha", (request, response) => {
    if (request.method === "GET") return sendJson(response, 200, scaleObject("1", 1));
    sendStatus(response, 409, "Conflict", "the object has been modified");
  });
  const caller = { access: fake.access, cluster: fake.name, identity: testIdentity };
  await assert.rejects(
    setScale(caller, target, 3, "otterscale"),
    (error: ConnectError) => error.code === Code.Aborted,
  );
  assert.equal(fake.requests.filter((r) => r.method === "PUT").length, SCALE_ATTEMPTS);
});
