import assert from "node:assert/strict";
import { encodeHeader, Flag, FrameType, GoAwayCode, HEADER_SIZE } from "./frame.ts";
import { YamuxSession } from "./session.ts";
import type { YamuxStream } from "./stream.ts";
import {
  concat,
  echo,
  loopbackSocketPair,
  patternBytes,
  readAll,
  sessionPair,
  sha256Hex,
  until,
  writeAll,
} from "./test_util.ts";

const noKeepAlive = { keepAliveIntervalMs: 0 };

Deno.test("a stream opened by the client is accepted and echoed", async () => {
  await using pair = await sessionPair(noKeepAlive, { ...noKeepAlive, onStream: echo });
  const stream = pair.client.openStream();
  assert.deepEqual(stream.id, 1);
  const reply = readAll(stream);
  await writeAll(stream, new TextEncoder().encode("hello tunnel"));
  assert.deepEqual(new TextDecoder().decode(await reply), "hello tunnel");
  await until(
    () => pair.client.stats().openStreams === 0 && pair.server.stats().openStreams === 0,
    "release",
  );
  assert.deepEqual(pair.server.stats().streamsAccepted, 1);
});

Deno.test("the server opens even stream ids and the client accepts them", async () => {
  await using pair = await sessionPair({ ...noKeepAlive, onStream: echo }, noKeepAlive);
  const first = pair.server.openStream();
  const second = pair.server.openStream();
  assert.deepEqual([first.id, second.id], [2, 4]);
  const payload = patternBytes(100_000);
  const replies = [readAll(first), readAll(second)];
  await Promise.all([writeAll(first, payload), writeAll(second, payload)]);
  for (const reply of await Promise.all(replies)) assert.deepEqual(reply, payload);
});

Deno.test("200 concurrent streams each echo 256 KiB intact", async () => {
  await using pair = await sessionPair(noKeepAlive, { ...noKeepAlive, onStream: echo });
  const results = await Promise.all(Array.from({ length: 200 }, async (_, index) => {
    const payload = patternBytes(256 * 1024, index + 1);
    const stream = pair.client.openStream();
    const [reply] = await Promise.all([readAll(stream), writeAll(stream, payload)]);
    return (await sha256Hex(reply)) === (await sha256Hex(payload));
  }));
  assert.deepEqual(results.filter(Boolean).length, 200);
  await until(() => pair.server.stats().openStreams === 0, "server streams released");
});

Deno.test("half-close: the server reads to the end, then still answers", async () => {
  await using pair = await sessionPair(noKeepAlive, {
    ...noKeepAlive,
    onStream: async (stream) => {
      stream.allowHalfOpen = true; // keep answering after the client's FIN
      const request = await readAll(stream); // ends only because the client half-closed
      await writeAll(stream, new TextEncoder().encode(`got ${request.length} bytes`));
    },
  });
  const stream = pair.client.openStream();
  const reply = readAll(stream);
  await writeAll(stream, patternBytes(300_000));
  assert.deepEqual(new TextDecoder().decode(await reply), "got 300000 bytes");
});

Deno.test("destroy(error) resets the stream and the peer sees ECONNRESET", async () => {
  const serverError = Promise.withResolvers<Error>();
  await using pair = await sessionPair(noKeepAlive, {
    ...noKeepAlive,
    onStream: (stream) => {
      stream.resume();
      stream.on("error", serverError.resolve);
    },
  });
  const stream = pair.client.openStream();
  stream.on("error", () => {});
  stream.write("partial");
  await until(() => pair.server.stats().openStreams === 1, "stream accepted");
  stream.destroy(new Error("client gave up"));
  const error = await serverError.promise;
  assert.deepEqual((error as Error & { code?: string }).code, "ECONNRESET");
  await until(() => pair.server.stats().openStreams === 0, "server released the reset stream");
});

Deno.test("destroy() without an error closes with FIN: the peer reads everything, then end", async () => {
  const received = Promise.withResolvers<Uint8Array>();
  await using pair = await sessionPair(noKeepAlive, {
    ...noKeepAlive,
    onStream: (stream) => {
      stream.on("error", received.reject);
      // Read late, after the client has already destroyed its side; then close ours.
      setTimeout(() => readAll(stream).then(received.resolve, received.reject).then(() => stream.end()), 50);
    },
  });
  const stream = pair.client.openStream();
  const payload = patternBytes(200_000);
  await new Promise<void>((resolve) => stream.write(payload, () => resolve()));
  stream.destroy();
  assert.deepEqual(await received.promise, payload);
  await until(() => pair.client.stats().openStreams === 0, "client released the stream after the peer's FIN");
});

