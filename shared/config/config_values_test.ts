import assert from "node:assert/strict";
import { ConfigValues } from "./config_values.ts";
import { TEST_SCHEMA } from "./test_helpers.ts";
import type { ConfigValue } from "./values.ts";

const values = new ConfigValues(
  TEST_SCHEMA,
  new Map<string, ConfigValue>([
    ["test.name", "n"],
    ["test.level", "warn"],
    ["test.endpoint", new URL("http://e.example")],
    ["test.listen", { hostname: "::1", port: 1 }],
  ]),
);
Deno.test("ConfigValues: getters return the value of the key", () => {
  assert.equal(values.string("test.name"), "n");
  assert.equal(values.choice("test.level", ["warn", "error"]), "warn");
});

Deno.test("ConfigValues: a caller's mutation does not reach the stored URL or address", () => {
  values.url("test.endpoint").pathname = "/changed";
  assert.equal(values.url("test.endpoint").pathname, "/");
  const address = values.address("test.listen");
  (address as { port: number }).port = 2;
  assert.equal(values.address("test.listen").port, 1);
});

Deno.test("ConfigValues: unknown keys, wrong types and choices outside the caller's list throw", () => {
  assert.throws(() => values.string("test.nmae"), /test\.nmae is not in the schema/);
  assert.throws(() => values.url("test.name"), /test\.name has type string, not url/);
  assert.throws(() => values.string("test.home"), /test\.home has no value/);
  assert.throws(() => values.choice("test.level", ["debug"]), /"warn" is not one of debug/);
});
