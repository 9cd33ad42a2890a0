import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectWebSocket } from "../clusters/websocket.ts";
import { connectTcp, type RawPeer, startRawServer } from "../clusters/test_websocket_server.ts";
import { type ExecOutput, ExecSession } from "./exec_session.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const channel = (n: number, data: Uint8Array | string) =>
  Uint8Array.of(n, ...(typeof data === "string" ? encoder.encode(data) : data));

/** A fake kubelet (v5 unless told) on a raw WebSocket server, and an ExecSession connected to it. */
async function withExec(
  kubelet: (peer: RawPeer) => void | Promise<void>,
  run: (session: ExecSession) => Promise<void>,
  options: { tty?: boolean; protocol?: string } = {},
): Promise<void> {
  const server = await startRawServer((peer) => {
    peer.accept(options.protocol ?? "v5.channel.k8s.io");
    return kubelet(peer);
  });
  try {
    const ws = await connectWebSocket(await connectTcp(server.port), {
      path: "/exec",
      host: "test",
      protocols: [options.protocol ?? "v5.channel.k8s.io"],
    });
    const session = new ExecSession({
      id: "s-1",
      user: "alice",
      cluster: "alpha",
      ws,
      action: "exec in pod ns/pod",
      tty: options.tty ?? false,
    });
    try {
      await run(session);
    } finally {
      session.end(new ConnectError("test over", Code.Canceled));
      await ws.closed;
    }
  } finally {
    await server.close();
  }
}

async function collect(session: ExecSession): Promise<ExecOutput[]> {
  const outputs: ExecOutput[] = [];
  for await (const output of session.output()) outputs.push(output);
  return outputs;
}

Deno.test("output: stdout and stderr in order and in chunks of at most 32 KiB, then the exit", async () => {
  const big = new Uint8Array(40 * 1024).fill(0x61);
  await withExec((peer) => {
    peer.send(0x2, Uint8Array.of(1)); // the apiserver's empty first frame
    peer.send(0x2, channel(1, big));
    peer.send(0x2, channel(2, "oops\n"));
    peer.send(
      0x2,
      channel(
        3,
        JSON.stringify({
          status: "Failure",
          reason: "NonZeroExitCode",
          message: "command terminated with non-zero exit code",
          details: { causes: [{ reason: "ExitCode", message: "42" }] },
        }),
      ),
    );
    peer.send(0x8, Uint8Array.of(0x03, 0xe8));
  }, async (session) => {
    const outputs = await collect(session);
    assert.deepEqual(outputs.map((o) => [o.kind, o.kind === "exit" ? o.outcome.code : o.data.length]), [
      ["stdout", 32 * 1024],
      ["stdout", 8 * 1024],
      ["stderr", 5],
      ["exit", 42],
    ]);
    const exit = outputs.at(-1);
    assert.ok(exit?.kind === "exit" && exit.outcome.exited && exit.outcome.reason === "NonZeroExitCode");
  });
});

Deno.test("input: writes reach stdin in order, in messages of at most 32 KiB, and resolve once sent", async () => {
  const received: Uint8Array[] = [];
  const done = Promise.withResolvers<void>();
  await withExec(async (peer) => {
    let total = 0;
    while (total < 70_000 + 3) {
      const frame = await peer.nextMessage();
      if (!frame) break;
      assert.equal(frame.payload[0], 0, "stdin channel");
      assert.ok(frame.payload.length - 1 <= 32 * 1024);
      received.push(frame.payload.subarray(1));
      total += frame.payload.length - 1;
    }
    done.resolve();
  }, async (session) => {
    const first = new Uint8Array(70_000).map((_, i) => i & 0xff);
    await Promise.all([session.write(first), session.write(encoder.encode("end"))]);
    await done.promise;
    const all = new Uint8Array(received.reduce((n, r) => n + r.length, 0));
    received.reduce((offset, part) => (all.set(part, offset), offset + part.length), 0);
    assert.deepEqual(all.subarray(0, 70_000), first);
    assert.equal(decoder.decode(all.subarray(70_000)), "end");
  });
});

Deno.test("resize: a terminal's sizes go on channel 4 as JSON; without a terminal it is refused", async () => {
  const sizes: unknown[] = [];
  const seen = Promise.withResolvers<void>();
  await withExec(async (peer) => {
    for (
      let frame = await peer.nextMessage();
      frame && frame.opcode !== 0x8;
      frame = await peer.nextMessage()
    ) {
      assert.equal(frame.payload[0], 4);
      sizes.push(JSON.parse(decoder.decode(frame.payload.subarray(1))));
      if (sizes.length === 2) seen.resolve();
    }
  }, async (session) => {
    session.resize({ rows: 24, cols: 80 });
    session.resize({ rows: 50, cols: 132 });
    await seen.promise;
    assert.deepEqual(sizes, [{ Width: 80, Height: 24 }, { Width: 132, Height: 50 }]);
  }, { tty: true });

  await withExec(() => {}, (session) => {
    assert.throws(
      () => session.resize({ rows: 1, cols: 1 }),
      (e: ConnectError) => e.code === Code.FailedPrecondition,
    );
    return Promise.resolve();
  });
  await withExec(() => {}, (session) => {
    assert.throws(
      () => session.resize({ rows: 1, cols: 1 }),
      (e: ConnectError) => e.code === Code.Unimplemented,
    );
    return Promise.resolve();
  }, { tty: true, protocol: "v2.channel.k8s.io" });
});

Deno.test("ending a session fails its stream with the reason, and later writes are not found", async () => {
  await withExec((peer) => {
    peer.send(0x2, channel(1, "prompt$ "));
  }, async (session) => {
    const outputs = session.output();
    assert.equal((await outputs.next()).value?.kind, "stdout");
    const pending = outputs.next();
    const idle = new ConnectError("idle for 30 min", Code.DeadlineExceeded);
    session.end(idle);
    await assert.rejects(pending, (e) => e === idle);
    await assert.rejects(session.write(encoder.encode("x")), (e: ConnectError) => e.code === Code.NotFound);
  });
});

Deno.test("a connection lost mid-session fails the stream with unavailable", async () => {
  await withExec((peer) => {
    peer.send(0x2, channel(1, "partial"));
    setTimeout(() => peer.socket.destroy(), 20);
  }, async (session) => {
    await assert.rejects(collect(session), (e: ConnectError) => e.code === Code.Unavailable);
  });
});

Deno.test("an abandoned output closes the WebSocket politely", async () => {
  const closeFrame = Promise.withResolvers<number>();
  await withExec(async (peer) => {
    peer.send(0x2, channel(1, "hello"));
    const frame = await peer.nextMessage();
    closeFrame.resolve(frame?.opcode ?? -1);
    peer.send(0x8, Uint8Array.of(0x03, 0xe8));
  }, async (session) => {
    for await (const output of session.output()) {
      assert.equal(output.kind, "stdout");
      break;
    }
    assert.equal(await closeFrame.promise, 0x8);
  });
});