Deno.test("a session without onStream refuses inbound streams with RST", async () => {
  await using pair = await sessionPair(noKeepAlive, noKeepAlive);
  const stream = pair.client.openStream();
  const failed = new Promise<Error>((resolve) => stream.on("error", resolve));
  stream.write("anyone there?");
  const error = await failed;
  assert.deepEqual((error as Error & { code?: string }).code, "ECONNRESET");
  assert.deepEqual(pair.server.stats().streamsRefused, 1);
  assert.deepEqual(pair.server.stats().openStreams, 0);
  await until(() => pair.client.stats().openStreams === 0, "client released the refused stream");
});

Deno.test("maxStreams bounds concurrently open streams", async () => {
  await using pair = await sessionPair({ ...noKeepAlive, maxStreams: 2 }, { ...noKeepAlive, onStream: echo });
  const streams = [pair.client.openStream(), pair.client.openStream()];
  assert.throws(() => pair.client.openStream(), /maxStreams/);
  for (const stream of streams) stream.end();
  await Promise.all(streams.map(readAll));
  await until(() => pair.client.stats().openStreams === 0, "streams released");
  const third = pair.client.openStream();
  third.on("error", () => {}); // the session closes before the echo ends
  third.end();
});

Deno.test("a stalled reader holds at most its window and does not slow another stream", async () => {
  const window = 256 * 1024;
  const accepted: YamuxStream[] = [];
  await using pair = await sessionPair(noKeepAlive, {
    ...noKeepAlive,
    onStream: (stream) => accepted.push(stream),
  });
  const stalled = pair.client.openStream();
  const stalledPayload = patternBytes(4 * 1024 * 1024, 7);
  const stalledWrite = writeAll(stalled, stalledPayload);
  await until(() => accepted.length === 1, "stalled stream accepted");
  const stalledRemote = accepted[0]; // nobody reads it for now

  let maxBuffered = 0;
  const sampler = setInterval(() => maxBuffered = Math.max(maxBuffered, stalledRemote.bufferedBytes), 1);
  const busy = pair.client.openStream();
  const busyPayload = patternBytes(16 * 1024 * 1024, 9);
  await until(() => accepted.length === 2, "busy stream accepted");
  const [busyReceived] = await Promise.all([readAll(accepted[1]), writeAll(busy, busyPayload)]);
  clearInterval(sampler);
  maxBuffered = Math.max(maxBuffered, stalledRemote.bufferedBytes);

  assert.deepEqual(await sha256Hex(busyReceived), await sha256Hex(busyPayload));
  assert.deepEqual(maxBuffered, window, "the stalled stream filled its window and not one byte more");
  assert.ok(stalled.bytesWritten <= window, "the stalled stream's sender is held by the window");

  // Once read, the stalled stream completes too: credit flows again.
  const [stalledReceived] = await Promise.all([readAll(stalledRemote), stalledWrite]);
  assert.deepEqual(await sha256Hex(stalledReceived), await sha256Hex(stalledPayload));
});

Deno.test("a larger streamWindow is advertised in SYN/ACK and honoured", async () => {
  const window = 1024 * 1024;
  const accepted: YamuxStream[] = [];
  await using pair = await sessionPair(
    { ...noKeepAlive, streamWindow: window },
    { ...noKeepAlive, streamWindow: window, onStream: (stream) => accepted.push(stream) },
  );
  const stream = pair.client.openStream();
  const payload = patternBytes(3 * 1024 * 1024, 3);
  const written = writeAll(stream, payload);
  await until(() => accepted.length === 1 && accepted[0].bufferedBytes === window, "window filled");
  assert.deepEqual(stream.bytesWritten, window);
  const [received] = await Promise.all([readAll(accepted[0]), written]);
  assert.deepEqual(received.length, payload.length);
});

