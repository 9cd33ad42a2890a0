import assert from "node:assert/strict";
import { create, fromBinary, type JsonObject, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ListResponseSchema, ResourceSchema } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { EncodedItems, encodedResource, speaksBinary } from "./encoded_items.ts";
import { BATCH_BYTES, ListBodyScanner } from "./list_body.ts";
import { LAST_APPLIED_ANNOTATION, sanitizeObject } from "./objects.ts";

const encoder = new TextEncoder();

function configMap(i: number): JsonObject {
  return {
    metadata: {
      name: `cm-${i}`,
      resourceVersion: String(1000 + i),
      annotations: { [LAST_APPLIED_ANNOTATION]: '{"big":"' + "y".repeat(i % 3 === 0 ? 400 : 0) + '"}' },
      managedFields: [{ manager: "m", fieldsV1: { "f:data": {} } }],
    },
    data: { payload: "x".repeat(200 + (i * 37) % 700), note: i % 5 === 0 ? 'quote " ü' : "plain" },
  };
}

/** The reply as encoded items make it, the body pushed in chunks of `chunkSize`. */
function encodedReply(body: Uint8Array, chunkSize: number): Uint8Array {
  const encoded = new EncodedItems();
  const scanner = new ListBodyScanner(
    (json, index) => encoded.add(json, index),
    (bytes, start) => encoded.consume(bytes, start),
  );
  for (let offset = 0; offset < body.length; offset += chunkSize) {
    scanner.push(body.subarray(offset, offset + chunkSize));
  }
  scanner.finish();
  assert.equal(encoded.count, scanner.itemCount);
  const reply = create(ListResponseSchema, { resourceVersion: "7" });
  reply.$unknown = encoded.unknownFields();
  return toBinary(ListResponseSchema, reply);
}

Deno.test("encoded items make the very reply protobuf-es makes of the sanitised objects", () => {
  const items = Array.from({ length: 800 }, (_, i) => configMap(i));
  const json = JSON.stringify({ kind: "ConfigMapList", metadata: {}, items });
  assert.ok(json.length > 3 * BATCH_BYTES, "the body spans several batches");
  const expected = toBinary(
    ListResponseSchema,
    create(ListResponseSchema, {
      resourceVersion: "7",
      items: items.map((item) => ({ object: sanitizeObject(structuredClone(item)) })),
    }),
  );
  for (const chunkSize of [1 << 20, 2048, 1000, 97]) {
    assert.deepEqual(encodedReply(encoder.encode(json), chunkSize), expected, `chunks of ${chunkSize}`);
  }
  const read = fromBinary(ListResponseSchema, expected);
  assert.equal(read.items.length, 800);
  assert.deepEqual(read.items[3].object?.metadata, { name: "cm-3", resourceVersion: "1003" });
});

Deno.test("a malformed item is an internal error naming it", () => {
  const body = encoder.encode('{"items":[{"a":1},{"b":tru}]}');
  assert.throws(() => encodedReply(body, 4), /invalid list: item 1: expected true/);
});

Deno.test("only binary protobuf callers get encoded items", () => {
  for (
    const type of [
      "application/proto",
      "application/grpc",
      "application/grpc+proto",
      "application/grpc-web+proto",
    ]
  ) {
    assert.equal(speaksBinary(type), true, type);
  }
  assert.equal(speaksBinary("Application/Proto; charset=utf-8"), true);
  for (const type of ["application/json", "application/grpc+json", "application/grpc-web-text", null, ""]) {
    assert.equal(speaksBinary(type), false, String(type));
  }
});

Deno.test("an encoded Get answer is the very Resource protobuf-es makes of the sanitised object", () => {
  for (const i of [0, 3, 5, 700]) {
    const object = configMap(i);
    const json = encoder.encode(JSON.stringify(object, null, i % 2 === 0 ? 0 : 2));
    const encoded = toBinary(ResourceSchema, encodedResource(json, "get it"));
    const expected = toBinary(ResourceSchema, create(ResourceSchema, { object: sanitizeObject(object) }));
    assert.deepEqual(encoded, expected);
    assert.deepEqual(fromBinary(ResourceSchema, encoded).object, sanitizeObject(object));
  }
});

Deno.test("a Get answer that is not one JSON object is internal, naming the call", () => {
  for (const text of ["[1]", '"x"', '{"a":1} {"b":2}', '{"a":']) {
    assert.throws(
      () => encodedResource(encoder.encode(text), 'get configmaps "x" on cluster "alpha"'),
      (error: unknown) =>
        error instanceof ConnectError && error.code === Code.Internal &&
        error.rawMessage.startsWith('get configmaps "x" on cluster "alpha": the cluster answered'),
      text,
    );
  }
});
