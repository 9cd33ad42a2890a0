import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { LineSplitter } from "./kube_json.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function split(text: string, chunkSize: number, max = 1024): string[] {
  const splitter = new LineSplitter(max);
  const bytes = encoder.encode(text);
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    for (const line of splitter.push(bytes.subarray(offset, offset + chunkSize))) {
      lines.push(decoder.decode(line));
    }
  }
  const rest = splitter.finish();
  if (rest) lines.push(`rest:${decoder.decode(rest)}`);
  return lines;
}

Deno.test("LineSplitter: lines across chunk boundaries, CRLF, empty lines and a final partial line", () => {
  const text = '{"type":"ADDED","object":{"n":"ü🦦"}}\n\r\n{"type":"BOOKMARK"}\r\n\n{"partial":';
  for (const size of [1, 2, 3, 7, 1000]) {
    assert.deepEqual(split(text, size), [
      '{"type":"ADDED","object":{"n":"ü🦦"}}',
      '{"type":"BOOKMARK"}',
      'rest:{"partial":',
    ], `chunk size ${size}`);
  }
  assert.deepEqual(split("a\nb\n", 4), ["a", "b"]);
});

Deno.test("LineSplitter: a line longer than the limit is resource_exhausted", () => {
  for (const size of [3, 64]) {
    assert.throws(
      () => split(`${"x".repeat(40)}\nok\n`, size, 32),
      (error: unknown) =>
        error instanceof ConnectError && error.code === Code.ResourceExhausted &&
        /a watch event exceeds 32 bytes/.test(error.rawMessage),
    );
  }
  assert.deepEqual(split(`${"x".repeat(32)}\n`, 5, 32), ["x".repeat(32)]);
});
