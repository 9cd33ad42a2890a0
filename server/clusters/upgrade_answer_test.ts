import assert from "node:assert/strict";
import {
  encodeRequestHead,
  indexOfHeadEnd,
  MAX_REFUSAL_BODY_BYTES,
  parseHead,
  refusalBody,
  refusalBodyComplete,
} from "./upgrade_answer.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("a request head with a line break in a value is refused, not sent", () => {
  assert.equal(
    text(encodeRequestHead(["GET / HTTP/1.1", "Host: a"], "test")),
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
  );
  assert.throws(() => encodeRequestHead(["GET / HTTP/1.1", "X: a\r\nEvil: b"], "test"), TypeError);
});

Deno.test("the answer head is found and parsed; repeated headers are joined", () => {
  const answer = bytes("HTTP/1.1 403 Forbidden\r\nA: 1\r\nA: 2\r\nContent-Length: 2\r\n\r\n{}");
  const end = indexOfHeadEnd(answer);
  assert.equal(text(answer.subarray(end + 4)), "{}");
  assert.deepEqual(parseHead(text(answer.subarray(0, end))), {
    status: 403,
    statusText: "Forbidden",
    headers: { a: "1, 2", "content-length": "2" },
  });
  assert.equal(indexOfHeadEnd(bytes("HTTP/1.1 101 Switching\r\n")), -1);
  assert.equal(parseHead("SSH-2.0-OpenSSH"), undefined);
});

Deno.test("a refusal body is complete by its length, its last chunk or the limit", () => {
  const sized = parseHead("HTTP/1.1 400 Bad Request\r\nContent-Length: 5")!;
  assert.equal(refusalBodyComplete(sized, bytes("abc")), false);
  assert.equal(text(refusalBody(sized, bytes("abcdefg"))), "abcde");

  const chunked = parseHead("HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked")!;
  assert.equal(refusalBodyComplete(chunked, bytes("3\r\nabc\r\n")), false);
  const whole = bytes("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  assert.equal(refusalBodyComplete(chunked, whole), true);
  assert.equal(text(refusalBody(chunked, whole)), "abcde");

  const unsized = parseHead("HTTP/1.1 400 Bad Request")!;
  assert.equal(refusalBodyComplete(unsized, new Uint8Array(10)), false);
  assert.equal(refusalBodyComplete(unsized, new Uint8Array(MAX_REFUSAL_BODY_BYTES)), true);
  assert.equal(
    refusalBody(unsized, new Uint8Array(MAX_REFUSAL_BODY_BYTES + 10)).length,
    MAX_REFUSAL_BODY_BYTES,
  );
});
