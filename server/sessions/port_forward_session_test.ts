import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectWebSocket } from "../clusters/websocket.ts";
import { connectTcp, type RawPeer, startRawServer } from "../clusters/test_websocket_server.ts";
import { PortForwardSession } from "./port_forward_session.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PORT_BYTES = [0x90, 0x1f]; // 8080, little-endian

async function withForward(
  kubelet: (peer: RawPeer) => void | Promise<void>,
  run: (session: PortForwardSession) => Promise<void>,
): Promise<void> {
  const server = await startRawServer((peer) => {
    peer.accept("v4.channel.k8s.io");
    return kubelet(peer);
  });
  try {
    const ws = await connectWebSocket(await connectTcp(server.port), {
      path: "/portforward?ports=8080",
      host: "test",
      protocols: ["v4.channel.k8s.io"],
    });
    const session = new PortForwardSession({
      id: "p-1",
      user: "alice",
      cluster: "alpha",
      ws,
      action: "port-forward to port 8080 of pod ns/pod",
      port: 8080,
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

async function drain(session: PortForwardSession): Promise<{ text: string; error?: ConnectError }> {
  let text = "";
  try {
    for await (const data of session.output()) text += decoder.decode(data);
    return { text };
  } catch (error) {
    return { text, error: ConnectError.from(error) };
  }
}

Deno.test("data arrives without the port prefix, even when the prefix comes split", async () => {
  await withForward((peer) => {
    peer.send(0x2, Uint8Array.of(0, PORT_BYTES[0]));
    peer.send(0x2, Uint8Array.of(1, ...PORT_BYTES));
    peer.send(0x2, Uint8Array.of(0, PORT_BYTES[1], ...encoder.encode("HTTP/1.1 200 OK\r\n")));
    peer.send(0x2, Uint8Array.of(0, ...encoder.encode("\r\n")));
    peer.send(0x8, Uint8Array.of(0x03, 0xe8));
  }, async (session) => {
    assert.deepEqual(await drain(session), { text: "HTTP/1.1 200 OK\r\n\r\n" });
  });
});

Deno.test("the remote end closing ends the stream at once, with nothing written by the caller", async () => {
  await withForward((peer) => {
    peer.send(0x2, Uint8Array.of(0, ...PORT_BYTES));
    peer.send(0x2, Uint8Array.of(1, ...PORT_BYTES));
    peer.send(0x2, Uint8Array.of(0, ...encoder.encode("bye")));
    peer.send(0x8, Uint8Array.of(0x03, 0xe8));
  }, async (session) => {
    const started = performance.now();
    assert.deepEqual(await drain(session), { text: "bye" });
    // Nothing here times out by itself, so a stream that did not end would hang; the bound is loose on
    // purpose (a loaded machine) and still says "not after some idle timeout".
    assert.ok(performance.now() - started < 5_000);
  });
});

Deno.test("the error channel's message ends the stream as unavailable, addresses scrubbed", async () => {
  await withForward((peer) => {
    peer.send(0x2, Uint8Array.of(0, ...PORT_BYTES));
    peer.send(0x2, Uint8Array.of(1, ...PORT_BYTES));
    peer.send(0x2, Uint8Array.of(0, ...encoder.encode("some data first")));
    const message =
      "error forwarding port 8080 to pod web, uid : failed to dial 10.1.2.3:8080: connection refused";
    peer.send(0x2, Uint8Array.of(1, ...encoder.encode(message)));
    peer.send(0x8, Uint8Array.of(0x03, 0xe8));
  }, async (session) => {
    const { text, error } = await drain(session);
    assert.equal(text, "some data first");
    assert.equal(error?.code, Code.Unavailable);
    assert.match(error!.rawMessage, /error forwarding port 8080 to pod web.*connection refused/);
    assert.doesNotMatch(error!.rawMessage, /10\.1\.2\.3/);
  });
});

Deno.test("writes go to the data channel (0) without a prefix", async () => {
  const got = Promise.withResolvers<Uint8Array>();
  await withForward(async (peer) => {
    const frame = await peer.nextMessage();
    got.resolve(frame!.payload);
  }, async (session) => {
    await session.write(encoder.encode("GET / HTTP/1.1\r\n\r\n"));
    const payload = await got.promise;
    assert.equal(payload[0], 0);
    assert.equal(decoder.decode(payload.subarray(1)), "GET / HTTP/1.1\r\n\r\n");
  });
});

Deno.test("a prefix naming another port is a protocol failure (internal)", async () => {
  await withForward(async (peer) => {
    peer.send(0x2, Uint8Array.of(0, 0x50, 0x00));
    await peer.nextMessage(); // the session's close frame
    peer.socket.end();
  }, async (session) => {
    const { error } = await drain(session);
    assert.equal(error?.code, Code.Internal);
  });
});
