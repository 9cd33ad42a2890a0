/**
 * Kubernetes objects as the hub returns them: plain JSON (protobuf-es carries a `google.protobuf.Struct`
 * field as a JsonObject, so no conversion copy is made), with the bookkeeping that only the apiserver
 * needs removed. Every RPC that returns an object sends it through `sanitizeObject`, so a client sees the
 * same shape from List, Get, Describe, Create, Apply and Watch.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

export type KubeObject = JsonObject;

/** kubectl's client-side apply copy of the whole object: large, and stale under server-side apply. */
export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * Removes `metadata.managedFields` and the last-applied annotation, and the annotations map when that
 * leaves it empty. Changes `object` in place (objects come fresh from JSON.parse) and returns it.
 * json_struct_wire.ts applies the same rules while transcoding List items and watch events for binary
 * callers: change both together (json_struct_wire_test.ts compares them).
 */
export function sanitizeObject(object: KubeObject): KubeObject {
  const metadata = asObject(object.metadata);
  if (!metadata) return object;
  delete metadata.managedFields;
  const annotations = asObject(metadata.annotations);
  if (annotations) {
    delete annotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
  }
  return object;
}

/** `metadata.<field>` when it is a string. */
export function metadataString(object: KubeObject, field: string): string | undefined {
  const value = asObject(object.metadata)?.[field];
  return typeof value === "string" ? value : undefined;
}

export function asObject(value: JsonValue | undefined): JsonObject | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
}
