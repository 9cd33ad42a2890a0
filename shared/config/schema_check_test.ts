import assert from "node:assert/strict";
import type { ConfigKey, ProgramSchema } from "./schema.ts";
import { checkSchema } from "./schema_check.ts";
import { REQUIRED_SCHEMA, TEST_SCHEMA } from "./test_helpers.ts";

const withKeys = (...keys: ConfigKey[]): ProgramSchema => ({
  program: "p",
  section: "s",
  otherSections: [],
  keys,
});
const base = { type: "string", default: "", description: "d" } as const;

Deno.test("checkSchema: accepts the test schemas", () => {
  checkSchema(TEST_SCHEMA);
  checkSchema(REQUIRED_SCHEMA);
});

Deno.test("checkSchema: rejects tables that could not load sensibly", () => {
  const cases: [ProgramSchema, RegExp][] = [
    [withKeys({ ...base, key: "other.x" }), /must start with "s\."/],
    [withKeys({ ...base, key: "s.Bad" }), /may only use/],
    [withKeys({ ...base, key: "s.x" }, { ...base, key: "s.x" }), /declared twice/],
    [withKeys({ ...base, key: "s.a_b" }, { ...base, key: "s.a.b" }), /flag --a-b, which is already taken/],
    [withKeys({ ...base, key: "s.help" }), /flag --help, which is already taken/],
    [withKeys({ key: "s.x", type: "url", description: "d" }), /needs a default or required/],
    [withKeys({ key: "s.x", type: "enum", default: "a", description: "d" }), /enum without choices/],
    [
      withKeys({ key: "s.x", type: "url", default: "", check: () => undefined, description: "d" }),
      /not text/,
    ],
    [withKeys({ ...base, key: "s.a" }, { ...base, key: "s.a.b" }), /s\.a is also a group/],
  ];
  for (const [schema, message] of cases) assert.throws(() => checkSchema(schema), message);
});
