import assert from "node:assert/strict";
import { parseDuration } from "./duration.ts";

Deno.test("parseDuration: a plain number is seconds", () => {
  assert.deepEqual(parseDuration("10"), { ms: 10_000 });
  assert.deepEqual(parseDuration("0"), { ms: 0 });
  assert.deepEqual(parseDuration("1.5"), { ms: 1500 });
});

Deno.test("parseDuration: units ms, s, m, h and combinations", () => {
  assert.deepEqual(parseDuration("500ms"), { ms: 500 });
  assert.deepEqual(parseDuration("10s"), { ms: 10_000 });
  assert.deepEqual(parseDuration("2m"), { ms: 120_000 });
  assert.deepEqual(parseDuration("1h"), { ms: 3_600_000 });
  assert.deepEqual(parseDuration("1m30s"), { ms: 90_000 });
  assert.deepEqual(parseDuration("0.5s"), { ms: 500 });
});

Deno.test("parseDuration: rejects unknown units, signs, spaces and empty text", () => {
  for (const text of ["10x", "-1s", "s", "1 s", "", "1.s", "10sec", "1d"]) {
    assert.ok("reason" in parseDuration(text), `"${text}" should be rejected`);
  }
});
