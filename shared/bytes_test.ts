import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { concatBytes, plainBytes } from "./bytes.ts";

Deno.test("concatBytes joins parts in order and returns a lone part without copying", () => {
  assert.deepEqual([...concatBytes([new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])])], [
    1,
    2,
    3,
  ]);
  assert.equal(concatBytes([]).length, 0);
  const lone = new Uint8Array([4, 5]);
  assert.equal(concatBytes([lone]), lone);
});

Deno.test("plainBytes turns a Buffer into a plain view of the same memory", () => {
  const buffer = Buffer.from([1, 2, 3]).subarray(1);
  const plain = plainBytes(buffer);
  assert.equal(Object.getPrototypeOf(plain), Uint8Array.prototype);
  assert.deepEqual([...plain], [2, 3]);
  plain[0] = 9;
  assert.equal(buffer[0], 9);
  assert.equal(plainBytes(plain), plain);
});
