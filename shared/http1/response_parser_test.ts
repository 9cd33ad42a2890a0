import assert from "node:assert/strict";
import { HttpParseError, type ResponseHead, ResponseParser } from "./response_parser.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Seen {
  heads: ResponseHead[];
  bodies: string[];
  ends: boolean[];
}

function parserWithLog(): { parser: ResponseParser; seen: Seen } {
  const seen: Seen = { heads: [], bodies: [], ends: [] };
  const parser = new ResponseParser({
    head: (head) => {
      seen.heads.push(head);
      seen.bodies.push("");
    },
    body: (bytes) => (seen.bodies[seen.bodies.length - 1] += decoder.decode(bytes)),
    end: (reusable) => seen.ends.push(reusable),
  });
  return { parser, seen };
}

/** Feeds `text` in pieces of `step` bytes, so that every split point gets exercised. */
function feed(parser: ResponseParser, text: string, step: number): void {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length; at += step) parser.push(bytes.subarray(at, at + step));
}

const twoResponses =
  'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a":"bc"}\n' +
  "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n" +
  "X-Two: 1\r\nX-Two: 2\r\n\r\n4;ext=1\r\nnot \r\n5\r\nfound\r\n0\r\nTrailer: t\r\n\r\n";

Deno.test("two responses on one connection, whatever the split points", () => {
  for (const step of [1, 2, 3, 5, 7, 64, 4096]) {
    const { parser, seen } = parserWithLog();
    feed(parser, twoResponses, step);
    assert.equal(parser.midResponse, false, `step ${step}`);
    assert.deepEqual(seen.heads.map((h) => [h.status, h.statusMessage]), [[200, "OK"], [404, "Not Found"]]);
    assert.deepEqual(seen.bodies, ['{"a":"bc"}\n', "not found"], `step ${step}`);
    assert.deepEqual(seen.ends, [true, true]);
    assert.equal(seen.heads[0].headers["content-type"], "application/json");
    assert.deepEqual(seen.heads[0].rawHeaders.slice(0, 2), ["Content-Type", "application/json"]);
    assert.deepEqual(seen.heads[1].headers["set-cookie"], ["a=1", "b=2"]);
    assert.equal(seen.heads[1].headers["x-two"], "1, 2");
  }
});

Deno.test("interim 1xx answers are skipped; 204, 304 and HEAD answers have no body", () => {
  const { parser, seen } = parserWithLog();
  feed(parser, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 3);
  feed(parser, "HTTP/1.1 304 Not Modified\r\n\r\n", 100);
  parser.expectBodiless(true);
  feed(parser, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 100);
  feed(parser, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 100);
  assert.deepEqual(seen.heads.map((h) => h.status), [204, 304, 200, 200]);
  assert.deepEqual(seen.bodies, ["", "", "", "ok"]);
  assert.deepEqual(seen.ends, [true, true, true, true]);
});

Deno.test("a body without length runs until the connection closes, which ends reuse", () => {
  const { parser, seen } = parserWithLog();
  feed(parser, "HTTP/1.1 200 OK\r\n\r\nline 1\nline 2\n", 4);
  assert.deepEqual(seen.ends, []);
  parser.close();
  assert.deepEqual(seen.bodies, ["line 1\nline 2\n"]);
  assert.deepEqual(seen.ends, [false]);
  assert.throws(() => parser.push(encoder.encode("HTTP/1.1 200 OK\r\n\r\n")), HttpParseError);
});

Deno.test("Connection: close and 101 Switching Protocols end reuse", () => {
  const closing = parserWithLog();
  feed(closing.parser, "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", 100);
  assert.deepEqual(closing.seen.ends, [false]);
  const upgrade = parserWithLog();
  feed(upgrade.parser, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 100);
  assert.deepEqual(upgrade.seen.heads.map((h) => h.status), [101]);
  assert.deepEqual(upgrade.seen.ends, [false]);
});

Deno.test("a response cut short by the close is an error, between responses it is not", () => {
  for (
    const partial of ["HTTP/1.1 200 OK\r\nContent-Len", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"]
  ) {
    const { parser } = parserWithLog();
    feed(parser, partial, 100);
    assert.throws(() => parser.close(), HttpParseError, partial);
  }
  const { parser } = parserWithLog();
  feed(parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n", 100);
  assert.throws(() => parser.close(), HttpParseError);
  const done = parserWithLog();
  feed(done.parser, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", 100);
  done.parser.close();
});

Deno.test("malformed answers are refused", () => {
  const malformed = [
    "HTTP/2 200 OK\r\n\r\n",
    "hello\r\n\r\n",
    "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
  ];
  for (const text of malformed) {
    const { parser } = parserWithLog();
    assert.throws(() => feed(parser, text, 100), HttpParseError, text);
  }
  const { parser } = parserWithLog();
  assert.throws(() => parser.push(new Uint8Array(70 * 1024).fill(0x61)), HttpParseError);
});
