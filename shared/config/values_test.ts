import assert from "node:assert/strict";
import type { ConfigKey, ValueType } from "./schema.ts";
import { isEmptyValue, type Parsed, parseValue, type RawValue, splitList } from "./values.ts";

function entry(type: ValueType, extra: Partial<ConfigKey> = {}): ConfigKey {
  return { key: "t.k", type, description: "test", default: "", ...extra };
}

function valueOf(parsed: Parsed): unknown {
  assert.ok("value" in parsed, `expected a value, got: ${"reason" in parsed ? parsed.reason : ""}`);
  return parsed.value;
}

function reasonOf(parsed: Parsed): string {
  assert.ok("reason" in parsed, "expected a rejection");
  return parsed.reason;
}

Deno.test("splitList: commas and any whitespace separate items; empties are dropped", () => {
  assert.deepEqual(splitList("a,b c\td\ne"), ["a", "b", "c", "d", "e"]);
  assert.deepEqual(splitList(" , a,, b ,"), ["a", "b"]);
  assert.deepEqual(splitList(["a,b", "c", ""]), ["a", "b", "c"]);
  assert.deepEqual(splitList(""), []);
});

Deno.test("parseValue boolean: true/false/1/0/yes/no in any case", () => {
  for (const text of ["true", "TRUE", "1", "yes", "Yes", " true "]) {
    assert.equal(valueOf(parseValue(entry("boolean"), text)), true, text);
  }
  for (const text of ["false", "False", "0", "no", "NO"]) {
    assert.equal(valueOf(parseValue(entry("boolean"), text)), false, text);
  }
  for (const text of ["maybe", "on", "2", "y"]) {
    assert.match(reasonOf(parseValue(entry("boolean"), text)), /expected a boolean/, text);
  }
});

Deno.test("parseValue integer: whole numbers only", () => {
  assert.equal(valueOf(parseValue(entry("integer"), "42")), 42);
  assert.equal(valueOf(parseValue(entry("integer"), "-7")), -7);
  for (const text of ["1.5", "1e3", "ten", "99999999999999999999"]) {
    assert.match(reasonOf(parseValue(entry("integer"), text)), /whole number/, text);
  }
});

Deno.test("parseValue enum: one of the choices, case-insensitive, normalised to lowercase", () => {
  const levels = entry("enum", { choices: ["debug", "info", "warn", "error"] });
  assert.equal(valueOf(parseValue(levels, "WARN")), "warn");
  assert.equal(reasonOf(parseValue(levels, "verbose")), "expected one of debug, info, warn, error");
});

Deno.test("parseValue url: http and https only, parsed", () => {
  const url = valueOf(parseValue(entry("url"), "https://kc.example.com/realms/x"));
  assert.ok(url instanceof URL);
  assert.equal(url.pathname, "/realms/x");
  assert.ok(valueOf(parseValue(entry("url"), "http://127.0.0.1:8299")) instanceof URL);
  assert.match(reasonOf(parseValue(entry("url"), "ftp://x")), /http or https/);
  assert.match(reasonOf(parseValue(entry("url"), "not a url")), /not a valid URL/);
});

Deno.test("parseValue duration and address delegate to their parsers", () => {
  assert.equal(valueOf(parseValue(entry("duration"), "2m")), 120_000);
  assert.deepEqual(valueOf(parseValue(entry("address"), ":8299")), { hostname: "0.0.0.0", port: 8299 });
  assert.match(reasonOf(parseValue(entry("address"), ":65536")), /port/);
});

Deno.test("parseValue string and list apply the key's check", () => {
  const noX = (text: string) => text.includes("x") ? "no x allowed" : undefined;
  assert.equal(valueOf(parseValue(entry("string", { check: noX }), "abc")), "abc");
  assert.equal(reasonOf(parseValue(entry("string", { check: noX }), "xyz")), "no x allowed");
  assert.deepEqual(valueOf(parseValue(entry("list", { check: noX }), "a, b")), ["a", "b"]);
  assert.equal(reasonOf(parseValue(entry("list", { check: noX }), "a, x")), 'item "x": no x allowed');
});

Deno.test("parseValue: a list given to a single-valued key is rejected", () => {
  assert.equal(reasonOf(parseValue(entry("string"), ["a", "b"])), "expected a single value, got a list");
});

Deno.test("parseValue: empty text is an empty string or list, and an error for other types", () => {
  assert.equal(valueOf(parseValue(entry("string"), "")), "");
  assert.deepEqual(valueOf(parseValue(entry("list"), " ")), []);
  for (const type of ["boolean", "integer", "duration", "url", "address"] as const) {
    assert.equal(reasonOf(parseValue(entry(type), "  ")), "empty value", type);
  }
});

Deno.test("isEmptyValue: blank text or a list without items", () => {
  const cases: [ValueType, RawValue, boolean][] = [
    ["string", "", true],
    ["string", "  ", true],
    ["string", "a", false],
    ["list", ",, ", true],
    ["list", [], true],
    ["list", ["", " "], true],
    ["list", ["a"], false],
    ["url", "", true],
  ];
  for (const [type, raw, empty] of cases) {
    assert.equal(isEmptyValue(entry(type), raw), empty, `${type} ${raw}`);
  }
});