Deno.test("stream.setTimeout emits 'timeout' after the stream was idle that long", async () => {
  const accepted: YamuxStream[] = [];
  await using pair = await sessionPair(noKeepAlive, {
    ...noKeepAlive,
    onStream: (stream) => accepted.push(stream.on("data", () => {})),
  });
  const stream = pair.client.openStream();
  stream.write("open");
  await until(() => accepted.length === 1, "accepted");
  const remote = accepted[0];
  // Generous margins: ticks 50 ms apart against a 1 s timeout, so a loaded machine cannot fake a gap.
  let firedAt: number | undefined;
  const timedOut = new Promise<void>((resolve) =>
    remote.setTimeout(1_000, () => {
      firedAt = performance.now();
      resolve();
    })
  );
  for (let i = 0; i < 30; i++) { // 1.5 s of activity: longer than the timeout, which keeps moving back
    await new Promise((resolve) => setTimeout(resolve, 50));
    stream.write("tick");
  }
  const lastActivity = performance.now();
  assert.equal(firedAt, undefined, "timeout fired while the stream was active");
  await timedOut;
  assert.ok(firedAt! >= lastActivity, "timeout fired before the stream went idle");
  remote.setTimeout(0);
  remote.end();
  stream.end();
});

Deno.test("ping measures a round trip", async () => {
  await using pair = await sessionPair(noKeepAlive, noKeepAlive);
  const rtt = await pair.client.ping();
  assert.ok(rtt > 0);
  assert.ok(await pair.server.ping() > 0);
  assert.deepEqual(pair.client.stats().lastPingRttMs, rtt);
});

Deno.test("keepalive pings keep an idle session up", async () => {
  const keepAlive = { keepAliveIntervalMs: 40, keepAliveTimeoutMs: 250 };
  await using pair = await sessionPair(keepAlive, keepAlive);
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert(!pair.client.isClosed && !pair.server.isClosed);
  assert(pair.client.stats().lastPingRttMs !== undefined);
});

Deno.test("keepalive timeout closes a session whose peer went silent", async () => {
  const { client, server } = await loopbackSocketPair();
  server.resume(); // a peer that reads but never answers (a half-open connection looks like this)
  const session = new YamuxSession(client, {
    role: "client",
    keepAliveIntervalMs: 40,
    keepAliveTimeoutMs: 150,
  });
  const started = performance.now();
  const reason = await session.closed;
  const elapsed = performance.now() - started;
  assert(reason?.message.includes("keepalive timeout"), reason?.message);
  assert(elapsed >= 140 && elapsed < 10_000, `closed after ${elapsed} ms`);
  assert(client.destroyed);
  await new Promise<void>((resolve) => server.end(resolve));
  server.destroy();
});

Deno.test("goAway stops new streams from the peer, existing streams carry on", async () => {
  const goAway = Promise.withResolvers<void>();
  const accepted: YamuxStream[] = [];
  await using pair = await sessionPair(
    { ...noKeepAlive, onStream: (stream) => accepted.push(stream) },
    { ...noKeepAlive, onStream: echo, onGoAway: goAway.resolve },
  );
  const open = pair.client.openStream();
  const reply = readAll(open);
  open.write("before");
  pair.client.goAway();
  await goAway.promise;
  assert.throws(() => pair.server.openStream(), /GoAway/);
  await writeAll(open, new TextEncoder().encode(" and after"));
  assert.deepEqual(new TextDecoder().decode(await reply), "before and after");
  assert.deepEqual(accepted.length, 0);
});

Deno.test("close() sends GoAway, ends the socket and closes open streams", async () => {
  const { client: clientSocket, server: serverSocket } = await loopbackSocketPair();
  const client = new YamuxSession(clientSocket, { role: "client", ...noKeepAlive });
  const server = new YamuxSession(serverSocket, { role: "server", ...noKeepAlive, onStream: echo });
  const stream = client.openStream();
  let ended = false;
  stream.on("end", () => ended = true);
  const streamClosed = new Promise((resolve) => stream.on("close", resolve));
  stream.resume();
  stream.write("x");
  await until(() => server.stats().openStreams === 1, "accepted");
  const clientSocketClosed = new Promise((resolve) => clientSocket.once("close", resolve));
  await client.close();
  await clientSocketClosed;
  await streamClosed;
  assert.ok(!ended, "a stream cut by close() must not look like a clean end");
  assert.deepEqual(await server.closed, undefined, "a GoAway before the end is a normal close");
  assert.ok(serverSocket.destroyed);
  assert.throws(() => client.openStream(), /session closed/);
  await assert.rejects(() => client.ping(), /session closed/);
});

