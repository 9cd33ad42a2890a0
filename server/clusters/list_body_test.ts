import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { BATCH_BYTES, ListBodyScanner, parseItem } from "./list_body.ts";

const encoder = new TextEncoder();

function scan(
  body: string,
  chunkSizes: (i: number) => number,
): { items: JsonObject[]; envelope: JsonObject } {
  const items: JsonObject[] = [];
  const scanner = new ListBodyScanner((json, index) => items.push(parseItem(json, index)));
  const bytes = encoder.encode(body);
  for (let offset = 0, i = 0; offset < bytes.length; i++) {
    const size = Math.max(1, chunkSizes(i));
    scanner.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  assert.equal(scanner.itemCount, items.length);
  return { items, envelope: scanner.finish() };
}

const trickyItems = [
  {
    metadata: { name: "a", annotations: { "x": 'quote " and \\ backslash, ] } [ { , :' } },
    data: { k: "v" },
  },
  { metadata: { name: "ü-ünïcödé-🦦" }, data: { "[": "]", "}": "{", nested: [[1, [2]], { a: [] }] } },
  { metadata: { name: "escapes" }, data: { s: '\\\\"items": [' } },
];
const trickyList = {
  kind: "ConfigMapList",
  apiVersion: "v1",
  metadata: { resourceVersion: "123", continue: 'tok"en', remainingItemCount: 7 },
  items: trickyItems,
};

Deno.test("items arrive parsed and in order, whatever the chunking", () => {
  const body = JSON.stringify(trickyList, null, 2);
  const chunkings: [string, (i: number) => number][] = [
    ["one chunk", () => body.length * 4],
    ["byte by byte", () => 1],
    ["7 bytes", () => 7],
    ["pseudo-random", (i) => ((i * 7919) % 97) + 1],
  ];
  for (const [name, sizes] of chunkings) {
    const { items, envelope } = scan(body, sizes);
    assert.deepEqual(items, trickyItems, name);
    assert.deepEqual(envelope, { ...trickyList, items: [] }, name);
  }
});

Deno.test("compact JSON, items before metadata, and an `items` key inside items are all handled", () => {
  const body = JSON.stringify({
    items: [{ items: [1, 2], metadata: { name: "x" } }],
    kind: "List",
    metadata: {},
  });
  const { items, envelope } = scan(body, () => 3);
  assert.deepEqual(items, [{ items: [1, 2], metadata: { name: "x" } }]);
  assert.deepEqual(envelope, { items: [], kind: "List", metadata: {} });
});

Deno.test("empty and null item lists", () => {
  assert.deepEqual(scan('{"kind":"PodList","items":[]}', () => 2), {
    items: [],
    envelope: { kind: "PodList", items: [] },
  });
  assert.deepEqual(scan('{"kind":"PodList","items":[ \n ]}', () => 1).items, []);
  assert.deepEqual(scan('{"kind":"PodList","items":null}', () => 5), {
    items: [],
    envelope: { kind: "PodList", items: null },
  });
});

Deno.test("a value string that looks like the key does not start item mode", () => {
  const body = '{"kind":"items","other":["not", "items"],"items":[{"a":1}]}';
  const { items, envelope } = scan(body, () => 4);
  assert.deepEqual(items, [{ a: 1 }]);
  assert.deepEqual(envelope, { kind: "items", other: ["not", "items"], items: [] });
});

Deno.test("a body cut off inside the items is an error, not a shorter list", () => {
  const body = JSON.stringify(trickyList);
  const scanner = new ListBodyScanner(() => {});
  scanner.push(encoder.encode(body.slice(0, body.length - 20)));
  assert.throws(
    () => scanner.finish(),
    (error: unknown) => error instanceof ConnectError && error.code === Code.Internal,
  );
});

Deno.test("a broken item names its position", () => {
  const scanner = new ListBodyScanner(parseItem);
  scanner.push(encoder.encode('{"items":[{"a":1},{"b":tru}]}'));
  assert.throws(() => scanner.finish(), /invalid list: item 1: /);
  const scalars = new ListBodyScanner(parseItem);
  scalars.push(encoder.encode('{"items":[1]}'));
  assert.throws(() => scalars.finish(), /item 0 is not an object/);
});

Deno.test("elements are handed on as their text, with their index, before the body ends", () => {
  const seen: [string, number][] = [];
  const scanner = new ListBodyScanner((json, index) => seen.push([new TextDecoder().decode(json), index]));
  const first = `{"a":"${"x".repeat(BATCH_BYTES)},]"}`;
  scanner.push(encoder.encode(`{"items":[ ${first} ,{"b":[1,2]}`));
  assert.deepEqual(seen, [[` ${first} `, 0]]);
  scanner.push(encoder.encode("]}"));
  assert.deepEqual(seen.length, 1, "a short tail waits for more bytes or the end");
  scanner.finish();
  assert.deepEqual(seen, [[` ${first} `, 0], ['{"b":[1,2]}', 1]]);
  assert.equal(scanner.itemCount, 2);
});

Deno.test("a consumer gets first go at each element; what it declines is scanned", () => {
  const consumed: number[] = [];
  const scanned: [string, number][] = [];
  // Consumes the elements that are `{}` exactly, and declines the others.
  const scanner = new ListBodyScanner(
    (json, index) => scanned.push([new TextDecoder().decode(json).trim(), index]),
    (bytes, start, index) => {
      if (bytes[start + 1] !== 0x7d) return -1;
      consumed.push(index);
      return start + 2;
    },
  );
  scanner.push(encoder.encode('{"items":[{}, {"a":"{}"} ,{},\n{"b":[{}]}, 7],"kind":"List"}'));
  const envelope = scanner.finish();
  assert.deepEqual(consumed, [0, 2]);
  assert.deepEqual(scanned, [['{"a":"{}"}', 1], ['{"b":[{}]}', 3], ["7", 4]]);
  assert.equal(scanner.itemCount, 5);
  assert.deepEqual(envelope, { items: [], kind: "List" });
});
