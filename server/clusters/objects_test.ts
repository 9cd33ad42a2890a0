import assert from "node:assert/strict";
import { LAST_APPLIED_ANNOTATION, metadataString, sanitizeObject } from "./objects.ts";

Deno.test("sanitizeObject drops managedFields and the last-applied annotation, keeps the rest", () => {
  const object = {
    kind: "ConfigMap",
    metadata: {
      name: "a",
      managedFields: [{ manager: "kubectl" }],
      annotations: { [LAST_APPLIED_ANNOTATION]: "{}", keep: "me" },
      labels: { app: "x" },
    },
    data: { k: "v" },
  };
  assert.deepEqual(sanitizeObject(object), {
    kind: "ConfigMap",
    metadata: { name: "a", annotations: { keep: "me" }, labels: { app: "x" } },
    data: { k: "v" },
  });
});

Deno.test("sanitizeObject removes an annotations map it empties, and an empty one it finds", () => {
  assert.deepEqual(
    sanitizeObject({ metadata: { name: "a", annotations: { [LAST_APPLIED_ANNOTATION]: "{}" } } }),
    { metadata: { name: "a" } },
  );
  assert.deepEqual(sanitizeObject({ metadata: { name: "a", annotations: {} } }), { metadata: { name: "a" } });
});

Deno.test("sanitizeObject keeps the initial-events-end annotation of a watch bookmark", () => {
  const bookmark = {
    kind: "ConfigMap",
    apiVersion: "v1",
    metadata: { resourceVersion: "42", annotations: { "k8s.io/initial-events-end": "true" } },
  };
  assert.deepEqual(sanitizeObject(structuredClone(bookmark)), bookmark);
});

Deno.test("sanitizeObject leaves objects without metadata alone", () => {
  assert.deepEqual(sanitizeObject({ kind: "Status", status: "Failure" }), {
    kind: "Status",
    status: "Failure",
  });
  assert.deepEqual(sanitizeObject({ metadata: null }), { metadata: null });
});

Deno.test("metadataString reads string metadata fields only", () => {
  assert.equal(metadataString({ metadata: { uid: "u1", generation: 3 } }, "uid"), "u1");
  assert.equal(metadataString({ metadata: { uid: "u1", generation: 3 } }, "generation"), undefined);
  assert.equal(metadataString({}, "uid"), undefined);
});
