import assert from "node:assert/strict";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { Health } from "../../shared/gen/grpc/health/v1/health_pb.ts";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { ResourceService } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { RuntimeService } from "../../shared/gen/otterscale/runtime/v1/runtime_pb.ts";
import { HealthState, registerHealth, ServingStatus } from "./health.ts";

const APP_SERVICES = [FleetService.typeName, ResourceService.typeName, RuntimeService.typeName];

function setup(state = new HealthState(APP_SERVICES)) {
  const transport = createRouterTransport((router) => registerHealth(router, state));
  return { state, client: createClient(Health, transport) };
}

async function connectErrorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConnectError, `expected a ConnectError, got ${error}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

// The server-side Watch loop ends asynchronously after a cancel; give it a few turns of the event loop.
async function waitForNoSubscribers(state: HealthState): Promise<void> {
  for (let turn = 0; turn < 50 && state.subscriberCount > 0; turn++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.deepEqual(state.subscriberCount, 0, "Watch handler still subscribed");
}

Deno.test("Check reports the overall status and each registered service", async () => {
  const { state, client } = setup();
  assert.deepEqual((await client.check({ service: "" })).status, ServingStatus.SERVING);
  for (const service of APP_SERVICES) {
    assert.deepEqual((await client.check({ service })).status, ServingStatus.SERVING);
  }
  state.set(ResourceService.typeName, ServingStatus.NOT_SERVING);
  assert.deepEqual(
    (await client.check({ service: ResourceService.typeName })).status,
    ServingStatus.NOT_SERVING,
  );
  assert.deepEqual((await client.check({ service: FleetService.typeName })).status, ServingStatus.SERVING);
});

Deno.test("Check on an unknown service fails with NotFound", async () => {
  const { client } = setup();
  const error = await connectErrorOf(client.check({ service: "no.such.Service" }));
  assert.deepEqual(error.code, Code.NotFound);
  assert.deepEqual(error.rawMessage, 'health: unknown service "no.such.Service"');
});

Deno.test("List returns every registered service with its status", async () => {
  const { state, client } = setup();
  state.set(RuntimeService.typeName, ServingStatus.NOT_SERVING);
  const { statuses } = await client.list({});
  const plain = Object.fromEntries(
    Object.entries(statuses).map(([name, response]) => [name, response.status]),
  );
  assert.deepEqual(plain, {
    "": ServingStatus.SERVING,
    [FleetService.typeName]: ServingStatus.SERVING,
    [ResourceService.typeName]: ServingStatus.SERVING,
    [RuntimeService.typeName]: ServingStatus.NOT_SERVING,
  });
});

Deno.test("Watch sends the current status, then each change, and stops when the client cancels", async () => {
  const { state, client } = setup();
  const abort = new AbortController();
  const stream = client.watch({ service: FleetService.typeName }, { signal: abort.signal })[
    Symbol.asyncIterator
  ]();
  assert.deepEqual((await stream.next()).value?.status, ServingStatus.SERVING);
  assert.deepEqual(state.subscriberCount, 1);

  state.set(FleetService.typeName, ServingStatus.NOT_SERVING);
  assert.deepEqual((await stream.next()).value?.status, ServingStatus.NOT_SERVING);

  abort.abort();
  const error = await connectErrorOf(stream.next());
  assert.deepEqual(error.code, Code.Canceled);
  await waitForNoSubscribers(state);
});

Deno.test("Watch on an unknown service streams SERVICE_UNKNOWN and keeps watching", async () => {
  const { state, client } = setup();
  const abort = new AbortController();
  const stream = client.watch({ service: "later.Service" }, { signal: abort.signal })[Symbol.asyncIterator]();
  assert.deepEqual((await stream.next()).value?.status, ServingStatus.SERVICE_UNKNOWN);
  state.set("later.Service", ServingStatus.SERVING);
  assert.deepEqual((await stream.next()).value?.status, ServingStatus.SERVING);
  abort.abort();
  await connectErrorOf(stream.next());
  await waitForNoSubscribers(state);
});

Deno.test("Watch coalesces changes the client has not read yet into the latest status", async () => {
  const { state, client } = setup();
  const abort = new AbortController();
  const stream = client.watch({ service: "" }, { signal: abort.signal })[Symbol.asyncIterator]();
  assert.deepEqual((await stream.next()).value?.status, ServingStatus.SERVING);
  // Both changes happen before the server loop runs again; only the last one may reach the client.
  state.set("", ServingStatus.UNKNOWN);
  state.set("", ServingStatus.NOT_SERVING);
  assert.deepEqual((await stream.next()).value?.status, ServingStatus.NOT_SERVING);
  state.set("", ServingStatus.SERVING);
  assert.deepEqual((await stream.next()).value?.status, ServingStatus.SERVING);
  abort.abort();
  await connectErrorOf(stream.next());
  await waitForNoSubscribers(state);
});

Deno.test("shutdown marks everything NOT_SERVING and ends Watch streams normally", async () => {
  const { state, client } = setup();
  const overall = client.watch({ service: "" })[Symbol.asyncIterator]();
  const unknown = client.watch({ service: "no.such.Service" })[Symbol.asyncIterator]();
  assert.deepEqual((await overall.next()).value?.status, ServingStatus.SERVING);
  assert.deepEqual((await unknown.next()).value?.status, ServingStatus.SERVICE_UNKNOWN);

  state.shutdown();
  assert.deepEqual((await overall.next()).value?.status, ServingStatus.NOT_SERVING);
  assert.deepEqual((await overall.next()).done, true);
  assert.deepEqual((await unknown.next()).done, true);
  await waitForNoSubscribers(state);

  assert.deepEqual(
    (await client.check({ service: RuntimeService.typeName })).status,
    ServingStatus.NOT_SERVING,
  );
  state.set("", ServingStatus.SERVING);
  assert.deepEqual((await client.check({ service: "" })).status, ServingStatus.NOT_SERVING);
  const late = client.watch({ service: "" })[Symbol.asyncIterator]();
  assert.deepEqual((await late.next()).value?.status, ServingStatus.NOT_SERVING);
  assert.deepEqual((await late.next()).done, true);
});

Deno.test("HealthState refuses SERVICE_UNKNOWN and out-of-range statuses", () => {
  const state = new HealthState();
  assert.throws(() => state.set("x", ServingStatus.SERVICE_UNKNOWN), RangeError);
  assert.throws(() => state.set("x", 42 as ServingStatus), {
    name: "RangeError",
    message: 'health: cannot set status 42 for service "x"',
  });
  assert.deepEqual(state.get("x"), undefined);
});