Deno.test("close(reason) fails open streams with that reason", async () => {
  await using pair = await sessionPair(noKeepAlive, { ...noKeepAlive, onStream: echo });
  const stream = pair.client.openStream();
  const failed = new Promise<Error>((resolve) => stream.on("error", resolve));
  stream.write("x");
  await pair.client.close(new Error("certificate revoked"));
  const error = await failed;
  assert.match(error.message, /certificate revoked/);
  assert.deepEqual((error as Error & { code?: string }).code, "ECONNRESET");
});

Deno.test("a malformed frame is a protocol error: GoAway(1) and the socket is closed", async () => {
  const { client: rawPeer, server: serverSocket } = await loopbackSocketPair();
  const session = new YamuxSession(serverSocket, { role: "server", ...noKeepAlive });
  const fromSession = readAll(rawPeer);
  const bad = encodeHeader({ type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: 1 });
  bad[0] = 7; // unknown version
  rawPeer.write(bad);
  const reason = await session.closed;
  assert(reason?.message.includes("unsupported version 7"), reason?.message);
  const bytes = await fromSession;
  assert.deepEqual(bytes.subarray(0, HEADER_SIZE), goAwayFrame(GoAwayCode.ProtocolError));
  rawPeer.destroy();
});

Deno.test("a peer that overruns the receive window breaks the protocol", async () => {
  const { client: rawPeer, server: serverSocket } = await loopbackSocketPair();
  const session = new YamuxSession(serverSocket, {
    role: "server",
    ...noKeepAlive,
    onStream: (stream) => stream.on("error", () => {}),
  });
  const fromSession = readAll(rawPeer);
  const chunk = 64 * 1024;
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) { // 320 KiB against a 256 KiB window
    const flags = i === 0 ? Flag.SYN : 0;
    frames.push(
      encodeHeader({ type: FrameType.Data, flags, streamId: 1, length: chunk }),
      new Uint8Array(chunk),
    );
  }
  rawPeer.write(concat(frames));
  const reason = await session.closed;
  assert(reason?.message.includes("overran the receive window"), reason?.message);
  const bytes = await fromSession;
  // The session's ACK for stream 1 may come first; GoAway(1) must be in there.
  assert(findFrame(bytes, goAwayFrame(GoAwayCode.ProtocolError)), "GoAway(protocol error) sent");
  rawPeer.destroy();
});

Deno.test("a whole-window frame read in flowing mode is credited back (no stall on large peer frames)", async () => {
  const { client: rawPeer, server: serverSocket } = await loopbackSocketPair();
  const received = Promise.withResolvers<number>();
  const session = new YamuxSession(serverSocket, {
    role: "server",
    ...noKeepAlive,
    onStream: (stream) => {
      let total = 0;
      stream.on("error", () => {}); // the raw peer just drops the connection at the end
      stream.on("data", (chunk: Uint8Array) => {
        total += chunk.length;
        if (total === 256 * 1024) received.resolve(total);
      });
    },
  });
  const fromSession: Uint8Array[] = [];
  rawPeer.on("data", (chunk: Uint8Array) => fromSession.push(chunk));
  // hashicorp/yamux sends as much as the window allows in one frame.
  const header = encodeHeader({ type: FrameType.Data, flags: Flag.SYN, streamId: 1, length: 256 * 1024 });
  rawPeer.write(concat([header, patternBytes(256 * 1024)]));
  await received.promise;
  const credit = encodeHeader({ type: FrameType.WindowUpdate, flags: 0, streamId: 1, length: 256 * 1024 });
  await until(() => findFrame(concat(fromSession), credit), "a window update for the whole window");
  rawPeer.destroy();
  await session.closed;
});

function goAwayFrame(code: number): Uint8Array {
  return encodeHeader({ type: FrameType.GoAway, flags: 0, streamId: 0, length: code });
}

function findFrame(bytes: Uint8Array, frame: Uint8Array): boolean {
  for (let at = 0; at + HEADER_SIZE <= bytes.length; at += HEADER_SIZE) {
    if (frame.every((byte, i) => bytes[at + i] === byte)) return true;
  }
  return false;
}
