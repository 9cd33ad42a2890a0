import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { decodeHeader, Flag, type FrameHeader, FrameType, HEADER_SIZE } from "./frame.ts";
import { type DataSource, FrameWriter, MAX_DATA_FRAME } from "./frame_writer.ts";

/** A socket that keeps every write pending until `release()`, so backpressure is under the test's control. */
class HeldSocket extends Writable {
  writes: Uint8Array[] = [];
  #held: (() => void)[] = [];
  constructor() {
    super({ highWaterMark: 1024 });
  }
  override _write(chunk: Uint8Array, _encoding: string, callback: () => void) {
    this.writes.push(chunk);
    this.#held.push(callback);
  }
  release() {
    for (const callback of this.#held.splice(0)) callback();
  }
}

/** A stream stand-in with `size` bytes to send and an unlimited window. */
function source(streamId: number, size: number): DataSource {
  let left = size;
  return {
    takeData(limit) {
      if (left === 0) return null;
      const length = Math.min(limit, left);
      left -= length;
      return { streamId, payload: new Uint8Array(length) };
    },
    hasSendableData: () => left > 0,
  };
}

function frames(bytes: Uint8Array): FrameHeader[] {
  const headers: FrameHeader[] = [];
  for (let at = 0; at < bytes.length;) {
    const header = decodeHeader(bytes.subarray(at));
    headers.push(header);
    at += HEADER_SIZE + (header.type === FrameType.Data ? header.length : 0);
  }
  return headers;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("a control frame queued behind megabytes of data goes out in the very next write", async () => {
  const socket = new HeldSocket();
  const writer = new FrameWriter(socket);
  writer.wake(source(1, 8 * 1024 * 1024));
  await tick();
  assert.equal(socket.writes.length, 1, "one batch, then the writer waits for drain");
  const ping = { type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: 7 } as const;
  writer.sendControl(ping);
  await tick();
  assert.equal(socket.writes.length, 1, "nothing written while the socket is backpressured");
  socket.release(); // 'drain'
  await tick();
  assert.deepEqual(frames(socket.writes[1])[0], ping);
  writer.stop();
});

Deno.test("streams take turns one slice at a time", async () => {
  const socket = new HeldSocket();
  const writer = new FrameWriter(socket);
  writer.wake(source(1, 1024 * 1024));
  writer.wake(source(3, 1024 * 1024));
  writer.wake(source(5, MAX_DATA_FRAME));
  const ids: number[] = [];
  for (let i = 0; i < 20 && ids.length < 33; i++) {
    await tick();
    for (const write of socket.writes.splice(0)) ids.push(...frames(write).map((header) => header.streamId));
    socket.release();
  }
  assert.deepEqual(ids.slice(0, 5), [1, 3, 5, 1, 3]);
  assert.deepEqual(ids.filter((id) => id === 1).length, 16);
  assert.deepEqual(ids.filter((id) => id === 3).length, 16);
  writer.stop();
});
