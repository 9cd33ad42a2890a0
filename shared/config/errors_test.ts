import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";

Deno.test("ConfigError: one problem on one line, several as a list", () => {
  const one = new ConfigError([{ key: "a.b", source: "flag --b", reason: "bad" }]);
  assert.equal(one.message, "invalid configuration: a.b (from flag --b): bad");
  assert.equal(one.name, "ConfigError");
  const many = new ConfigError([
    { key: "a.b", reason: "required" },
    { source: "command line", reason: "unknown flag --x" },
    { reason: "plain" },
  ]);
  assert.equal(
    many.message,
    "invalid configuration (3 problems):\n  - a.b: required\n  - command line: unknown flag --x\n  - plain",
  );
  assert.equal(many.problems.length, 3);
});
