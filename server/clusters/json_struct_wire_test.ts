import assert from "node:assert/strict";
import { create, fromBinary, type JsonObject, toBinary } from "@bufbuild/protobuf";
import { ResourceSchema } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { JsonStructTranscoder, JsonSyntaxError } from "./json_struct_wire.ts";
import { LAST_APPLIED_ANNOTATION, sanitizeObject } from "./objects.ts";
import { WireBuffer } from "./wire_buffer.ts";

const encoder = new TextEncoder();

/** What protobuf-es makes of the parsed and sanitised object: the bytes the hub used to send. */
function reference(json: string): Uint8Array {
  const object = sanitizeObject(JSON.parse(json) as JsonObject);
  return toBinary(ResourceSchema, create(ResourceSchema, { object }));
}

function transcode(json: string, out = new WireBuffer(16)): { bytes: Uint8Array; resourceVersion?: string } {
  out.reset();
  const transcoder = new JsonStructTranscoder(out);
  transcoder.wholeResource(encoder.encode(json));
  const resourceVersion = transcoder.resourceVersion;
  return { bytes: out.view().slice(), resourceVersion };
}

const configMap = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name: "cm",
    namespace: "default",
    uid: "5b0f7e3c-8a3e-4d7e-9c4c-1b2f3a4d5e6f",
    resourceVersion: "12345",
    labels: { app: "x", "app.kubernetes.io/name": "ü-ünïcödé-🦦" },
    annotations: {
      [LAST_APPLIED_ANNOTATION]: JSON.stringify({ big: "x".repeat(300), quote: '"' }),
      keep: "me",
    },
    managedFields: [{ manager: "kubectl", fieldsV1: { "f:data": { ".": {} } } }],
  },
  data: { payload: "x".repeat(600), 'escaped "key"': 'tab\t newline\n <html> & \\ \u0001 "q"' },
};

const cases: [string, string][] = [
  ["a ConfigMap with managedFields and last-applied", JSON.stringify(configMap)],
  ["the same, indented", JSON.stringify(configMap, null, 2)],
  [
    "annotations that become empty are dropped",
    JSON.stringify({
      metadata: { name: "a", annotations: { [LAST_APPLIED_ANNOTATION]: "{}" } },
    }),
  ],
  ["empty annotations are dropped", '{"metadata":{"annotations":{}},"x":1}'],
  [
    "only the object's own metadata is sanitised",
    JSON.stringify({
      metadata: "not an object",
      spec: { metadata: { managedFields: [1] }, template: { metadata: { annotations: {} } } },
    }),
  ],
  [
    "scalars of every kind",
    JSON.stringify({
      t: true,
      f: false,
      n: null,
      numbers: [0, -0, 1, -1.5, 1e21, 1.25e-7, 9007199254740993, 65535, 3.141592653589793],
      nested: [[], {}, [[1, [2]], { a: [] }], ""],
    }),
  ],
  ["exponents and whitespace as other encoders write them", '{ "a" : 1E3 , "b":\t-2.5e+2,\r\n"c" :[ ] }'],
  [
    "long keys and values need multi-byte lengths",
    JSON.stringify({
      ["k".repeat(200)]: "v".repeat(20_000),
      deep: { a: { b: { c: "x".repeat(130) } } },
    }),
  ],
  [
    "non-ASCII text and escapes in keys and values",
    JSON.stringify({
      "ключ": "значение",
      "\u00e9\u0301": "\ud83e\udda6 \u2028 \u0000",
      "lone": "\ud800",
      "slashes\\": "\\\\",
    }),
  ],
  ["Go's HTML-safe escapes", '{"a":"\\u003chtml\\u003e \\u0026","b\\u0026":"\\/"}'],
];

Deno.test("the transcoder writes exactly what protobuf-es writes for the sanitised object", () => {
  const out = new WireBuffer(16);
  for (const [name, json] of cases) {
    const { bytes } = transcode(json, out);
    assert.deepEqual(bytes, reference(json), name);
  }
});

Deno.test("what it writes reads back as the sanitised object", () => {
  const { bytes } = transcode(JSON.stringify(configMap));
  const object = fromBinary(ResourceSchema, bytes).object as JsonObject;
  const metadata = object.metadata as JsonObject;
  assert.equal(metadata.managedFields, undefined);
  assert.deepEqual(metadata.annotations, { keep: "me" });
  assert.deepEqual(object.data, configMap.data);
});

Deno.test("metadata.resourceVersion is reported", () => {
  assert.equal(transcode(JSON.stringify(configMap)).resourceVersion, "12345");
  assert.equal(transcode('{"spec":{"metadata":{"resourceVersion":"9"}}}').resourceVersion, undefined);
});

Deno.test("malformed JSON is refused, not transcoded into something else", () => {
  const broken = [
    "[1]",
    '{"a":1',
    '{"a" 1}',
    '{"a":tru}',
    '{"a":"unterminated}',
    '{"a":1} x',
    '{"a":[1 2]}',
    '{"a":-}',
    '{"metadata":{"managedFields":[1,2}',
  ];
  for (const json of broken) {
    assert.throws(() => transcode(json), JsonSyntaxError, json);
  }
});
