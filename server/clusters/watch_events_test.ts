import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { RELIST_MESSAGE } from "../../shared/errors.ts";
import { create, toBinary } from "@bufbuild/protobuf";
import { WatchEvent_Type, WatchEventSchema } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { encodedWatchStep, isInitialEventsEnd, watchStep } from "./watch_events.ts";

const line = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

Deno.test("object events carry the object's resourceVersion and a sanitised object", () => {
  const step = watchStep(line({
    type: "MODIFIED",
    object: {
      kind: "ConfigMap",
      metadata: {
        name: "a",
        resourceVersion: "77",
        managedFields: [{ manager: "x" }],
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
      },
    },
  }));
  assert.equal(step.kind, "event");
  assert.ok(step.kind === "event");
  assert.equal(step.event.type, WatchEvent_Type.MODIFIED);
  assert.equal(step.event.resourceVersion, "77");
  assert.deepEqual(step.event.resource?.object, {
    kind: "ConfigMap",
    metadata: { name: "a", resourceVersion: "77" },
  });
  for (
    const [type, expected] of [["ADDED", WatchEvent_Type.ADDED], [
      "DELETED",
      WatchEvent_Type.DELETED,
    ]] as const
  ) {
    const other = watchStep(line({ type, object: { metadata: { resourceVersion: "1" } } }));
    assert.ok(other.kind === "event" && other.event.type === expected);
  }
});

Deno.test("the initial-events-end bookmark keeps its annotation and resourceVersion", () => {
  const step = watchStep(line({
    type: "BOOKMARK",
    object: {
      kind: "ConfigMap",
      apiVersion: "v1",
      metadata: { resourceVersion: "1446", annotations: { "k8s.io/initial-events-end": "true" } },
    },
  }));
  assert.ok(step.kind === "event");
  assert.equal(step.event.type, WatchEvent_Type.BOOKMARK);
  assert.equal(step.event.resourceVersion, "1446");
  assert.ok(isInitialEventsEnd(step.event));
  const plain = watchStep(line({ type: "BOOKMARK", object: { metadata: { resourceVersion: "1500" } } }));
  assert.ok(
    plain.kind === "event" && !isInitialEventsEnd(plain.event) && plain.event.resourceVersion === "1500",
  );
});

Deno.test("an ERROR event with 410 ends the stream with out_of_range (relist), after sending the Status", () => {
  const status = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: "too old resource version: 1 (697)",
    reason: "Expired",
    code: 410,
  };
  const step = watchStep(line({ type: "ERROR", object: status }));
  assert.ok(step.kind === "end");
  assert.equal(step.event.type, WatchEvent_Type.ERROR);
  assert.deepEqual(step.event.resource?.object, status);
  assert.equal(step.error.code, Code.OutOfRange);
  assert.equal(step.error.rawMessage, `${RELIST_MESSAGE}: too old resource version: 1 (697)`);

  const gone = watchStep(line({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Gone" } }));
  assert.ok(gone.kind === "end" && gone.error.code === Code.OutOfRange);
});

Deno.test("other ERROR events end the stream with their mapped code", () => {
  const step = watchStep(line({
    type: "ERROR",
    object: {
      kind: "Status",
      status: "Failure",
      reason: "InternalError",
      code: 500,
      message: "etcd at 10.1.1.1:2379",
    },
  }));
  assert.ok(step.kind === "end");
  assert.equal(step.error.code, Code.Internal);
  assert.equal(step.error.rawMessage, "etcd at <address>");
});

Deno.test("unknown types and events without objects are skipped; broken JSON is internal", () => {
  assert.deepEqual(watchStep(line({ type: "RESYNC", object: {} })), {
    kind: "skip",
    reason: 'unknown watch event type "RESYNC"',
  });
  assert.deepEqual(watchStep(line({ type: "ADDED" })), {
    kind: "skip",
    reason: "ADDED event without an object",
  });
  assert.throws(
    () => watchStep(new TextEncoder().encode('{"type":"ADDED",')),
    /watch event: the cluster sent invalid JSON/,
  );
});

Deno.test("encoded events are the bytes protobuf-es makes of watchStep's events", () => {
  const lines = [
    {
      type: "MODIFIED",
      object: {
        kind: "ConfigMap",
        metadata: {
          name: "a",
          resourceVersion: "77",
          managedFields: [{ manager: "x" }],
          annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
        },
        data: { big: "é".repeat(300), escaped: 'a "quoted" \\ value' },
      },
    },
    {
      type: "BOOKMARK",
      object: {
        kind: "ConfigMap",
        metadata: { resourceVersion: "1446", annotations: { "k8s.io/initial-events-end": "true" } },
      },
    },
    { object: { metadata: { name: "no-version" } }, type: "ADDED", extra: [1, { a: "}" }] },
    { type: "DELETED", object: {} },
  ];
  for (const value of lines) {
    const expected = watchStep(line(value));
    const encoded = encodedWatchStep(line(value));
    assert.ok(expected.kind === "event" && encoded.kind === "event");
    assert.equal(encoded.resourceVersion, expected.resourceVersion);
    assert.deepEqual(
      toBinary(WatchEventSchema, create(WatchEventSchema, encoded.event)),
      toBinary(WatchEventSchema, create(WatchEventSchema, expected.event)),
      JSON.stringify(value).slice(0, 60),
    );
  }
});

Deno.test("lines the encoder does not take are handled as watchStep handles them", () => {
  const gone = encodedWatchStep(
    line({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Gone" } }),
  );
  assert.ok(gone.kind === "end" && gone.error.code === Code.OutOfRange);
  assert.equal(encodedWatchStep(line({ type: "RESYNC", object: {} })).kind, "skip");
  assert.equal(encodedWatchStep(line({ type: "ADDED" })).kind, "skip");
  assert.equal(encodedWatchStep(line({ type: "ADDED", object: "not an object" })).kind, "skip");
  assert.throws(() => encodedWatchStep(new TextEncoder().encode('{"type":"ADDED",')), /invalid JSON/);
});
