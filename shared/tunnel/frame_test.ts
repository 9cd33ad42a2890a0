import assert from "node:assert/strict";
import { decodeHeader, encodeHeader, Flag, type FrameHeader, FrameType, ProtocolError } from "./frame.ts";
import { FrameReader } from "./frame_reader.ts";
import { concat, patternBytes } from "./test_util.ts";

Deno.test("header encodes big-endian as in the spec and decodes back", () => {
  const header: FrameHeader = {
    type: FrameType.WindowUpdate,
    flags: Flag.SYN | Flag.ACK,
    streamId: 0x01020304,
    length: 0xa0b0c0d0,
  };
  const bytes = encodeHeader(header);
  assert.deepEqual([...bytes], [0, 1, 0, 3, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0]);
  assert.deepEqual(decodeHeader(bytes), header);
});

Deno.test("decoding rejects an unknown version or frame type", () => {
  const bytes = encodeHeader({ type: FrameType.Ping, flags: 0, streamId: 0, length: 0 });
  assert.throws(() => decodeHeader(Uint8Array.of(1, ...bytes.subarray(1))), ProtocolError);
  assert.throws(() => decodeHeader(Uint8Array.of(0, 4, ...bytes.subarray(2))), /unknown frame type 4/);
});

Deno.test("the reader reassembles frames split at every byte boundary", () => {
  const payload = patternBytes(1000);
  const wire = concat([
    encodeHeader({ type: FrameType.Data, flags: Flag.SYN, streamId: 1, length: payload.length }),
    payload,
    encodeHeader({ type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: 42 }),
    encodeHeader({ type: FrameType.Data, flags: Flag.FIN, streamId: 1, length: 0 }),
  ]);
  for (const step of [1, 5, 12, 13, 999, wire.length]) {
    const frames: [FrameHeader, Uint8Array][] = [];
    const reader = new FrameReader((header, body) => frames.push([header, body.slice()]), 4096);
    for (let at = 0; at < wire.length; at += step) reader.push(wire.subarray(at, at + step));
    assert.deepEqual(frames.map(([header]) => [header.type, header.flags, header.length]), [
      [FrameType.Data, Flag.SYN, 1000],
      [FrameType.Ping, Flag.SYN, 42],
      [FrameType.Data, Flag.FIN, 0],
    ], `step ${step}`);
    assert.deepEqual(frames[0][1], payload);
    assert.equal(reader.bufferedBytes, 0);
  }
});

Deno.test("the reader refuses a data frame larger than any window before buffering it", () => {
  const reader = new FrameReader(() => assert.fail("no frame expected"), 4096);
  const header = encodeHeader({ type: FrameType.Data, flags: 0, streamId: 1, length: 4097 });
  assert.throws(() => reader.push(header), /larger than any window/);
});
