import assert from "node:assert/strict";
import { backoffDelayMs } from "./backoff.ts";

const policy = { initialMs: 100, maxMs: 30_000 };

Deno.test("backoffDelayMs doubles per attempt between half and the full nominal delay", () => {
  assert.equal(backoffDelayMs(0, policy, () => 0), 50);
  assert.equal(backoffDelayMs(0, policy, () => 0.999999), 99.99995);
  assert.equal(backoffDelayMs(3, policy, () => 0), 400);
  assert.equal(backoffDelayMs(3, policy, () => 0.5), 600);
});

Deno.test("backoffDelayMs is capped at maxMs even for huge attempt numbers", () => {
  for (const attempt of [9, 10, 50, 10_000]) {
    const high = backoffDelayMs(attempt, policy, () => 0.999999);
    assert.ok(high <= 30_000 && high > 29_999, `attempt ${attempt}: ${high}`);
    assert.equal(backoffDelayMs(attempt, policy, () => 0), 15_000);
  }
});
