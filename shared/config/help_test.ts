import assert from "node:assert/strict";
import { helpText, versionText } from "./help.ts";
import { envName, flagName } from "./names.ts";
import { TEST_SCHEMA } from "./test_helpers.ts";

Deno.test("help: lists every key with flag, type, default, env name, YAML key and description", () => {
  const text = helpText(TEST_SCHEMA, "9.9.9");
  for (const entry of TEST_SCHEMA.keys) {
    assert.ok(text.includes(`--${flagName(TEST_SCHEMA, entry.key)}`), entry.key);
    assert.ok(text.includes(`env: ${envName(entry.key)}`), entry.key);
    assert.ok(text.includes(`file: ${entry.key}`), entry.key);
    assert.ok(text.includes(`type: ${entry.type}`), entry.key);
    assert.ok(text.includes(entry.description), entry.key);
    assert.ok(text.includes(`default: ${entry.default === "" ? '""' : entry.default}`), entry.key);
  }
});

Deno.test("help: shows boolean negation, enum choices, fallback env and built-in flags", () => {
  const text = helpText(TEST_SCHEMA, "9.9.9");
  assert.ok(text.startsWith("otterscale-test 9.9.9\n\nUsage: otterscale-test [flags]"));
  assert.ok(text.includes("  --enabled, --no-enabled\n"));
  assert.ok(text.includes("  --level <debug|info|warn|error>\n"));
  assert.ok(text.includes("  --wait <duration>\n"));
  assert.ok(text.includes("env: OTTERSCALE_TEST_HOME, then TEST_HOME"));
  for (const builtin of ["--config <path>", "-h, --help", "--version"]) {
    assert.ok(text.includes(builtin), builtin);
  }
  assert.ok(text.includes("./config.yaml and /etc/otterscale/config.yaml"));
});

Deno.test("version: program name and version", () => {
  assert.equal(versionText(TEST_SCHEMA, "1.2.3"), "otterscale-test 1.2.3");
});
