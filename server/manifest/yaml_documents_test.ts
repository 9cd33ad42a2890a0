import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { quoteScalar, yamlDocuments } from "./yaml_documents.ts";

function readBack(text: string): unknown[] {
  return parseAllDocuments(text).map((document) => {
    assert.deepEqual(document.errors, []);
    return document.toJS();
  });
}

const hostile = [
  'a"\nkind: ClusterRoleBinding',
  "x\n---\napiVersion: v1\nkind: Secret",
  "# not a comment",
  "key: value",
  "- item",
  "{flow: mapping}",
  "&anchor *alias !tag",
  "'single' \"double\" \\backslash",
  "tab\there, nul\u0000, bell\u0007, del\u007f, c1\u0085\u009f",
  "line\u2028separator\u2029paragraph",
  "\ufeffbom",
  "yes",
  "null",
  "0x1F",
  "1e3",
  "",
  " leading and trailing ",
  "unicode ✓ 雪 😀",
];

Deno.test("every hostile string reads back as exactly itself, in one document", () => {
  for (const text of hostile) {
    const yaml = yamlDocuments([{ metadata: { name: text }, list: [text, { value: text }] }]);
    assert.deepEqual(readBack(yaml), [{ metadata: { name: text }, list: [text, { value: text }] }], yaml);
  }
});

Deno.test("control characters, C1, line separators and BOM are escaped, not written raw", () => {
  const quoted = quoteScalar("a\u0000b\u0085c\u2028d\u2029e\ufefff\u007f");
  assert.equal(quoted, '"a\\u0000b\\u0085c\\u2028d\\u2029e\\ufefff\\u007f"');
  const raw = [...quoted].filter((c) =>
    c < " " || (c >= "\u007f" && c <= "\u009f") || "\u2028\u2029\ufeff".includes(c)
  );
  assert.deepEqual(raw, []);
});

Deno.test("a lone surrogate, which UTF-8 cannot carry, is refused", () => {
  assert.throws(() => quoteScalar("a\ud800b"), RangeError);
});

Deno.test("documents, nesting, empty collections and plain scalars keep their shape", () => {
  const documents = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "x", labels: {} } },
    {
      a: [],
      b: {},
      c: [[1, 2], [], [{ d: true, e: null }]],
      f: 65532,
      g: false,
      "weird key: #": "v",
      "app.kubernetes.io/name": "n",
    },
  ];
  const yaml = yamlDocuments(documents);
  assert.ok(yaml.startsWith("---\n"));
  assert.equal(yaml.match(/^---$/gm)?.length, 2);
  assert.deepEqual(readBack(yaml), documents);
  assert.match(yaml, /^app\.kubernetes\.io\/name: "n"$/m);
  assert.match(yaml, /^"weird key: #": "v"$/m);
});

Deno.test("numbers without a YAML form are refused", () => {
  assert.throws(() => yamlDocuments([{ n: Number.NaN }]), RangeError);
  assert.throws(() => yamlDocuments([{ n: Number.POSITIVE_INFINITY }]), RangeError);
});
