import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { decodeManifest, MANIFEST_LIMIT_BYTES } from "./manifest.ts";

const encoder = new TextEncoder();
const decode = (text: string) => decodeManifest(encoder.encode(text));

function assertCode(fn: () => unknown, code: Code, message: RegExp) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConnectError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.rawMessage, message);
    return true;
  });
}

Deno.test("a YAML manifest decodes with YAML 1.2 core scalars", () => {
  const manifest = decode(
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: demo\ndata:\n  enabled: yes\n  port: '80'\n" +
      "  date: 2024-01-01\n  merge: <<\n",
  );
  assert.equal(manifest.apiVersion, "v1");
  assert.equal(manifest.kind, "ConfigMap");
  assert.equal(manifest.name, "a");
  assert.equal(manifest.namespace, "demo");
  assert.deepEqual(manifest.object.data, { enabled: "yes", port: "80", date: "2024-01-01", merge: "<<" });
});

Deno.test("a JSON manifest decodes exactly; a leading document marker and comments are fine", () => {
  assert.deepEqual(decode('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}').object, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "x" },
  });
  assert.equal(decode("# a comment\n---\napiVersion: v1\nkind: Namespace\n---\n").kind, "Namespace");
});

Deno.test("invalid YAML and JSON are invalid_argument with the parser's position", () => {
  assertCode(
    () => decode("apiVersion: v1\nkind: [ConfigMap\n"),
    Code.InvalidArgument,
    /at line \d+, column \d+/,
  );
  assertCode(
    () => decode('{"apiVersion": "v1",\n "kind": "ConfigMap",,}'),
    Code.InvalidArgument,
    /invalid manifest: invalid YAML: .*line 2, column/,
  );
  assertCode(
    () => decode("a: 1\na: 2\n"),
    Code.InvalidArgument,
    /duplicated mapping key at line 2, column 1/,
  );
});

Deno.test("exactly one object with apiVersion and kind", () => {
  assertCode(() => decode(""), Code.InvalidArgument, /invalid manifest: it is empty/);
  assertCode(() => decode("# nothing\n"), Code.InvalidArgument, /it is empty/);
  assertCode(
    () => decode("apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n"),
    Code.InvalidArgument,
    /2 documents; send one object per call/,
  );
  assertCode(() => decode("- a\n- b\n"), Code.InvalidArgument, /must be a mapping/);
  assertCode(() => decode("kind: ConfigMap\n"), Code.InvalidArgument, /apiVersion is missing/);
  assertCode(() => decode("apiVersion: v1\n"), Code.InvalidArgument, /kind is missing/);
  assertCode(() => decode("apiVersion: v1\nkind: A\nmetadata: [1]\n"), Code.InvalidArgument, /metadata must/);
});

Deno.test("values JSON cannot carry are refused with their path", () => {
  assertCode(
    () => decode("apiVersion: v1\nkind: A\nspec:\n  x: .inf\n"),
    Code.InvalidArgument,
    /spec\.x is not/,
  );
  assertCode(
    () => decode("apiVersion: v1\nkind: A\ndata: !!binary aGVsbG8=\n"),
    Code.InvalidArgument,
    /invalid YAML: unknown tag .*binary.* at line 3/,
  );
});

Deno.test("size limit: resource_exhausted above 3 MiB; not UTF-8 is invalid", () => {
  const big = encoder.encode(
    `apiVersion: v1\nkind: ConfigMap\ndata:\n  a: "${"x".repeat(MANIFEST_LIMIT_BYTES)}"\n`,
  );
  assertCode(() => decodeManifest(big), Code.ResourceExhausted, /over the limit of 3145728 bytes/);
  const justUnder = encoder.encode(
    `apiVersion: v1\nkind: ConfigMap\ndata:\n  a: "${"x".repeat(MANIFEST_LIMIT_BYTES - 100)}"\n`,
  );
  assert.equal(decodeManifest(justUnder).kind, "ConfigMap");
  assertCode(
    () => decodeManifest(new Uint8Array([0x61, 0xff, 0xfe])),
    Code.InvalidArgument,
    /not valid UTF-8/,
  );
});

Deno.test("alias bombs are refused", () => {
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
    "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]",
    "apiVersion: v1",
    "kind: A",
  ].join("\n");
  assertCode(() => decode(bomb), Code.InvalidArgument, /expands to more than 1000000 values/);
});
