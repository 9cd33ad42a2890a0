import assert from "node:assert/strict";
import { bearerToken } from "./bearer.ts";

Deno.test("bearerToken takes the token after the Bearer scheme", () => {
  assert.equal(bearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
});

Deno.test("bearerToken matches the scheme case-insensitively and trims whitespace", () => {
  assert.equal(bearerToken("bearer t1"), "t1");
  assert.equal(bearerToken("BEARER t2"), "t2");
  assert.equal(bearerToken("  BeArEr \t t3  "), "t3");
});

Deno.test("bearerToken rejects anything that is not exactly `Bearer <token>`", () => {
  for (
    const header of [
      undefined,
      null,
      "",
      "   ",
      "Bearer",
      "Bearer ",
      "Bearer    ",
      "Basic dXNlcjpwYXNz",
      "Bearerabc",
      "Bearer a b",
      "Token abc",
      "abc.def.ghi",
    ]
  ) {
    assert.equal(bearerToken(header), undefined, `header ${JSON.stringify(header)}`);
  }
});
