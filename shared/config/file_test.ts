import assert from "node:assert/strict";
import { findConfigFile, parseConfigFile } from "./file.ts";
import { expectConfigError, filesOf, TEST_SCHEMA } from "./test_helpers.ts";

const parse = (text: string) => parseConfigFile(TEST_SCHEMA, { path: "./config.yaml", text });

Deno.test("file: nested keys become schema keys, with the line they came from", () => {
  const result = parse(["test:", "  name: hello", "  nested:", "    dir_path: /data", ""].join("\n"));
  assert.deepEqual(result.values.get("test.name"), { raw: "hello", source: "file ./config.yaml:2" });
  assert.deepEqual(result.values.get("test.nested.dir_path"), {
    raw: "/data",
    source: "file ./config.yaml:4",
  });
  assert.deepEqual(result.warnings, []);
  assert.deepEqual(result.problems, []);
});

Deno.test("file: scalars keep the text as written", () => {
  const result = parse(
    ["test:", "  name: 1.10", "  enabled: yes", "  count: 010", "  wait: 10", "  home:", ""].join("\n"),
  );
  assert.equal(result.values.get("test.name")?.raw, "1.10");
  assert.equal(result.values.get("test.enabled")?.raw, "yes");
  assert.equal(result.values.get("test.count")?.raw, "010");
  assert.equal(result.values.get("test.wait")?.raw, "10");
  assert.equal(result.values.get("test.home")?.raw, "");
});

Deno.test("file: a list is a YAML sequence (block or flow) or a string", () => {
  const block = parse("test:\n  items:\n    - a\n    - b\n");
  assert.deepEqual(block.values.get("test.items")?.raw, ["a", "b"]);
  assert.deepEqual(parse("test:\n  items: [a, 'b']\n").values.get("test.items")?.raw, ["a", "b"]);
  assert.equal(parse("test:\n  items: a, b\n").values.get("test.items")?.raw, "a, b");
});

Deno.test("file: aliases resolve to the anchored value", () => {
  const result = parse("test:\n  name: &n shared\n  nested:\n    dir_path: *n\n");
  assert.equal(result.values.get("test.nested.dir_path")?.raw, "shared");
});

Deno.test("file: unknown keys are warnings with their line; other programs' sections are ignored", () => {
  const text = [
    "test:",
    "  name: a",
    "  nmae: typo",
    "  nested:",
    "    nope: 1",
    "other:",
    "  anything: 1",
    "stray: 1",
    "",
  ].join("\n");
  const result = parse(text);
  assert.deepEqual(result.warnings, [
    "unknown config key test.nmae at ./config.yaml:3",
    "unknown config key test.nested.nope at ./config.yaml:5",
    "unknown config key stray at ./config.yaml:8",
  ]);
  assert.equal(result.values.get("test.name")?.raw, "a");
});

Deno.test("file: empty file, comments only, and empty sections give no values", () => {
  for (const text of ["", "# nothing here\n", "test:\n", "test:\n  nested:\n"]) {
    const result = parse(text);
    assert.equal(result.values.size, 0, JSON.stringify(text));
    assert.deepEqual(result.problems, [], JSON.stringify(text));
  }
});

Deno.test("file: wrong shapes are problems naming key and line", () => {
  const mapping = parse("test:\n  name:\n    deeper: 1\n");
  assert.deepEqual(mapping.problems, [
    { key: "test.name", source: "file ./config.yaml:3", reason: "expected a value, got a mapping" },
  ]);
  const nestedList = parse("test:\n  items:\n    - [a]\n");
  assert.equal(nestedList.problems[0].key, "test.items");
  assert.equal(nestedList.problems[0].reason, "list items must be plain values");
  assert.match(parse("- a\n- b\n").problems[0].reason, /must be a mapping of sections/);
  assert.match(parse("test: 5\n").problems[0].reason, /test must be a mapping of keys/);
});

Deno.test("file: malformed YAML is an error with line and column", () => {
  const error = expectConfigError(() => parse("test:\n  name: [a\n  count: 2\nx: : :\n"));
  assert.equal(error.problems[0].source, "file ./config.yaml");
  assert.match(error.message, /at line \d+, column \d+/);
  const duplicate = expectConfigError(() => parse("test:\n  name: a\n  name: b\n"));
  assert.match(duplicate.message, /Map keys must be unique at line 3, column 3/);
});

Deno.test("findConfigFile: ./config.yaml first, then /etc/otterscale/config.yaml, else none", () => {
  const both = filesOf({ "./config.yaml": "a", "/etc/otterscale/config.yaml": "b" });
  assert.deepEqual(findConfigFile(undefined, both).file, { path: "./config.yaml", text: "a" });
  const etcOnly = filesOf({ "/etc/otterscale/config.yaml": "b" });
  assert.deepEqual(findConfigFile(undefined, etcOnly).file, {
    path: "/etc/otterscale/config.yaml",
    text: "b",
  });
  assert.deepEqual(findConfigFile(undefined, filesOf({})), { warnings: [] });
});

Deno.test("findConfigFile: cwd anchors the relative search path and a relative --config", () => {
  const files = filesOf({ "/srv/app/config.yaml": "a", "/srv/app/conf/x.yaml": "x" });
  assert.equal(findConfigFile(undefined, files, "/srv/app").file?.path, "/srv/app/config.yaml");
  assert.equal(findConfigFile("conf/x.yaml", files, "/srv/app").file?.text, "x");
  assert.equal(findConfigFile("/srv/app/conf/x.yaml", files, "/elsewhere").file?.text, "x");
});

Deno.test("findConfigFile: an explicit --config must exist and skips the search paths", () => {
  const files = filesOf({ "./config.yaml": "a" });
  const error = expectConfigError(() => findConfigFile("missing.yaml", files));
  assert.equal(error.problems[0].source, "flag --config");
  assert.match(error.message, /missing\.yaml does not exist/);
});

Deno.test("findConfigFile: a search path we may not read is skipped with a warning", () => {
  const readFile = (path: string) => {
    if (path === "./config.yaml") throw new Deno.errors.NotCapable(`Requires read access to "${path}"`);
    return path === "/etc/otterscale/config.yaml" ? "b" : undefined;
  };
  const found = findConfigFile(undefined, readFile);
  assert.equal(found.file?.path, "/etc/otterscale/config.yaml");
  assert.deepEqual(found.warnings, [
    "config file ./config.yaml skipped: not permitted to read it (add it to --allow-read)",
  ]);
});

Deno.test("findConfigFile: an explicit --config we may not read is a clear error", () => {
  const readFile = (path: string): string => {
    throw new Deno.errors.NotCapable(`Requires read access to "${path}"`);
  };
  const error = expectConfigError(() => findConfigFile("/secret/config.yaml", readFile));
  assert.match(error.message, /not permitted to read \/secret\/config\.yaml; add it to --allow-read/);
});

Deno.test("findConfigFile: other read failures are errors naming the file", () => {
  const readFile = (): string => {
    throw new Deno.errors.PermissionDenied("Permission denied (os error 13)");
  };
  const error = expectConfigError(() => findConfigFile(undefined, readFile));
  assert.equal(error.problems[0].source, "file ./config.yaml");
  assert.match(error.message, /cannot read it: Permission denied/);
});
