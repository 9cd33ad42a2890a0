import assert from "node:assert/strict";
import { ByteQueue } from "./byte_queue.ts";

Deno.test("bytes come out in order across chunk boundaries, copied only when they span chunks", () => {
  const queue = new ByteQueue();
  const first = new Uint8Array([1, 2, 3]);
  queue.push(first);
  queue.push(new Uint8Array(0));
  queue.push(new Uint8Array([4, 5]));
  queue.push(new Uint8Array([6]));
  assert.equal(queue.length, 6);

  const head = queue.peek(2);
  assert.deepEqual([...head], [1, 2]);
  assert.equal(head.buffer, first.buffer, "within one chunk: a view, not a copy");
  assert.deepEqual([...queue.peek(5)], [1, 2, 3, 4, 5]);

  queue.consume(2);
  assert.deepEqual([...queue.take(2)], [3, 4]);
  assert.equal(queue.length, 2);
  assert.deepEqual([...queue.take(2)], [5, 6]);
  assert.equal(queue.length, 0);
  assert.deepEqual([...queue.peek(0)], []);
});
