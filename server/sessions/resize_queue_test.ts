import assert from "node:assert/strict";
import { RESIZE_QUEUE_CAPACITY, ResizeQueue } from "./resize_queue.ts";

Deno.test("the resize queue keeps the newest sizes, dropping the oldest when full", () => {
  const queue = new ResizeQueue();
  for (let i = 1; i <= 10; i++) queue.push({ rows: i, cols: i * 2 });
  assert.equal(queue.length, RESIZE_QUEUE_CAPACITY);
  const drained = [];
  for (let size = queue.shift(); size; size = queue.shift()) drained.push(size.rows);
  assert.deepEqual(drained, [7, 8, 9, 10]);
});

Deno.test("the resize queue skips a size equal to the last one queued", () => {
  const queue = new ResizeQueue();
  queue.push({ rows: 24, cols: 80 });
  queue.push({ rows: 24, cols: 80 });
  queue.push({ rows: 25, cols: 80 });
  assert.equal(queue.length, 2);
});
