import assert from "node:assert/strict";
import { parseFlags } from "./flags.ts";
import { expectConfigError, TEST_SCHEMA } from "./test_helpers.ts";

const rawOf = (args: string[], key: string) => parseFlags(TEST_SCHEMA, args).values.get(key);

Deno.test("flags: names come from keys without the section, with . and _ as -", () => {
  assert.deepEqual(rawOf(["--nested-dir-path", "/x"], "test.nested.dir_path"), {
    raw: "/x",
    source: "flag --nested-dir-path",
  });
});

Deno.test("flags: --flag value and --flag=value", () => {
  assert.equal(rawOf(["--name", "a"], "test.name")?.raw, "a");
  assert.equal(rawOf(["--name=a=b"], "test.name")?.raw, "a=b");
  assert.equal(rawOf(["--name="], "test.name")?.raw, "");
  assert.equal(rawOf(["--name=--odd"], "test.name")?.raw, "--odd");
});

Deno.test("flags: a repeated scalar flag keeps the last value", () => {
  assert.equal(rawOf(["--name", "a", "--name", "b"], "test.name")?.raw, "b");
});

Deno.test("flags: list flags may repeat; every occurrence is kept", () => {
  assert.deepEqual(rawOf(["--items", "a,b", "--items=c d"], "test.items")?.raw, ["a,b", "c d"]);
});

Deno.test("flags: booleans as --x, --x=value and --no-x, the last one winning", () => {
  assert.deepEqual(rawOf(["--enabled"], "test.enabled"), { raw: "true", source: "flag --enabled" });
  assert.deepEqual(rawOf(["--no-enabled"], "test.enabled"), { raw: "false", source: "flag --no-enabled" });
  assert.equal(rawOf(["--enabled=false"], "test.enabled")?.raw, "false");
  assert.equal(rawOf(["--enabled=YES"], "test.enabled")?.raw, "true");
  assert.equal(rawOf(["--enabled", "--no-enabled"], "test.enabled")?.raw, "false");
  assert.equal(rawOf(["--no-enabled", "--enabled=1"], "test.enabled")?.raw, "true");
});

Deno.test("flags: a bad boolean value is a problem naming the key and flag, not a crash", () => {
  const flags = parseFlags(TEST_SCHEMA, ["--enabled=maybe"]);
  assert.equal(flags.values.has("test.enabled"), false);
  assert.equal(flags.problems.length, 1);
  assert.equal(flags.problems[0].key, "test.enabled");
  assert.equal(flags.problems[0].source, "flag --enabled");
  assert.match(flags.problems[0].reason, /"maybe": expected a boolean/);
});

Deno.test("flags: --config is read but is not a schema key", () => {
  const flags = parseFlags(TEST_SCHEMA, ["--config", "my.yaml", "--name=x"]);
  assert.equal(flags.configPath, "my.yaml");
  assert.equal(parseFlags(TEST_SCHEMA, ["--config=b.yaml"]).configPath, "b.yaml");
  assert.equal(parseFlags(TEST_SCHEMA, []).configPath, undefined);
});

Deno.test("flags: --help and --version win over everything, even bad flags", () => {
  assert.equal(parseFlags(TEST_SCHEMA, ["--nope", "--help"]).request, "help");
  assert.equal(parseFlags(TEST_SCHEMA, ["-h"]).request, "help");
  assert.equal(parseFlags(TEST_SCHEMA, ["--version", "--help"]).request, "help");
  assert.equal(parseFlags(TEST_SCHEMA, ["--name", "x", "--version"]).request, "version");
  assert.equal(parseFlags(TEST_SCHEMA, ["--name", "x"]).request, undefined);
});

Deno.test("flags: an unknown flag is an error naming it", () => {
  for (const args of [["--nope"], ["--nope=1"], ["-x"], ["--no-name"], ["--no-nope"]]) {
    const error = expectConfigError(() => parseFlags(TEST_SCHEMA, args));
    const name = args[0].split("=")[0];
    assert.match(error.message, new RegExp(`unknown flag ${name} `), args.join(" "));
  }
});

Deno.test("flags: a missing value is an error, with a hint when the next word is a flag", () => {
  assert.match(expectConfigError(() => parseFlags(TEST_SCHEMA, ["--name"])).message, /--name needs a value/);
  assert.match(
    expectConfigError(() => parseFlags(TEST_SCHEMA, ["--name", "--enabled"])).message,
    /--name needs a value \(got --enabled; write --name=--enabled/,
  );
  assert.match(
    expectConfigError(() => parseFlags(TEST_SCHEMA, ["--config"])).message,
    /--config needs a value/,
  );
});

Deno.test("flags: --no-x takes no value", () => {
  assert.match(
    expectConfigError(() => parseFlags(TEST_SCHEMA, ["--no-enabled=true"])).message,
    /--no-enabled takes no value/,
  );
});

Deno.test("flags: stray arguments are errors, also after --", () => {
  assert.match(
    expectConfigError(() => parseFlags(TEST_SCHEMA, ["serve"])).message,
    /unexpected argument "serve"/,
  );
  assert.match(
    expectConfigError(() => parseFlags(TEST_SCHEMA, ["--", "x"])).message,
    /unexpected argument "x"/,
  );
  assert.equal(parseFlags(TEST_SCHEMA, ["--name", "a", "--"]).values.get("test.name")?.raw, "a");
});
