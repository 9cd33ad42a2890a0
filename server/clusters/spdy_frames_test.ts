import assert from "node:assert/strict";
import {
  decodeHeaderBlock,
  encodeDataFrame,
  encodeGoAway,
  encodeHeaderBlock,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  FrameReader,
  GoAwayStatus,
  RstStatus,
  SettingId,
  type SpdyFrame,
  SpdyProtocolError,
} from "./spdy_frames.ts";

const hex = (text: string) => Uint8Array.from(text.replace(/\s+/g, "").match(/../g)!, (b) => parseInt(b, 16));
const ascii = (text: string) => new TextEncoder().encode(text);

function readAll(bytes: Uint8Array, chunkSize = bytes.length): SpdyFrame[] {
  const reader = new FrameReader();
  const frames: SpdyFrame[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    reader.push(bytes.subarray(offset, offset + chunkSize));
    for (let frame = reader.next(); frame; frame = reader.next()) frames.push(frame);
  }
  assert.equal(reader.bufferedBytes, 0);
  return frames;
}

// The expected bytes are written out by hand from the SPDY/3 frame layouts (draft 3, §2.2 and §2.6).
const vectors: [string, Uint8Array, string, SpdyFrame][] = [
  ["PING 1", encodePing(1), "8003 0006 00000004 00000001", { kind: "ping", id: 1 }],
  [
    "RST_STREAM 3 CANCEL",
    encodeRstStream(3, RstStatus.Cancel),
    "8003 0003 00000008 00000003 00000005",
    { kind: "rst_stream", streamId: 3, status: 5 },
  ],
  [
    "GOAWAY 0 OK",
    encodeGoAway(0, GoAwayStatus.Ok),
    "8003 0007 00000008 00000000 00000000",
    { kind: "goaway", lastGoodStreamId: 0, status: 0 },
  ],
  [
    "WINDOW_UPDATE session +32768",
    encodeWindowUpdate(0, 32768),
    "8003 0009 00000008 00000000 00008000",
    { kind: "window_update", streamId: 0, delta: 32768 },
  ],
  [
    "SETTINGS INITIAL_WINDOW_SIZE 65536",
    encodeSettings([{ flags: 0, id: SettingId.InitialWindowSize, value: 65536 }]),
    "8003 0004 0000000c 00000001 00000007 00010000",
    { kind: "settings", clear: false, entries: [{ flags: 0, id: 7, value: 65536 }] },
  ],
  [
    "DATA 5 'hi' FIN",
    encodeDataFrame(5, [ascii("h"), ascii("i")], true),
    "00000005 01 000002 6869",
    { kind: "data", streamId: 5, fin: true, data: ascii("hi") },
  ],
  [
    "SYN_STREAM 1, priority 3, FIN",
    encodeSynStream({ streamId: 1, priority: 3, fin: true }, ascii("abc")),
    "8003 0001 01 00000d 00000001 00000000 60 00 616263",
    {
      kind: "syn_stream",
      streamId: 1,
      associatedId: 0,
      priority: 3,
      fin: true,
      unidirectional: false,
      headerBlock: ascii("abc"),
    },
  ],
  [
    "SYN_REPLY 1",
    encodeSynReply(1, ascii("xy")),
    "8003 0002 00 000006 00000001 7879",
    { kind: "syn_reply", streamId: 1, fin: false, headerBlock: ascii("xy") },
  ],
  [
    "HEADERS 3 FIN",
    encodeHeaders(3, ascii("z"), true),
    "8003 0008 01 000005 00000003 7a",
    { kind: "headers", streamId: 3, fin: true, headerBlock: ascii("z") },
  ],
];

Deno.test("frames encode to the bytes the SPDY/3 layouts give, and decode back", () => {
  for (const [name, encoded, expected, frame] of vectors) {
    assert.deepEqual(encoded, hex(expected), name);
    assert.deepEqual(readAll(encoded), [frame], name);
  }
});

Deno.test("the reader reassembles frames split anywhere, in order", () => {
  const all = new Uint8Array(vectors.reduce((n, [, bytes]) => n + bytes.length, 0));
  let offset = 0;
  for (const [, bytes] of vectors) {
    all.set(bytes, offset);
    offset += bytes.length;
  }
  const expected = vectors.map(([, , , frame]) => frame);
  for (const chunkSize of [1, 3, 7, all.length]) {
    assert.deepEqual(readAll(all, chunkSize), expected, `${chunkSize}`);
  }
});

Deno.test("malformed frames are protocol errors; unknown control types are passed on to be ignored", () => {
  const reader = () => new FrameReader(1024);
  const version2 = reader();
  version2.push(hex("8002 0006 00000004 00000001"));
  assert.throws(() => version2.next(), SpdyProtocolError);
  const shortPing = reader();
  shortPing.push(hex("8003 0006 00000003 000000"));
  assert.throws(() => shortPing.next(), /payload of 3 bytes/);
  const settingsCount = reader();
  settingsCount.push(hex("8003 0004 00000008 00000002 00000007"));
  assert.throws(() => settingsCount.next(), SpdyProtocolError);
  const huge = reader();
  huge.push(hex("00000001 00 000401"));
  assert.throws(() => huge.next(), /exceeds the limit of 1024/);
  const unknown = reader();
  unknown.push(hex("8003 000a 00000002 abcd"));
  assert.deepEqual(unknown.next(), { kind: "unknown", type: 10, flags: 0, payload: hex("abcd") });
  assert.throws(() => encodeDataFrame(0, []), RangeError);
  assert.throws(() => encodeWindowUpdate(1, 0), RangeError);
});

Deno.test("header blocks: 32-bit lengths, lower-case names, repeated names joined by NUL", () => {
  const block = encodeHeaderBlock([["streamtype", "error"], ["port", "80"], ["port", "81"]]);
  assert.deepEqual(
    block,
    hex(
      "00000002 0000000a" + "73747265616d74797065" + "00000005 6572726f72" +
        "00000004 706f7274 00000005 3830003831",
    ),
  );
  assert.deepEqual(
    decodeHeaderBlock(block),
    new Map([["streamtype", ["error"]], ["port", ["80", "81"]]]),
  );
  assert.throws(() => encodeHeaderBlock([["streamType", "error"]]), /lower case/);
  assert.throws(() => encodeHeaderBlock([["a", "x\0y"]]), /NUL/);
  assert.throws(() => decodeHeaderBlock(hex("00000001 00000004 6162")), SpdyProtocolError);
  assert.throws(() => decodeHeaderBlock(hex("00000000 00")), /bytes after its entries/);
});
