// The session's writer, judged by the frames on the wire (not by clocks): a stream with a keystroke to send
// waits behind at most one slice of each busy stream, however much they queued; chunks a writer corks
// together leave as one frame.
import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { decodeHeader, encodeHeader, Flag, type FrameHeader, FrameType, HEADER_SIZE } from "./frame.ts";
import { MAX_DATA_FRAME } from "./frame_writer.ts";
import { YamuxSession } from "./session.ts";
import type { YamuxStream } from "./stream.ts";

const MiB = 1024 * 1024;
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A socket whose writes stay pending until `release()`, so the test decides when the writer may go on. */
class HeldSocket extends Duplex {
  writes: Uint8Array[] = [];
  #held: (() => void)[] = [];
  constructor() {
    super({ writableHighWaterMark: 1024 });
  }
  override _write(chunk: Uint8Array, _encoding: string, callback: () => void): void {
    this.writes.push(chunk);
    this.#held.push(callback);
  }
  override _read(): void {}
  release(): void {
    for (const callback of this.#held.splice(0)) callback();
  }
  /** Delivers a frame from the imaginary peer. */
  receive(header: FrameHeader): void {
    this.push(encodeHeader(header));
  }
}

function frames(writes: Uint8Array[]): FrameHeader[] {
  const headers: FrameHeader[] = [];
  for (const bytes of writes) {
    for (let at = 0; at < bytes.length;) {
      const header = decodeHeader(bytes.subarray(at));
      headers.push(header);
      at += HEADER_SIZE + (header.type === FrameType.Data ? header.length : 0);
    }
  }
  return headers;
}

/** Opens a stream with `bytes` queued and the peer's leave to send them all (a large window update). */
function bulkStream(session: YamuxSession, socket: HeldSocket, bytes: number): YamuxStream {
  const stream = session.openStream();
  stream.on("error", () => {});
  socket.receive({ type: FrameType.WindowUpdate, flags: Flag.ACK, streamId: stream.id, length: bytes });
  stream.write(new Uint8Array(bytes));
  return stream;
}

Deno.test("a keystroke waits behind at most one slice per busy stream, not behind their backlog", async () => {
  const socket = new HeldSocket();
  const session = new YamuxSession(socket, { role: "client", keepAliveIntervalMs: 0 });
  const bulk = [bulkStream(session, socket, 8 * MiB), bulkStream(session, socket, 8 * MiB)];
  const terminal = session.openStream();
  await tick();
  assert.equal(socket.writes.length, 1, "one batch is out, the writer waits for the socket to drain");

  terminal.write(Uint8Array.of(0x6b));
  await tick();
  const before = socket.writes.length;
  socket.release();
  await tick();
  const next = frames(socket.writes.slice(before, before + 1));
  const keystroke = next.findIndex((f) => f.type === FrameType.Data && f.streamId === terminal.id);
  assert.ok(keystroke >= 0, "the keystroke goes out in the very next socket write");
  const bulkIds = new Set(bulk.map((stream) => stream.id));
  const ahead = next.slice(0, keystroke).filter((f) => f.type === FrameType.Data && bulkIds.has(f.streamId));
  assert.ok(ahead.length <= bulk.length, `${ahead.length} bulk frames went ahead of the keystroke`);
  for (const frame of ahead) assert.ok(frame.length <= MAX_DATA_FRAME);

  session.close();
  socket.destroy();
});

Deno.test("bulk streams share the socket evenly while they all have data", async () => {
  const socket = new HeldSocket();
  const session = new YamuxSession(socket, { role: "client", keepAliveIntervalMs: 0 });
  const bulk = [bulkStream(session, socket, 4 * MiB), bulkStream(session, socket, 4 * MiB)];
  for (let i = 0; i < 8; i++) {
    await tick();
    socket.release();
  }
  const sent = new Map<number, number>();
  for (const frame of frames(socket.writes)) {
    if (frame.type === FrameType.Data) {
      sent.set(frame.streamId, (sent.get(frame.streamId) ?? 0) + frame.length);
    }
  }
  const [first, second] = bulk.map((stream) => sent.get(stream.id) ?? 0);
  assert.ok(first > MiB / 2, `stream ${bulk[0].id} sent ${first} bytes`);
  assert.ok(Math.abs(first - second) <= MAX_DATA_FRAME, `uneven: ${first} vs ${second} bytes`);
  session.close();
  socket.destroy();
});

Deno.test("chunks corked together (a response head and its body) leave as one frame", async () => {
  const socket = new HeldSocket();
  const session = new YamuxSession(socket, { role: "client", keepAliveIntervalMs: 0 });
  const stream = session.openStream();
  await tick();
  socket.release();
  const before = socket.writes.length;
  stream.cork();
  stream.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"));
  stream.write(new TextEncoder().encode("hello"));
  stream.uncork();
  await tick();
  const data = frames(socket.writes.slice(before)).filter((f) => f.type === FrameType.Data);
  assert.deepEqual(data.map((f) => [f.streamId, f.length]), [[stream.id, 43]]);
  session.close();
  socket.destroy();
});
